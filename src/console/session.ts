// The console's session: a cookie `__Host-console` that holds nothing but a signed expiry.
//
// - The value is the session's end (unix seconds), signed with HMAC-SHA256 by
//   hono/cookie's signed-cookie helpers. The signing key is derived from API_TOKEN (an
//   HMAC of a fixed label keyed with the token), so the cookie never carries the token,
//   and rotating the token changes the key: every session ends at once.
// - `__Host-` makes the browser refuse the cookie unless it is Secure, Path=/ and has no
//   Domain, so no other host (a subdomain, an http:// page) can set or shadow it.
//   HttpOnly keeps it from scripts; SameSite=Strict keeps it off cross-site requests.
//   Chromium and Firefox treat http://127.0.0.1 and http://localhost as secure contexts,
//   so the Secure cookie works under `npm run dev` too.
// - At most 12 hours: Max-Age says so to the browser, and the signed expiry says so to us
//   (a cookie kept past its Max-Age is still refused).
import type { Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import type { AppEnv } from "../app-env";
import { timingSafeEqualStrings } from "../http/auth";

export const SESSION_COOKIE = "console";
/** The full name the browser sees: hono adds the prefix for `prefix: "host"`. */
export const SESSION_COOKIE_NAME = `__Host-${SESSION_COOKIE}`;
export const SESSION_SECONDS = 12 * 60 * 60;

const KEY_LABEL = "driver-calls console session v1";
const encoder = new TextEncoder();
// One derived key per token value seen by this isolate (normally one).
const derivedKeys = new Map<string, Promise<ArrayBuffer>>();

/** The cookie-signing key: HMAC-SHA256(API_TOKEN, label). Never the token itself. */
function signingKey(apiToken: string): Promise<ArrayBuffer> {
  let key = derivedKeys.get(apiToken);
  if (!key) {
    key = crypto.subtle
      .importKey("raw", encoder.encode(apiToken), { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
      ])
      .then((tokenKey) => crypto.subtle.sign("HMAC", tokenKey, encoder.encode(KEY_LABEL)));
    if (derivedKeys.size >= 4) derivedKeys.clear();
    derivedKeys.set(apiToken, key);
  }
  return key;
}

function apiTokenOf(c: Context<AppEnv>): string | undefined {
  const token = c.get("config").API_TOKEN;
  if (!token) {
    c.get("log").error("auth_not_configured", {
      reason: "API_TOKEN is not set: nobody can sign in to the console (fail closed)",
    });
  }
  return token;
}

/** Whether the request carries a session cookie that we signed and that has not expired. */
export async function hasValidSession(c: Context<AppEnv>): Promise<boolean> {
  const token = apiTokenOf(c);
  if (!token) return false;
  const value = await getSignedCookie(c, await signingKey(token), SESSION_COOKIE, "host");
  if (typeof value !== "string" || !/^\d{1,12}$/.test(value)) return false;
  const expiresAt = Number(value);
  const now = Math.floor(c.get("deps").clock.now().getTime() / 1000);
  return expiresAt > now && expiresAt <= now + SESSION_SECONDS;
}

/**
 * Checks a submitted token (constant time) and, when right, sets the session cookie.
 * Returns whether it was right.
 */
export async function signIn(c: Context<AppEnv>, submitted: string): Promise<boolean> {
  const token = apiTokenOf(c);
  // Compared even when unset, so an unset token costs the same time as a wrong one.
  const matches = await timingSafeEqualStrings(submitted, token ?? "");
  if (!token || submitted === "" || !matches) return false;
  const now = Math.floor(c.get("deps").clock.now().getTime() / 1000);
  await setSignedCookie(c, SESSION_COOKIE, String(now + SESSION_SECONDS), await signingKey(token), {
    prefix: "host",
    httpOnly: true,
    secure: true,
    sameSite: "Strict",
    path: "/",
    maxAge: SESSION_SECONDS,
  });
  return true;
}

export function signOut(c: Context<AppEnv>): void {
  deleteCookie(c, SESSION_COOKIE, {
    prefix: "host",
    httpOnly: true,
    secure: true,
    sameSite: "Strict",
    path: "/",
  });
}
