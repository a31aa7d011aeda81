// Bearer-token auth. Tokens are compared in constant time (by HMAC-ing both sides, so the
// comparison does not leak the length either), and a route whose token is not configured
// refuses every request: failing open would expose the operator API or let anyone write
// transcripts.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env";
import { API_TOKEN_ACTOR } from "../audit/record";
import { databaseOf } from "../db/context";
import type { Config } from "../env";
import { findOperatorByToken, operatorActor } from "../operators/repository";
import { looksLikeOperatorToken } from "../operators/tokens";
import { AppError } from "./errors";

const encoder = new TextEncoder();
// A random key per isolate: the MACs only need to differ unpredictably from the inputs.
let comparisonKey: Promise<CryptoKey> | undefined;

export async function timingSafeEqualStrings(a: string, b: string): Promise<boolean> {
  comparisonKey ??= crypto.subtle.importKey(
    "raw",
    crypto.getRandomValues(new Uint8Array(32)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const key = await comparisonKey;
  const [macA, macB] = await Promise.all([
    crypto.subtle.sign("HMAC", key, encoder.encode(a)),
    crypto.subtle.sign("HMAC", key, encoder.encode(b)),
  ]);
  // workerd's crypto.subtle.timingSafeEqual compares equal-length buffers in constant time.
  return crypto.subtle.timingSafeEqual(macA, macB);
}

type TokenName = "TRANSCRIPTION_WEBHOOK_TOKEN";

export function requireBearerToken(tokenName: TokenName): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const expected = (c.get("config") as Config)[tokenName];
    if (!expected) {
      c.get("log").error("auth_not_configured", {
        reason: `${tokenName} is not set: refusing every request to this route (fail closed)`,
      });
      throw unauthorized();
    }
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
    if (!match?.[1] || !(await timingSafeEqualStrings(match[1], expected))) throw unauthorized();
    await next();
  };
}

/**
 * The operator API: `Authorization: Bearer` with the machines' API_TOKEN (recorded as the
 * actor `api_token`) or an operator's own token (recorded under that operator). A revoked
 * operator's token is refused like a wrong one. API_TOKEN unset refuses only API_TOKEN:
 * operators' tokens do not depend on it.
 */
export const requireOperatorOrApiToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header("authorization") ?? "";
  const presented = /^Bearer ([^\s]+)$/i.exec(header.trim())?.[1];
  if (!presented) throw unauthorized();
  const apiToken = (c.get("config") as Config).API_TOKEN;
  if (!apiToken) {
    c.get("log").error("auth_not_configured", {
      reason: "API_TOKEN is not set: only operators' own tokens are accepted (fail closed)",
    });
  }
  // Compared even when unset, so an unset API_TOKEN costs the same time as a wrong one.
  if ((await timingSafeEqualStrings(presented, apiToken ?? "")) && apiToken) {
    c.set("actor", API_TOKEN_ACTOR);
    return next();
  }
  // The database compares hashes by index: the token's SHA-256 leaks nothing about the token.
  const operator = looksLikeOperatorToken(presented)
    ? await findOperatorByToken(databaseOf(c), presented)
    : null;
  if (!operator) throw unauthorized();
  c.set("actor", operatorActor(operator));
  return next();
};

function unauthorized() {
  return new AppError("unauthorized", "Missing or invalid credentials.");
}
