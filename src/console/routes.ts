// The operator console under /console: server-rendered HTML for people. Thin on purpose:
// every read and write is one of the functions behind the JSON API (campaigns/,
// calls/read.ts, do-not-call/), and a campaign starts through startCampaign, the code of
// POST /campaigns, after the same schema has checked it. Plain Hono routes, not OpenAPI
// ones: the console is not part of the API document.
//
// Every response: the security headers (CSP `default-src 'self'` with no inline scripts or
// styles, frame-ancestors 'none', nosniff, Referrer-Policy same-origin) and
// `Cache-Control: no-store` (pages show live state and a signed-in view; the two assets are
// a few KiB, so they are not worth a cache exception). Every POST: HTML forms only, from
// this origin (hono/csrf: Origin or Sec-Fetch-Site), each with its own body limit. Every
// page but sign-in and the assets needs a session (session.ts).

import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { AUDIT_ACTIONS, auditStampOf } from "../audit/record";
import { listAuditEvents } from "../audit/repository";
import { getCallWithTranscript } from "../calls/read";
import { E164 } from "../calls/schemas";
import { getCampaignBreakdown } from "../campaigns/breakdown";
import {
  cancelCampaign,
  getCampaign,
  isCampaignId,
  listCampaigns,
  listTargets,
} from "../campaigns/repository";
import { campaignResultsCsv } from "../campaigns/results-csv";
import { resultsCsvResponse, startCampaign } from "../campaigns/routes";
import type { Database } from "../db/client";
import { databaseOf } from "../db/context";
import { TARGET_STATUSES, type TargetStatus } from "../db/schema";
import { countLiveCalls } from "../dispatch/live-calls";
import { addToDoNotCall, listDoNotCall, removeFromDoNotCall } from "../do-not-call/repository";
import { AppError } from "../http/errors";
import { runIdempotently, type StoredAnswer } from "../http/idempotency";
import { describeError, maskPhoneNumber } from "../http/log";
import { storableText } from "../http/schemas";
import { listOperators, operatorActor } from "../operators/repository";
import { CONSOLE_SCRIPT } from "./assets/script";
import { CONSOLE_STYLESHEET } from "./assets/stylesheet";
import {
  type CampaignFormValues,
  campaignRequestFrom,
  defaultFormValues,
  formValuesFrom,
  idempotencyKeyOf,
} from "./campaign-form";
import {
  DRIVERS_CSV_TEMPLATE,
  type DriversCsv,
  firstProblems,
  MAX_CSV_BYTES,
  parseDriversCsv,
} from "./drivers-csv";
import { ACTIVITY_PAGE_SIZE, activityPage } from "./pages/activity";
import { callPage } from "./pages/call";
import { campaignPage, cancelCampaignPage, TARGETS_PAGE_SIZE } from "./pages/campaign";
import { CAMPAIGNS_PAGE_SIZE, campaignsPage } from "./pages/campaigns";
import { DO_NOT_CALL_PAGE_SIZE, type DoNotCallPageProps, doNotCallPage } from "./pages/do-not-call";
import { eraseDriverRoutes } from "./pages/erase-driver";
import { ASSET_PATHS, type Html, type Section } from "./pages/layout";
import { messagePage } from "./pages/message";
import { type NewCampaignProps, newCampaignPage } from "./pages/new-campaign";
import { signInPage } from "./pages/sign-in";
import { accessConfigured, currentOperator, signIn, signOut } from "./session";

/** How often a running campaign's page brings itself up to date. */
const REFRESH_SECONDS = 3;
/** The idempotency scope of the campaign form (POST /campaigns has its own). */
const CAMPAIGN_FORM_SCOPE = "console campaign form";
/** How long a resent form waits for the first one to finish before saying so. */
const IN_USE_WAIT_MS = 25_000;

