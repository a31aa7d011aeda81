// Request bodies: JSON only, at most the route's limit (64 KiB unless BODY_RULES says
// otherwise), and malformed JSON is a 400 of its own. Webhook senders and operators both
// get an answer that says what to fix.
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../app-env";
import { AppError } from "./errors";

const KiB = 1024;
const MiB = 1024 * KiB;

export const DEFAULT_MAX_BODY_BYTES = 64 * KiB;

export interface BodyRule {
  maxBytes: number;
  /**
   * The route reads the raw bytes itself, so this middleware does not parse them: the
   * post-call webhook checks a signature over the exact bytes before anything is parsed,
   * and must not have 32 MiB parsed for an event it will refuse or ignore.
   */
  raw?: boolean;
}

/** Routes that take more than the default, by `METHOD /path` (the path as routed). */
export const BODY_RULES: Readonly<Record<string, BodyRule>> = {
  // A signed post_call_audio carries the whole call's audio as base64, and a long call's
  // transcription runs to hundreds of KiB. ElevenLabs does not retry and disables an
  // endpoint after 10 failures, so every refusal here is a lost event.
  "POST /webhooks/elevenlabs/post-call": { maxBytes: 32 * MiB, raw: true },
  // Operators upload a whole campaign (its drivers and violations) in one request.
  "POST /campaigns": { maxBytes: 5 * MiB },
};

export function bodyRuleFor(method: string, path: string): BodyRule {
  return BODY_RULES[`${method} ${path}`] ?? { maxBytes: DEFAULT_MAX_BODY_BYTES };
}

/** "64 KiB", "32 MiB": how the limit is said in messages and the OpenAPI document. */
export function formatBytes(bytes: number): string {
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes % KiB === 0) return `${bytes / KiB} KiB`;
  return `${bytes} bytes`;
}

// One hono/body-limit per distinct limit: it refuses on Content-Length at once and, when
// there is none (a streamed body), counts the bytes as they arrive.
const limiters = new Map<number, MiddlewareHandler<AppEnv>>();

function limiterFor(maxBytes: number): MiddlewareHandler<AppEnv> {
  let limiter = limiters.get(maxBytes);
  if (!limiter) {
    limiter = bodyLimit({
      maxSize: maxBytes,
      onError: () => {
        throw new AppError(
          "payload_too_large",
          `The request body is larger than ${formatBytes(maxBytes)}, this route's limit.`,
          { details: { max_bytes: maxBytes } },
        );
      },
    });
    limiters.set(maxBytes, limiter);
  }
  return limiter;
}

// The same rule as @hono/zod-openapi's request gate (parameters must be `name=value`), so a
// header it would refuse later is refused here, with the contract's error code.
const JSON_CONTENT_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

function isJsonContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && JSON_CONTENT_TYPE.test(contentType);
}

/**
 * Routes whose body is optional: an action on what the path names (cancel a campaign, put
 * a number on the do-not-call list, erase a driver's data). Sent without a body, they skip
 * the JSON rule.
 */
const BODY_OPTIONAL = [
  /^\/campaigns\/[^/]+\/cancel$/,
  /^\/do-not-call\/[^/]+$/,
  /^\/event-endpoints\/[^/]+\/(rotate-secret|enable)$/,
  /^\/events\/[^/]+\/resend$/,
  /^\/drivers\/[^/]+\/erase$/,
];

function hasNoBody(c: Parameters<MiddlewareHandler<AppEnv>>[0]): boolean {
  const length = c.req.header("content-length");
  return (
    (length === undefined || length === "0") && c.req.header("transfer-encoding") === undefined
  );
}

/**
 * The operator console (src/console/) takes HTML forms, not JSON: urlencoded fields and a
 * multipart CSV upload of up to 5 MiB. Its routes set their own body limits.
 */
export function isConsolePath(path: string): boolean {
  return path === "/console" || path.startsWith("/console/");
}

export const jsonBodyOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (isConsolePath(c.req.path)) return next();
  if (BODY_OPTIONAL.some((pattern) => pattern.test(c.req.path)) && hasNoBody(c)) return next();
  if (!isJsonContentType(c.req.header("content-type"))) {
    throw new AppError(
      "unsupported_media_type",
      "Send the body as JSON with the header Content-Type: application/json.",
    );
  }
  const rule = bodyRuleFor(c.req.method, c.req.path);
  return limiterFor(rule.maxBytes)(c, async () => {
    if (!rule.raw) parseJsonBody(await c.req.text());
    await next();
  });
};

/** JSON.parse with the contract's 400; raw routes call it once their checks have passed. */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError("invalid_json", "The request body is not valid JSON.");
  }
}
