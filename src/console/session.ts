// Who is using the console. Two ways in, never both:
//
// - Cloudflare Access (ACCESS_TEAM_DOMAIN and ACCESS_AUD set): Access signs the person in
//   before the request reaches the Worker, and every request carries its signed assertion.
//   The operator is the assertion's email (created on first sight); there is no form and
//   no cookie of ours. A request without a valid assertion is a 403 page.
// - Otherwise each person signs in with their own operator token (src/operators/) and gets
//   a server-side session: the cookie `__Host-console` holds a random 256-bit id and
//   nothing else. `__Host-` makes the browser refuse it unless Secure, Path=/ and without
//   Domain; HttpOnly keeps it from scripts; SameSite=Strict off cross-site requests.
//   Chromium and Firefox treat http://127.0.0.1 and http://localhost as secure contexts, so
//   the Secure cookie works under `npm run dev` too. Max-Age is 12 hours, and the database
//   says so too (a cookie kept longer is refused); sign-out and revocation end the session
//   on the server at once.
//
// The machines' API_TOKEN does not open the console: it is a credential for programs, and a
// person using it could not be told apart from any other.
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../app-env";
import { clientAddress } from "../audit/record";
import { databaseOf } from "../db/context";
import type { Config } from "../env";
import { ACCESS_ASSERTION_HEADER, verifyAccessAssertion } from "../operators/access";
import { findOperatorByToken, operatorForAccessEmail } from "../operators/repository";
import {
  endSession,
  recordFailedSignIn,
  SESSION_SECONDS,
  type SessionOperator,
  sessionOperator,
  startSession,
} from "../operators/sessions";
import { looksLikeOperatorToken } from "../operators/tokens";

export const SESSION_COOKIE = "console";
/** The full name the browser sees: hono adds the prefix for `prefix: "host"`. */
export const SESSION_COOKIE_NAME = `__Host-${SESSION_COOKIE}`;

const COOKIE_OPTIONS = {
  prefix: "host",
  httpOnly: true,
  secure: true,
  sameSite: "Strict",
  path: "/",
} as const;

export function accessConfigured(config: Config): { teamDomain: string; audience: string } | null {
  return config.ACCESS_TEAM_DOMAIN && config.ACCESS_AUD
    ? { teamDomain: config.ACCESS_TEAM_DOMAIN, audience: config.ACCESS_AUD }
    : null;
}

export type CurrentOperator =
  | { ok: true; operator: SessionOperator }
  | { ok: false; reason: "no_session" | "access_refused" };

/** The operator of this request: by Access assertion where configured, else by session. */
export async function currentOperator(c: Context<AppEnv>): Promise<CurrentOperator> {
  const now = c.get("deps").clock.now();
  const access = accessConfigured(c.get("config"));
  if (access) {
    const verdict = await verifyAccessAssertion(c.req.header(ACCESS_ASSERTION_HEADER), access, now);
    if (!verdict.ok) {
      c.get("log").warn("console_access_refused", { reason: verdict.reason });
      return { ok: false, reason: "access_refused" };
    }
    const operator = await operatorForAccessEmail(databaseOf(c), verdict.email, {
      actor: { kind: "system", id: null, name: "Cloudflare Access" },
      ip: clientAddress(c),
      requestId: c.get("requestId") ?? null,
    });
    if (operator.revoked_at !== null) {
      c.get("log").warn("console_access_refused", { reason: "operator revoked" });
      return { ok: false, reason: "access_refused" };
    }
    return { ok: true, operator: { id: operator.id, name: operator.name, email: operator.email } };
  }
  const sessionId = getCookie(c, SESSION_COOKIE, "host");
  if (!sessionId) return { ok: false, reason: "no_session" };
  const operator = await sessionOperator(databaseOf(c), sessionId, now);
  return operator ? { ok: true, operator } : { ok: false, reason: "no_session" };
}

export type SignInOutcome = "signed_in" | "invalid" | "rate_limited";

/**
 * Checks a submitted operator token and, when it is right, starts a session and sets its
 * cookie. Every attempt first takes one from the address's budget (SIGN_IN_LIMITER, 10 a
 * minute): a guesser gets 10 tries a minute, and an office behind one address has room for
 * its people. Every refused token is recorded (`operator.sign_in_failed`).
 */
export async function signIn(c: Context<AppEnv>, submitted: string): Promise<SignInOutcome> {
  const ip = clientAddress(c);
  const limiter = c.env?.SIGN_IN_LIMITER;
  if (limiter) {
    const { success } = await limiter.limit({ key: `sign-in:${ip ?? "unknown"}` });
    if (!success) {
      c.get("log").warn("console_sign_in_rate_limited", {});
      return "rate_limited";
    }
  } else {
    c.get("log").error("sign_in_limiter_missing", {
      reason: "SIGN_IN_LIMITER is not bound: failed sign-ins are not limited",
    });
  }
  const db = databaseOf(c);
  const stamp = { ip, requestId: c.get("requestId") ?? null };
  const token = submitted.trim();
  const operator = looksLikeOperatorToken(token) ? await findOperatorByToken(db, token) : null;
  if (!operator) {
    await recordFailedSignIn(db, stamp, token === "" ? "empty token" : "unknown or revoked token");
    return "invalid";
  }
  const sessionId = await startSession(db, operator, stamp, c.get("deps").clock.now());
  setCookie(c, SESSION_COOKIE, sessionId, { ...COOKIE_OPTIONS, maxAge: SESSION_SECONDS });
  return "signed_in";
}

/** Ends the session on the server (the same cookie is refused afterwards) and clears it. */
export async function signOut(c: Context<AppEnv>): Promise<void> {
  const sessionId = getCookie(c, SESSION_COOKIE, "host");
  if (sessionId) {
    await endSession(databaseOf(c), sessionId, {
      ip: clientAddress(c),
      requestId: c.get("requestId") ?? null,
    });
  }
  deleteCookie(c, SESSION_COOKIE, COOKIE_OPTIONS);
}
