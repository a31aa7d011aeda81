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
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../app-env";
import { AUDIT_ACTIONS, auditStampOf } from "../audit/record";
import { listAuditEvents } from "../audit/repository";
import { getCallWithTranscript } from "../calls/read";
import { getCampaignBreakdown } from "../campaigns/breakdown";
import {
  cancelCampaign,
  getCampaign,
  isCampaignId,
  listCampaigns,
  listTargets,
} from "../campaigns/repository";
import { campaignResultsCsv } from "../campaigns/results-csv";
import { resultsCsvResponse } from "../campaigns/routes";
import { databaseOf } from "../db/context";
import { TARGET_STATUSES, type TargetStatus } from "../db/schema";
import { countLiveCalls } from "../dispatch/live-calls";
import { AppError } from "../http/errors";
import { describeError } from "../http/log";
import { storableText } from "../http/schemas";
import { listOperators, operatorActor } from "../operators/repository";
import { CONSOLE_SCRIPT } from "./assets/script";
import { CONSOLE_STYLESHEET } from "./assets/stylesheet";
import { DRIVERS_CSV_TEMPLATE } from "./drivers-csv";
import { ACTIVITY_PAGE_SIZE, activityPage } from "./pages/activity";
import { callPage } from "./pages/call";
import { campaignPage, cancelCampaignPage, TARGETS_PAGE_SIZE } from "./pages/campaign";
import { CAMPAIGNS_PAGE_SIZE, campaignsPage } from "./pages/campaigns";
import { doNotCallRoutes } from "./pages/do-not-call";
import { eraseDriverRoutes } from "./pages/erase-driver";
import { integrationsRoutes } from "./pages/integrations";
import { ASSET_PATHS } from "./pages/layout";
import { newCampaignRoutes } from "./pages/review-campaign";
import { signInPage } from "./pages/sign-in";
import {
  FORM_LIMIT_BYTES,
  field,
  formBody,
  formLimit as limit,
  queryCursor,
  render,
  renderMessage,
  UnreadableFormError,
  unreadableFormPage,
} from "./respond";
import { accessConfigured, currentOperator, signIn, signOut } from "./session";

/** How often a running campaign's page brings itself up to date. */
const REFRESH_SECONDS = 3;
/** What a call_sid in a console path may be: text Postgres can store (else a 404 page). */
const callSidParam = storableText(1, 255);

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

consoleRoutes.route("/", newCampaignRoutes);

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
  const wellFormed = callSidParam.safeParse(callSid).success;
  if (wellFormed) c.set("callSid", callSid);
  const details = wellFormed ? await getCallWithTranscript(databaseOf(c), callSid) : null;
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

consoleRoutes.route("/", doNotCallRoutes);
consoleRoutes.route("/", integrationsRoutes);

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
  if (error instanceof UnreadableFormError) {
    ctx.get("log")?.warn("console_form_unreadable", { method: c.req.method, path: c.req.path });
    return unreadableFormPage(ctx);
  }
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
