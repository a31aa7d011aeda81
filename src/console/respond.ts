// What every console route answers with, and how it reads a form: shared by routes.ts and
// the pages that carry their own routes (pages/*.ts).
//
// A form body is read once, by the route's body-limit middleware (`formLimit`), before the
// handler runs: a body that cannot be read (a broken multipart body, a multipart content
// type without its boundary, bytes that are not the form they claim to be) is then a 400
// page for every console POST alike, also for routes whose handler never looks at the
// body, and nothing is done. The handler gets the same parsed body from Hono's cache.
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { html } from "hono/html";
import type { AppEnv } from "../app-env";
import { type Html, type Section, SIGNED_IN_AS_SLOT } from "./pages/layout";
import { messagePage } from "./pages/message";

export const KiB = 1024;
export const FORM_LIMIT_BYTES = 64 * KiB;

/** A page, with the signed-in operator's name filled into the layout's slot. */
export async function render(c: Context<AppEnv>, page: Html, status = 200): Promise<Response> {
  const actor = c.get("actor");
  const signedInAs =
    actor?.kind === "operator"
      ? await html`<span class="signed-in-as">Signed in as <strong>${actor.name}</strong></span>`
      : "";
  return c.html(
    String(await page).replace(String(SIGNED_IN_AS_SLOT), String(signedInAs)),
    status as 200,
  );
}

export function renderMessage(
  c: Context<AppEnv>,
  status: number,
  content: { title: string; message: string; link?: { href: string; text: string } },
  section: Section | "none" | null = "none",
) {
  return render(c, messagePage({ ...content, section }), status);
}

/** A form body the request claims to carry but that cannot be read. */
export class UnreadableFormError extends Error {
  constructor(cause: unknown) {
    super("the form body cannot be read", { cause });
    this.name = "UnreadableFormError";
  }
}

export type FormBody = Record<string, string | File | (string | File)[]>;

/** The request's form fields (every value of a repeated name); 400 page when unreadable. */
export async function formBody(c: Context<AppEnv>): Promise<FormBody> {
  try {
    return (await c.req.parseBody({ all: true })) as FormBody;
  } catch (error) {
    throw new UnreadableFormError(error);
  }
}

/** The first value of a field as text ("" when absent or a file). */
export function field(body: FormBody, name: string): string {
  const value = body[name];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === "string" ? first : "";
}

export function queryCursor(c: Context<AppEnv>): string | undefined {
  const cursor = c.req.query("cursor");
  return cursor === undefined || cursor === "" ? undefined : cursor;
}

/**
 * A POST route's body limit, then its form read: too large is a 413 page before anything
 * is read, unreadable a 400 page (see the top of this file).
 */
export function formLimit(maxBytes: number): MiddlewareHandler<AppEnv> {
  const limiter = bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      renderMessage(c as Context<AppEnv>, 413, {
        title: "Too large",
        message:
          maxBytes > FORM_LIMIT_BYTES
            ? "The form is larger than 5 MiB with its file: split the drivers into several campaigns."
            : "The form is larger than this page takes.",
        link: { href: "/console", text: "Back to the campaigns" },
      }),
  });
  return (c, next) =>
    limiter(c, async () => {
      await formBody(c);
      await next();
    });
}

/** The 400 page of an unreadable form (the console's error handler renders it). */
export function unreadableFormPage(c: Context<AppEnv>) {
  return renderMessage(c, 400, {
    title: "The form could not be read",
    message:
      "What this browser sent is not a form this page can read, so nothing was done. Open the page again and send the form from there.",
    link: { href: "/console", text: "Campaigns" },
  });
}