const KiB = 1024;
const FORM_LIMIT_BYTES = 64 * KiB;
/** The CSV (5 MiB) and the other fields with the multipart framing around them. */
const CAMPAIGN_FORM_LIMIT_BYTES = MAX_CSV_BYTES + 64 * KiB;

async function render(c: Context<AppEnv>, page: Html, status = 200): Promise<Response> {
  return c.html(await page, status as 200);
}

function renderMessage(
  c: Context<AppEnv>,
  status: number,
  content: { title: string; message: string; link?: { href: string; text: string } },
  section: Section | "none" | null = "none",
) {
  return render(c, messagePage({ ...content, section }), status);
}

/**
 * The CSP: this origin only; no inline script or style (the one script and the stylesheet
 * are files under /console/assets/, bar widths are SVG attributes); no framing.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join("; ");

/**
 * A fixed set of headers on every console response. Written out rather than with
 * hono/secure-headers, whose options (nonces, permissions policy, reporting) the console
 * does not use and which cost 1.2 KiB gzipped of a bundle at its 350 KiB budget.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": CONSOLE_CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "same-origin",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Strict-Transport-Security": "max-age=15552000; includeSubDomains",
  // Pages show live state and a signed-in view; the two assets are a few KiB.
  "Cache-Control": "no-store",
};

const securityHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
};

const FORM_CONTENT_TYPE = /^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i;
const sameOriginForms = csrf();

/**
 * POSTs must be this origin's HTML forms. hono/csrf checks form submissions (what another
 * site can make a browser send without asking); anything else is refused here before it
 * is read, since no console page sends it.
 */
const formsFromThisOrigin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== "POST") return next();
  if (!FORM_CONTENT_TYPE.test(c.req.header("content-type") ?? "")) {
    throw new HTTPException(403, { message: "not a console form" });
  }
  return sameOriginForms(c, next);
};

