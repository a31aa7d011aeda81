// /console/do-not-call: the list, newest first, paged, searchable by part of a number; add
// a number; remove one. Removing asks first: each entry's Remove button (its accessible
// name holds the number: "Remove +15551230042") leads to a page that says what the entry
// is (a driver's own request on a call says so, with the call) and asks why the number
// may be called again; the reason is required, and kept in the audit trail with the
// removal (do_not_call.removed). The page's routes live here, beside it.
import { type Context, Hono } from "hono";
import { html } from "hono/html";
import { z } from "zod";
import type { AppEnv } from "../../app-env";
import { auditStampOf } from "../../audit/record";
import { E164 } from "../../calls/schemas";
import { databaseOf } from "../../db/context";
import {
  addToDoNotCall,
  type DoNotCallEntry,
  getDoNotCallEntry,
  listDoNotCall,
  removeFromDoNotCall,
} from "../../do-not-call/repository";
import { maskPhoneNumber } from "../../http/log";
import { storableText } from "../../http/schemas";
import { FORM_LIMIT_BYTES, field, formBody, formLimit, queryCursor, render } from "../respond";
import { type Html, layout, pageTitle } from "./layout";
import { formatUtc, tableBox } from "./parts";

export const DO_NOT_CALL_PAGE_SIZE = 50;
/** The reason an opt-out is stored with (calls/repository.ts adds it). */
const OPT_OUT_REASON = "opt_out";

export interface DoNotCallPageProps {
  entries: DoNotCallEntry[];
  nextCursor: string | null;
  isFirstPage: boolean;
  /** The digits searched for ("" for the whole list). */
  search: string;
  values?: { phone_number: string; reason: string };
  errors?: { phone_number?: string; reason?: string };
  notice?: string;
}

const LABELS = { phone_number: "Phone number", reason: "Reason" } as const;
const HINTS = {
  phone_number: "E.164, such as +15551230042",
  reason: "Optional, up to 500 characters",
};

/** What an entry's reason means, in words: an opt-out is the driver's own request. */
function reasonText(entry: DoNotCallEntry): Html | string {
  if (entry.reason === OPT_OUT_REASON && entry.call_sid) {
    return html`The driver asked on a call not to be called again <span class="hint">(${OPT_OUT_REASON})</span>`;
  }
  return entry.reason ?? "—";
}

function listUrl(query: { search?: string; cursor?: string }): string {
  const params = new URLSearchParams();
  if (query.search) params.set("q", query.search);
  if (query.cursor) params.set("cursor", query.cursor);
  const search = params.toString();
  return `/console/do-not-call${search ? `?${search}` : ""}`;
}

