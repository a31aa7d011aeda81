// POST /webhooks/elevenlabs/post-call: ElevenLabs' signed post-call webhook. ElevenLabs
// disables an endpoint that keeps failing and does not send a refused event again, so any
// signed JSON event gets a 200: applied, kept for a Call not known yet, or ignored (a type
// we have no use for). Only a bad signature (401), a body over 32 MiB (413) or one that is
// not JSON (400) is refused.

import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { databaseOf } from "../db/context";
import { nudgeEventSender } from "../events/queue";
import { parseJsonBody } from "../http/body";
import { AppError } from "../http/errors";
import { errorResponses } from "../http/openapi";
import { keepForLater } from "./inbox";
import { interpretPostCallEvent } from "./post-call";
import { applyPostCallReport } from "./post-call-apply";
import { verifyElevenLabsSignature } from "./signature";

const postCallBodySchema = z
  .object({
    type: z.string().openapi({ example: "post_call_transcription" }),
    event_timestamp: z.number().optional(),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi("PostCallEvent");

const postCallAnswerSchema = z
  .object({
    status: z.enum(["processed", "unchanged", "ignored", "kept"]).openapi({
      description:
        "processed: the Call changed; unchanged: a redelivery, or a Call the rules keep as it is; ignored: an event type the service does not use, or one without data.conversation_id; kept: no Call has this conversation_id yet, so the event waits (up to 24 hours) and is applied when one does.",
    }),
  })
  .openapi("PostCallAnswer");

export const postCallRoute = createRoute({
  method: "post",
  path: "/webhooks/elevenlabs/post-call",
  operationId: "receivePostCallEvent",
  tags: ["webhooks"],
  security: [{ elevenLabsSignature: [] }],
  summary: "ElevenLabs' post-call webhook (HMAC-signed)",
  description:
    "Verifies ElevenLabs-Signature (t=<unix secs>,v0=<hex HMAC-SHA256 of `{t}.{raw body}`>), then completes or fails the Call. Idempotent.",
  request: {
    headers: z.object({ "elevenlabs-signature": z.string().optional() }),
    body: { content: { "application/json": { schema: postCallBodySchema } }, required: true },
  },
  responses: {
    200: {
      description: "Accepted",
      content: { "application/json": { schema: postCallAnswerSchema } },
    },
    ...errorResponses(400, 401, 413, 415, 503),
  },
});

export const postCallRoutes = new OpenAPIHono<AppEnv>();

// Registered with .post (the body is read raw for the signature check, not through the
// validator); its definition still goes into the OpenAPI document.
postCallRoutes.openAPIRegistry.registerPath(postCallRoute);

postCallRoutes.post(postCallRoute.path, async (c) => {
  const log = c.get("log");
  const secret = c.get("config").ELEVENLABS_WEBHOOK_SECRET;
  if (!secret) {
    log.error("auth_not_configured", {
      reason:
        "ELEVENLABS_WEBHOOK_SECRET is not set: refusing every post-call webhook (fail closed)",
    });
    throw new AppError("unauthorized", "Missing or invalid signature.");
  }
  // The signature covers the raw bytes, so verify before decoding or parsing anything
  // (the body may be 32 MiB: src/http/body.ts leaves it unread for this route).
  const rawBody = new Uint8Array(await c.req.arrayBuffer());
  const check = await verifyElevenLabsSignature({
    header: c.req.header("elevenlabs-signature"),
    rawBody,
    secret,
    now: c.get("deps").clock.now(),
  });
  if (!check.ok) {
    log.warn("post_call_signature_rejected", { reason: check.reason });
    throw new AppError("unauthorized", `Missing or invalid signature (${check.reason}).`);
  }

  // The audio of the whole call, base64: we store none of it, so the biggest event is
  // answered without decoding or parsing it when its type comes first, as ElevenLabs sends it.
  if (leadingEventType(rawBody) === "post_call_audio") return ignoreAudio(c, rawBody.length);
  const text = utf8.decode(rawBody);
  // Only a body that is not JSON is refused (400); any JSON is read leniently from here on.
  const json = parseJsonBody(text);
  const now = c.get("deps").clock.now();
  const interpretation = interpretPostCallEvent(json, now);
  const eventType = isRecord(json) && typeof json.type === "string" ? json.type : null;
  if (interpretation.kind === "ignore") {
    log.info("post_call_ignored", { event_type: eventType, why: interpretation.why });
    return c.json({ status: "ignored" as const }, 200);
  }
  const conversationId = interpretation.reference.conversationId;
  const context = {
    db: databaseOf(c),
    queue: c.env?.DISPATCH_QUEUE,
    log: log.with({ event_type: eventType, conversation_id: conversationId }),
    now,
  };
  const result = await applyPostCallReport(context, interpretation);
  if (result.kind === "unknown_call") {
    // Possibly a failure that outran ElevenLabs' answer to our dial: kept, applied as soon
    // as a Call records this conversation_id (src/elevenlabs/inbox.ts).
    await keepForLater(context, { conversationId, eventType: eventType ?? "", text });
    return c.json({ status: "kept" as const }, 200);
  }
  c.set("callSid", result.callSid);
  // The finished call (and an opt-out) wrote its events with the change: send them now.
  if (result.changed) await nudgeEventSender(c.env?.EVENTS_QUEUE, log, { reason: "call_finished" });
  return c.json({ status: result.changed ? ("processed" as const) : ("unchanged" as const) }, 200);
});

const utf8 = new TextDecoder();
// `{"type":"<name>",` or `{"type":"<name>"}` at the very start (JSON whitespace allowed).
const LEADING_TYPE =
  /^[ \t\n\r]*\{[ \t\n\r]*"type"[ \t\n\r]*:[ \t\n\r]*"([a-z_]{1,64})"[ \t\n\r]*[,}]/;

/** The event type when it is the body's first key; undefined otherwise (parse to know). */
function leadingEventType(rawBody: Uint8Array): string | undefined {
  // The type is in the first few dozen bytes; a character cut in half at the end of the
  // slice decodes to U+FFFD, which the pattern never reaches.
  return LEADING_TYPE.exec(utf8.decode(rawBody.subarray(0, 256)))?.[1];
}

function ignoreAudio(c: Context<AppEnv>, bytes: number) {
  c.get("log").info("post_call_ignored", {
    event_type: "post_call_audio",
    why: "audio is not stored",
    bytes,
  });
  return c.json({ status: "ignored" as const }, 200);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
