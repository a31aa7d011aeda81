// Request bodies: JSON only, at most 64 KiB, and malformed JSON is a 400 of its own.
// Webhook senders and operators both get an answer that says what to fix.
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../app-env";
import { AppError } from "./errors";

export const MAX_BODY_BYTES = 64 * 1024;

const limitBody = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new AppError("payload_too_large", "The request body is larger than 64 KiB.", {
      details: { max_bytes: MAX_BODY_BYTES },
    });
  },
});

// The same rule as @hono/zod-openapi's request gate (parameters must be `name=value`), so a
// header it would refuse later is refused here, with the contract's error code.
const JSON_CONTENT_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

function isJsonContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && JSON_CONTENT_TYPE.test(contentType);
}

export const jsonBodyOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!isJsonContentType(c.req.header("content-type"))) {
    throw new AppError(
      "unsupported_media_type",
      "Send the body as JSON with the header Content-Type: application/json.",
    );
  }
  return limitBody(c, async () => {
    const text = await c.req.text();
    try {
      JSON.parse(text);
    } catch {
      throw new AppError("invalid_json", "The request body is not valid JSON.");
    }
    await next();
  });
};