export function doNotCallPage(props: DoNotCallPageProps): Html {
  const errors = props.errors ?? {};
  const values = props.values ?? { phone_number: "", reason: "" };
  const hasErrors = Boolean(errors.phone_number || errors.reason);
  const names = ["phone_number", "reason"] as const;

  const field = (name: (typeof names)[number], extra: Html | string) => {
    const error = errors[name];
    return html`<div class="field">
      <label for="${name}">${LABELS[name]}</label>
      <span class="hint" id="${name}-hint">${HINTS[name]}</span>
      <input type="text" id="${name}" name="${name}" value="${values[name]}" autocomplete="off"${extra} aria-describedby="${name}-hint${error ? ` ${name}-error` : ""}"${error ? html` aria-invalid="true"` : ""}>
      ${error ? html`<span class="error-text" id="${name}-error">${LABELS[name]}: ${error}</span>` : ""}
    </div>`;
  };

  const rows = props.entries.map(
    (entry) => html`<tr>
      <td class="nowrap mono">${entry.phone_number}</td>
      <td><form method="get" action="/console/do-not-call/remove"><input type="hidden" name="phone_number" value="${entry.phone_number}"><button type="submit" class="danger">Remove<span class="visually-hidden"> ${entry.phone_number}</span></button></form></td>
      <td class="text">${reasonText(entry)}</td>
      <td class="nowrap">${formatUtc(entry.created_at)}</td>
      <td class="nowrap">${entry.call_sid ? html`<a href="/console/calls/${encodeURIComponent(entry.call_sid)}">${entry.call_sid}</a>` : "—"}</td>
    </tr>`,
  );
  const caption = props.search
    ? `Numbers containing ${props.search}, newest first`
    : "Numbers on the do-not-call list, newest first";
  const list =
    props.entries.length === 0
      ? html`<p id="list-empty">${
          props.search
            ? `No number on the list contains ${props.search}.`
            : props.isFirstPage
              ? "The list is empty."
              : "No older entries."
        }</p>`
      : tableBox(
          "do-not-call-caption",
          html`<table>
            <caption id="do-not-call-caption">${caption}</caption>
            <thead><tr><th scope="col">Phone number</th><th scope="col"><span class="visually-hidden">Remove</span></th><th scope="col">Reason</th><th scope="col">Added</th><th scope="col">From call</th></tr></thead>
            <tbody>${rows}</tbody>
          </table>`,
        );

  return layout({
    title: pageTitle(hasErrors ? "Fix the form: Do-not-call list" : "Do-not-call list"),
    section: "do-not-call",
    body: html`<h1>Do-not-call list</h1>
      <p>Numbers here are never dialed: checked when each call is about to be placed, so a number
        added during a campaign is not called again. Drivers who ask on a call not to be called are
        added automatically (reason opt_out).</p>
      <p role="status">${props.notice ? html`<span class="notice">${props.notice}</span>` : ""}</p>
      ${
        hasErrors
          ? html`<div class="alert" role="alert"><h2>The number was not added</h2><ul>${names
              .filter((name) => errors[name])
              .map(
                (name) => html`<li><a href="#${name}">${LABELS[name]}</a>: ${errors[name]}</li>`,
              )}</ul></div>`
          : ""
      }
      <form method="post" action="/console/do-not-call" class="panel form">
        <h2>Add a number</h2>
        ${field("phone_number", html` inputmode="tel"`)}
        ${field("reason", html` maxlength="500"`)}
        <button type="submit" class="primary">Add</button>
      </form>
      <h2>On the list</h2>
      <form method="get" action="/console/do-not-call" class="search" role="search">
        <div class="field">
          <label for="search">Search by number</label>
          <span class="hint" id="search-hint">Any part of the number: 5551230 finds +15551230042</span>
          <input type="search" id="search" name="q" value="${props.search}" inputmode="numeric" autocomplete="off" aria-describedby="search-hint">
        </div>
        <button type="submit">Search</button>
        ${props.search ? html`<a href="/console/do-not-call">Show the whole list</a>` : ""}
      </form>
      ${list}
      <nav class="pager" aria-label="List pages">
        ${props.isFirstPage ? "" : html`<a href="${listUrl({ search: props.search })}">Newest entries</a>`}
        ${props.nextCursor ? html`<a href="${listUrl({ search: props.search, cursor: props.nextCursor })}">Older entries</a>` : ""}
      </nav>`,
  });
}

export interface RemoveNumberPageProps {
  entry: DoNotCallEntry;
  reason: string;
  error?: string;
}

/** "Remove +15551230042 from the do-not-call list?": what it is, why, and a required reason. */
export function removeNumberPage(props: RemoveNumberPageProps): Html {
  const { entry } = props;
  const optedOut = entry.reason === OPT_OUT_REASON;
  const describedBy = `removal-reason-hint${props.error ? " removal-reason-error" : ""}`;
  return layout({
    title: pageTitle(
      `${props.error ? "Fix the form: " : ""}Remove ${entry.phone_number} from the do-not-call list?`,
    ),
    section: "do-not-call",
    body: html`<p><a href="/console/do-not-call">Do-not-call list</a></p>
      <h1>Remove <span class="mono">${entry.phone_number}</span> from the do-not-call list?</h1>
      ${
        optedOut
          ? html`<div class="alert" id="opt-out-warning"><h2>The driver asked not to be called</h2>
              <p>This number is on the list because the driver said so on a call${entry.call_sid ? html` (<a href="/console/calls/${encodeURIComponent(entry.call_sid)}">${entry.call_sid}</a>)` : ""}. Remove it only if the driver has since asked to be called again.</p></div>`
          : ""
      }
      <dl class="meta panel">
        <dt>Reason it was added</dt><dd>${reasonText(entry)}</dd>
        <dt>Added</dt><dd>${formatUtc(entry.created_at)}</dd>
        <dt>From call</dt><dd>${entry.call_sid ? html`<a href="/console/calls/${encodeURIComponent(entry.call_sid)}">${entry.call_sid}</a>` : "—"}</dd>
      </dl>
      <p>Once removed, campaigns call this number again, from their next dial on.</p>
      ${props.error ? html`<div class="alert" role="alert"><h2>The number was not removed</h2><ul><li><a href="#removal-reason">Reason</a>: ${props.error}</li></ul></div>` : ""}
      <form method="post" action="/console/do-not-call/remove" class="panel form">
        <input type="hidden" name="phone_number" value="${entry.phone_number}">
        <div class="field">
          <label for="removal-reason">Reason</label>
          <span class="hint" id="removal-reason-hint">Required: why this number may be called again, up to 500 characters</span>
          <input type="text" id="removal-reason" name="reason" value="${props.reason}" required maxlength="500" autocomplete="off" aria-describedby="${describedBy}"${props.error ? html` aria-invalid="true"` : ""}>
          ${props.error ? html`<span class="error-text" id="removal-reason-error">Reason: ${props.error}</span>` : ""}
        </div>
        <div class="actions">
          <button type="submit" class="danger-strong">Remove<span class="visually-hidden"> ${entry.phone_number}</span></button>
          <a href="/console/do-not-call">Keep it on the list</a>
        </div>
      </form>`,
  });
}

