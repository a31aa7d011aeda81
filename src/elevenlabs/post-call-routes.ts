// POST /webhooks/elevenlabs/post-call: ElevenLabs' signed post-call webhook. ElevenLabs
// disables an endpoint that keeps failing, so events we have no use for (unknown types,
// calls we do not know) get a 200; only a bad signature or a broken body is a 4xx.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { finishCall } from "../calls/finish-call";
import { databaseOf } from "../db/context";
import { AppError } from "../http/errors";
import { errorResponses } from "../http/openapi";
import { describeIssues } from "../http/validation";
import { interpretPostCallEvent, postCallEventSchema } from "./post-call";
import { verifyElevenLabsSignature } from "./signature";

const postCallBodySchema = z
  .object({
    type: z.string().openapi({ example: "post_call_transcription" }),
    event_timestamp: z.number().int().optional(),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi("PostCallEvent");

const postCallAnswerSchema = z
  .object({ status: z.enum(["processed", "unchanged", "ignored"]) })
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
  // The signature covers the raw bytes, so verify before parsing anything.
  const rawBody = await c.req.text();
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

  const event = postCallEventSchema.safeParse(JSON.parse(rawBody));
  if (!event.success) {
    throw new AppError("invalid_request", "The event is not an ElevenLabs post-call event.", {
      details: describeIssues(event.error.issues),
    });
  }
  const interpretation = interpretPostCallEvent(event.data);
  if (interpretation.kind === "invalid") {
    throw new AppError("invalid_request", `The ${event.data.type} event is malformed.`, {
      details: describeIssues(interpretation.issues),
    });
  }
  const eventLog = log.with({
    event_type: event.data.type,
    conversation_id: event.data.data.conversation_id,
  });
  if (interpretation.kind === "ignore") {
    eventLog.info("post_call_ignored", { why: interpretation.why });
    return c.json({ status: "ignored" as const }, 200);
  }
  const result = await finishCall(databaseOf(c), interpretation.reference, interpretation.outcome);
  if (result.kind === "unknown_call") {
    eventLog.warn("post_call_unknown_call", { call_sid: interpretation.reference.callSid });
    return c.json({ status: "ignored" as const }, 200);
  }
  c.set("callSid", result.callSid);
  eventLog.info(result.statusChanged ? "call_finished" : "post_call_redelivered", {
    call_sid: result.callSid,
    outcome: interpretation.outcome.kind,
    turns_appended: result.turnsAppended,
  });
  const changed = result.statusChanged || result.turnsAppended > 0;
  return c.json({ status: changed ? ("processed" as const) : ("unchanged" as const) }, 200);
});