function limit(maxBytes: number): MiddlewareHandler<AppEnv> {
  return bodyLimit({
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
}

const PUBLIC_PATHS = new Set(["/console/sign-in", "/console/sign-out"]);

/**
 * Every page but sign-in and the assets needs an operator (session.ts). Without one: the
 * sign-in page, remembering the page asked for (GETs only: a form is not replayed).
 */
const requireOperator: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (PUBLIC_PATHS.has(c.req.path) || c.req.path.startsWith("/console/assets/")) return next();
  const current = await currentOperator(c);
  if (current.ok) {
    c.set("actor", operatorActor(current.operator));
    return next();
  }
  if (current.reason === "access_refused") return accessRefused(c);
  const next_ = c.req.method === "GET" ? safeNextPath(new URL(c.req.url)) : "/console";
  const query = next_ === "/console" ? "" : `?next=${encodeURIComponent(next_)}`;
  return c.redirect(`/console/sign-in${query}`, 303);
};

function accessRefused(c: Context<AppEnv>) {
  return renderMessage(c, 403, {
    title: "Not signed in",
    message:
      "This console is behind Cloudflare Access, and this request did not carry a valid Access sign-in. Open the console through its Access address and sign in there.",
  });
}

/**
 * Where to go after signing in: a path of this console only (no other origin, no
 * protocol-relative `//`, no backslash tricks); anything else is /console.
 */
export function safeNextPath(target: URL | string | undefined): string {
  if (target === undefined) return "/console";
  const text = typeof target === "string" ? target : `${target.pathname}${target.search}`;
  if (text.length > 1000 || !/^\/console(\/|\?|$)/.test(text)) return "/console";
  if (/[\\\s]|\/\/|%2f|%5c|^\/console\/sign-(in|out)/i.test(text)) return "/console";
  return text;
}

function queryCursor(c: Context<AppEnv>): string | undefined {
  const cursor = c.req.query("cursor");
  return cursor === undefined || cursor === "" ? undefined : cursor;
}

async function formBody(c: Context<AppEnv>) {
  return c.req.parseBody({ all: true });
}

function field(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === "string" ? first : "";
}

// ---------------------------------------------------------------------------------------

export const consoleRoutes = new Hono<AppEnv>();

consoleRoutes.use(securityHeaders, formsFromThisOrigin, requireOperator);

const underConsole = (path: string) => path.replace(/^\/console/, "");

consoleRoutes.get(underConsole(ASSET_PATHS.stylesheet), (c) =>
  c.body(CONSOLE_STYLESHEET, 200, { "content-type": "text/css; charset=utf-8" }),
);
consoleRoutes.get(underConsole(ASSET_PATHS.script), (c) =>
  c.body(CONSOLE_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8" }),
);

consoleRoutes.get("/sign-in", async (c) => {
  const next = safeNextPath(c.req.query("next"));
  // Access signs people in itself: there is no form to show.
  if (accessConfigured(c.get("config"))) return c.redirect(next, 303);
  if ((await currentOperator(c)).ok) return c.redirect(next, 303);
  return render(c, signInPage({ problem: null, next }));
});

consoleRoutes.post("/sign-in", limit(FORM_LIMIT_BYTES), async (c) => {
  if (accessConfigured(c.get("config"))) return c.redirect("/console", 303);
  const body = await formBody(c);
  const next = safeNextPath(field(body, "next") || undefined);
  const outcome = await signIn(c, field(body, "token"));
  if (outcome === "signed_in") {
    c.get("log").info("console_signed_in", {});
    return c.redirect(next, 303);
  }
  if (outcome === "rate_limited") {
    const retryAt = new Date(c.get("deps").clock.now().getTime() + 60_000);
    c.header("Retry-After", "60");
    return render(
      c,
      signInPage({
        problem: "rate_limited",
        next,
        retryAt: `${retryAt.toISOString().slice(11, 16)} UTC`,
      }),
      429,
    );
  }
  c.get("log").warn("console_sign_in_refused", {});
  return render(c, signInPage({ problem: "invalid", next }), 401);
});

consoleRoutes.post("/sign-out", limit(FORM_LIMIT_BYTES), async (c) => {
  // Under Access, signing out is Access's: its logout ends the Access session.
  if (accessConfigured(c.get("config"))) return c.redirect("/cdn-cgi/access/logout", 303);
  await signOut(c);
  return c.redirect("/console/sign-in", 303);
});

consoleRoutes.get("/", async (c) => {
  const db = databaseOf(c);
  const cursor = queryCursor(c);
  const [page, liveCalls] = await Promise.all([
    listCampaigns(db, { limit: CAMPAIGNS_PAGE_SIZE, cursor }),
    countLiveCalls(db),
  ]);
  return render(
    c,
    campaignsPage({
      campaigns: page.campaigns,
      nextCursor: page.nextCursor,
      isFirstPage: cursor === undefined,
      liveCalls,
      maxLiveCalls: c.get("config").MAX_LIVE_CALLS,
      refreshSeconds: REFRESH_SECONDS,
    }),
  );
});

consoleRoutes.get("/drivers-template.csv", (c) =>
  c.body(DRIVERS_CSV_TEMPLATE, 200, {
    "content-type": "text/csv; charset=utf-8",
    "content-disposition": 'attachment; filename="drivers-template.csv"',
  }),
);

consoleRoutes.get("/campaigns/new", (c) =>
  render(c, newCampaignPage({ values: defaultFormValues() })),
);

consoleRoutes.post("/campaigns", limit(CAMPAIGN_FORM_LIMIT_BYTES), async (c) => {
  const body = await formBody(c);
  const values = formValuesFrom(body);
  const upload = [body.drivers].flat().find((part): part is File => part instanceof File);
  let csv: DriversCsv | null = null;
  let fileError: string | undefined;
  if (!upload || (upload.size === 0 && upload.name === "")) fileError = "choose a CSV file";
  else if (upload.size === 0) fileError = "the file is empty";
  else if (upload.size > MAX_CSV_BYTES) fileError = "the file is larger than 5 MiB";
  else csv = parseDriversCsv(new Uint8Array(await upload.arrayBuffer()));

  const result = campaignRequestFrom(values, csv, fileError);
  if (!result.ok) {
    c.get("log").info("console_campaign_form_refused", {
      fields: Object.keys(result.fieldErrors),
      csv_problems: result.csvProblems.length,
    });
    return renderForm(c, 422, {
      values,
      fieldErrors: result.fieldErrors,
      csvProblems: firstProblems(result.csvProblems),
    });
  }

  const db = databaseOf(c);
  const work = async (): Promise<StoredAnswer> => {
    const campaign = await startCampaign(c, db, result.request);
    return {
      status: 303,
      body: JSON.stringify({ campaign_id: campaign.id }),
      headers: { location: `/console/campaigns/${campaign.id}` },
    };
  };
  const key = idempotencyKeyOf(values);
  if (key === undefined) {
    // A form that did not come from the page (no key): nothing to deduplicate against.
    const answer = await work();
    return c.redirect(answer.headers.location ?? "/console", 303);
  }
  return submitOnce(c, db, key, JSON.stringify(result.request), values, work);
});

/**
 * Runs the form's work once per idempotency key. A double click or a resent form finds the
 * key taken: once the first is answered, it gets the same redirect (the same campaign);
 * while the first is still being answered, it waits for it.
 */
async function submitOnce(
  c: Context<AppEnv>,
  db: Database,
  key: string,
  requestJson: string,
  values: CampaignFormValues,
  work: () => Promise<StoredAnswer>,
): Promise<Response> {
  const deadline = Date.now() + IN_USE_WAIT_MS;
  while (true) {
    try {
      const run = runIdempotently(
        db,
        {
          scope: CAMPAIGN_FORM_SCOPE,
          key,
          body: requestJson,
          errorAnswer: (error) => JSON.stringify({ error: error.code }),
        },
        work,
      );
      // A browser that sends the form again (a double click) drops the first request:
      // its work must still finish, or its key would stay "in use" with no answer.
      keepRunning(c, run);
      const outcome = await run;
      const location = outcome.answer.headers.location;
      if (outcome.answer.status === 303 && location) {
        if (outcome.kind === "replayed") {
          c.get("log").info("console_campaign_form_replayed", { location });
        }
        return c.redirect(location, 303);
      }
      throw new AppError("internal_error", "The campaign form's stored answer is not a redirect.");
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      if (error.code === "idempotency_key_in_use" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        continue;
      }
      if (error.code === "idempotency_key_in_use") {
        return renderMessage(
          c,
          409,
          {
            title: "Still starting",
            message:
              "This form was sent before and its campaign is still being stored. Look for it in the campaign list in a moment instead of sending the form again.",
            link: { href: "/console", text: "Campaigns" },
          },
          "campaigns",
        );
      }
      if (error.code === "idempotency_key_reused") {
        return renderForm(c, 422, {
          values: { ...values, idempotency_key: crypto.randomUUID() },
          formError: {
            text: "This form was already used to start a campaign with other contents, so nothing was started. Check the campaign list, then send this form again if you still want a second campaign.",
            link: { href: "/console", text: "Campaigns" },
          },
        });
      }
      throw error;
    }
  }
}

function keepRunning(c: Context<AppEnv>, work: Promise<unknown>) {
  let ctx: { waitUntil(promise: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    // No execution context (app.request in a test): nothing outlives the request anyway.
  }
  ctx?.waitUntil(work.catch(() => undefined));
}

function renderForm(c: Context<AppEnv>, status: number, props: NewCampaignProps) {
  return render(c, newCampaignPage(props), status);
}

function campaignNotFound(c: Context<AppEnv>) {
  return renderMessage(
    c,
    404,
    {
      title: "No such campaign",
      message: "There is no campaign at this address.",
      link: { href: "/console", text: "Campaigns" },
    },
    "campaigns",
  );
}

consoleRoutes.get("/campaigns/:id", async (c) => {
  const id = c.req.param("id");
  if (!isCampaignId(id)) return campaignNotFound(c);
  const db = databaseOf(c);
  const now = c.get("deps").clock.now();
  const statusQuery = c.req.query("status");
  const status = (TARGET_STATUSES as readonly string[]).includes(statusQuery ?? "")
    ? (statusQuery as TargetStatus)
    : undefined;
  const pageQuery = Number(c.req.query("page") ?? "1");
  const cursor = queryCursor(c);
  const page = cursor && Number.isInteger(pageQuery) && pageQuery > 1 ? pageQuery : 1;
  const [campaign, breakdown, targets] = await Promise.all([
    getCampaign(db, id),
    getCampaignBreakdown(db, id, now),
    listTargets(db, { campaignId: id, status, limit: TARGETS_PAGE_SIZE, cursor, now }),
  ]);
  if (!campaign || !breakdown || !targets) return campaignNotFound(c);
  return render(
    c,
    campaignPage({
      campaign,
      breakdown,
      targets: targets.targets,
      nextCursor: targets.nextCursor,
      status,
      page,
      now,
      refreshSeconds: REFRESH_SECONDS,
    }),
  );
});

consoleRoutes.get("/campaigns/:id/cancel", async (c) => {
  const campaign = await getCampaign(databaseOf(c), c.req.param("id"));
  if (!campaign) return campaignNotFound(c);
  if (campaign.status !== "RUNNING") return c.redirect(`/console/campaigns/${campaign.id}`, 303);
  return render(c, cancelCampaignPage(campaign));
});

consoleRoutes.post("/campaigns/:id/cancel", limit(FORM_LIMIT_BYTES), async (c) => {
  const id = c.req.param("id");
  const result = await cancelCampaign(databaseOf(c), id, auditStampOf(c));
  if (result.kind === "not_found") return campaignNotFound(c);
  if (result.kind === "cancelled") {
    c.get("log").info("campaign_cancelled", {
      campaign_id: id,
      targets_cancelled: result.targetsCancelled,
      from: "console",
    });
  }
  // Finished in the meantime: its page says so.
  return c.redirect(`/console/campaigns/${id}`, 303);
});

consoleRoutes.get("/campaigns/:id/results.csv", async (c) => {
  const result = await campaignResultsCsv(databaseOf(c), c.req.param("id"));
  if (!result) return campaignNotFound(c);
  return resultsCsvResponse(result);
});

consoleRoutes.get("/calls/:call_sid", async (c) => {
  const callSid = c.req.param("call_sid");
  c.set("callSid", callSid);
  const details = await getCallWithTranscript(databaseOf(c), callSid);
  if (!details) {
    return renderMessage(
      c,
      404,
      {
        title: "No such call",
        message: "There is no call with this call_sid.",
        link: { href: "/console", text: "Campaigns" },
      },
      "campaigns",
    );
  }
  const campaignId = c.req.query("campaign");
  return render(
    c,
    callPage({
      details,
      campaignId: campaignId && isCampaignId(campaignId) ? campaignId : undefined,
    }),
  );
});

const addNumberSchema = z.object({
  phone_number: z.string().regex(E164, "must be an E.164 phone number such as +15551230042"),
  reason: storableText(1, 500).optional(),
});

async function renderDoNotCall(
  c: Context<AppEnv>,
  status: number,
  extra: Partial<DoNotCallPageProps> = {},
) {
  const cursor = queryCursor(c);
  const page = await listDoNotCall(databaseOf(c), { limit: DO_NOT_CALL_PAGE_SIZE, cursor });
  return render(
    c,
    doNotCallPage({
      entries: page.entries,
      nextCursor: page.nextCursor,
      isFirstPage: cursor === undefined,
      ...extra,
    }),
    status,
  );
}

consoleRoutes.get("/do-not-call", (c) => {
  const added = c.req.query("added");
  const removed = c.req.query("removed");
  const notice =
    added && E164.test(added)
      ? `Added ${added} to the list.`
      : removed && E164.test(removed)
        ? `Removed ${removed} from the list.`
        : undefined;
  return renderDoNotCall(c, 200, { notice });
});

consoleRoutes.post("/do-not-call", limit(FORM_LIMIT_BYTES), async (c) => {
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
    return renderDoNotCall(c, 422, { values, errors });
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

consoleRoutes.post("/do-not-call/remove", limit(FORM_LIMIT_BYTES), async (c) => {
  const body = await formBody(c);
  const phoneNumber = field(body, "phone_number").trim();
  if (!E164.test(phoneNumber)) return c.redirect("/console/do-not-call", 303);
  const reason = field(body, "reason").trim();
  const removed = await removeFromDoNotCall(
    databaseOf(c),
    { phoneNumber, reason: reason === "" ? null : reason.slice(0, 500) },
    auditStampOf(c),
  );
  c.get("log").info("do_not_call_removed", {
    to: maskPhoneNumber(phoneNumber),
    removed,
    from: "console",
  });
  return c.redirect(`/console/do-not-call?removed=${encodeURIComponent(phoneNumber)}`, 303);
});

consoleRoutes.get("/activity", async (c) => {
  const db = databaseOf(c);
  const cursor = queryCursor(c);
  const action = c.req.query("action") ?? "";
  const actorId = c.req.query("operator") ?? "";
  const knownAction = (AUDIT_ACTIONS as readonly string[]).includes(action);
  const knownActor = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(actorId);
  const [page, operators] = await Promise.all([
    listAuditEvents(db, {
      action: knownAction ? action : undefined,
      actorId: knownActor ? actorId : undefined,
      limit: ACTIVITY_PAGE_SIZE,
      cursor,
    }),
    listOperators(db),
  ]);
  return render(
    c,
    activityPage({
      events: page.events,
      nextCursor: page.nextCursor,
      isFirstPage: cursor === undefined,
      operators,
      filter: { action: knownAction ? action : "", actorId: knownActor ? actorId : "" },
    }),
  );
});

consoleRoutes.route(
  "/",
  eraseDriverRoutes({ render, renderMessage, formLimit: limit(FORM_LIMIT_BYTES) }),
);

consoleRoutes.all("*", (c) => {
  if (c.req.path === "/console/" && c.req.method === "GET") return c.redirect("/console", 303);
  return renderMessage(c, 404, {
    title: "Not found",
    message: `There is no console page at ${c.req.path}.`,
    link: { href: "/console", text: "Campaigns" },
  });
});

consoleRoutes.onError((error, c) => {
  const ctx = c as Context<AppEnv>;
  if (error instanceof HTTPException && error.status === 403) {
    ctx.get("log")?.warn("console_cross_origin_refused", { method: c.req.method });
    return renderMessage(ctx, 403, {
      title: "Refused",
      message:
        "This request did not come from the console's own pages, so nothing was done. Open the console and use its buttons.",
      link: { href: "/console", text: "Open the console" },
    });
  }
  if (error instanceof AppError && error.status < 500) {
    return renderMessage(ctx, error.status, {
      title: error.code === "invalid_request" ? "That link is not valid" : "Not possible",
      message: error.message.includes("cursor")
        ? "This page link is out of date or was changed: start again from the first page."
        : error.message,
      link: { href: "/console", text: "Campaigns" },
    });
  }
  const unavailable = error instanceof AppError && error.status === 503;
  ctx
    .get("log")
    ?.error(unavailable ? "console_database_unavailable" : "console_error", describeError(error));
  return renderMessage(ctx, unavailable ? 503 : 500, {
    title: "Something went wrong",
    message: unavailable
      ? "The database did not answer. Try again in a moment."
      : "Something went wrong on our side. Try again; if it keeps happening, the logs have the details.",
    link: { href: "/console", text: "Campaigns" },
  });
});