// ---------------------------------------------------------------------------------------
// Routes

const addNumberSchema = z.object({
  phone_number: z.string().regex(E164, "must be an E.164 phone number such as +15551230042"),
  reason: storableText(1, 500).optional(),
});

const removalReasonSchema = storableText(1, 500);

/** The digits of a search ("(555) 123" -> "555123"), at most 15 (E.164's most). */
function searchDigits(query: string | undefined): string {
  return (query ?? "").replace(/\D/g, "").slice(0, 15);
}

async function renderList(
  c: Context<AppEnv>,
  status: number,
  extra: Partial<DoNotCallPageProps> = {},
) {
  const cursor = queryCursor(c);
  const search = searchDigits(c.req.query("q"));
  const page = await listDoNotCall(databaseOf(c), {
    limit: DO_NOT_CALL_PAGE_SIZE,
    cursor,
    digits: search,
  });
  return render(
    c,
    doNotCallPage({
      entries: page.entries,
      nextCursor: page.nextCursor,
      isFirstPage: cursor === undefined,
      search,
      ...extra,
    }),
    status,
  );
}

export const doNotCallRoutes = new Hono<AppEnv>();

doNotCallRoutes.get("/do-not-call", (c) => {
  const added = c.req.query("added");
  const removed = c.req.query("removed");
  const notice =
    added && E164.test(added)
      ? `Added ${added} to the list.`
      : removed && E164.test(removed)
        ? `Removed ${removed} from the list.`
        : undefined;
  return renderList(c, 200, { notice });
});

doNotCallRoutes.post("/do-not-call", formLimit(FORM_LIMIT_BYTES), async (c) => {
  const body = await formBody(c);
  const values = {
    phone_number: field(body, "phone_number").trim(),
    reason: field(body, "reason").trim(),
  };
  const parsed = addNumberSchema.safeParse({
    phone_number: values.phone_number,
    reason: values.reason === "" ? undefined : values.reason,
  });
  if (!parsed.success) {
    const errors: { phone_number?: string; reason?: string } = {};
    for (const issue of parsed.error.issues) {
      const name = issue.path[0] === "reason" ? "reason" : "phone_number";
      errors[name] ??= issue.message;
    }
    return renderList(c, 422, { values, errors });
  }
  await addToDoNotCall(
    databaseOf(c),
    { phoneNumber: parsed.data.phone_number, reason: parsed.data.reason ?? null },
    auditStampOf(c),
  );
  c.get("log").info("do_not_call_added", {
    to: maskPhoneNumber(parsed.data.phone_number),
    from: "console",
  });
  return c.redirect(
    `/console/do-not-call?added=${encodeURIComponent(parsed.data.phone_number)}`,
    303,
  );
});

/** The confirmation page, or back to the list when the number is not on it (any more). */
async function confirmRemoval(
  c: Context<AppEnv>,
  phoneNumber: string,
  form: { status: number; reason: string; error?: string },
) {
  const entry = E164.test(phoneNumber) ? await getDoNotCallEntry(databaseOf(c), phoneNumber) : null;
  if (!entry) return c.redirect("/console/do-not-call", 303);
  return render(
    c,
    removeNumberPage({ entry, reason: form.reason, error: form.error }),
    form.status,
  );
}

doNotCallRoutes.get("/do-not-call/remove", (c) =>
  confirmRemoval(c, (c.req.query("phone_number") ?? "").trim(), { status: 200, reason: "" }),
);

doNotCallRoutes.post("/do-not-call/remove", formLimit(FORM_LIMIT_BYTES), async (c) => {
  const body = await formBody(c);
  const phoneNumber = field(body, "phone_number").trim();
  const reason = field(body, "reason").trim();
  if (!E164.test(phoneNumber)) return c.redirect("/console/do-not-call", 303);
  const checked = removalReasonSchema.safeParse(reason);
  if (!checked.success) {
    return confirmRemoval(c, phoneNumber, {
      status: 422,
      reason,
      error:
        reason === ""
          ? "say why this number may be called again"
          : reason.length > 500
            ? "is longer than 500 characters"
            : "must be plain text",
    });
  }
  // The reason goes into the audit trail's do_not_call.removed, in the removal's statement.
  const removed = await removeFromDoNotCall(
    databaseOf(c),
    { phoneNumber, reason: checked.data },
    auditStampOf(c),
  );
  c.get("log").info("do_not_call_removed", {
    to: maskPhoneNumber(phoneNumber),
    removed,
    from: "console",
  });
  return c.redirect(`/console/do-not-call?removed=${encodeURIComponent(phoneNumber)}`, 303);
});
