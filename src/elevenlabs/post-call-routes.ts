// POST /webhooks/elevenlabs/post-call: ElevenLabs' signed post-call webhook. ElevenLabs
// disables an endpoint that keeps failing, so events we have no use for (unknown types,
// calls we do not know) get a 200; only a bad signature or a broken body is a 4xx.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { applyCallReport } from "../calls/repository";
import { mayHaveRung } from "../calls/status-rules";
import { databaseOf } from "../db/context";
import { followUpFinishedCall } from "../dispatch/follow-up";
import { parseJsonBody } from "../http/body";
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
  const json = parseJsonBody(utf8.decode(rawBody));
  if (isRecord(json) && json.type === "post_call_audio") return ignoreAudio(c, rawBody.length);

  const event = postCallEventSchema.safeParse(json);
  if (!event.success) {
    throw new AppError("invalid_request", "The event is not an ElevenLabs post-call event.", {
      details: describeIssues(event.error.issues),
    });
  }
  const interpretation = interpretPostCallEvent(event.data, c.get("deps").clock.now());
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
  const db = databaseOf(c);
  const { reference, report } = interpretation;
  const result = await applyCallReport(db, reference, report);
  if (result.kind === "unknown_call") {
    eventLog.warn("post_call_unknown_call", { call_sid: reference.callSid });
    return c.json({ status: "ignored" as const }, 200);
  }
  c.set("callSid", result.callSid);
  if (interpretation.cut.length > 0) eventLog.warn("analysis_cut", { fields: interpretation.cut });
  if (result.changed) {
    eventLog.info("call_finished", {
      call_sid: result.callSid,
      outcome:
        report.kind === "conversation"
          ? report.voicemail
            ? "voicemail"
            : "completed"
          : report.failureReason,
      previous_status: result.previousStatus,
      opted_out: result.optedOut,
    });
  } else if (result.previousStatus === "FAILED" && !mayHaveRung(result.previousFailureReason)) {
    // ElevenLabs reports on a call that failed in a way that proves nothing rang (a 4xx,
    // do_not_call, at_capacity): the rules keep it as it is, and someone should know.
    eventLog.warn("post_call_for_call_that_never_rang", {
      call_sid: result.callSid,
      failure_reason: result.previousFailureReason,
      report: report.kind,
    });
  } else {
    eventLog.info("post_call_redelivered", { call_sid: result.callSid });
  }
  await followUpFinishedCall({
    db,
    queue: c.env?.DISPATCH_QUEUE,
    log: eventLog,
    now: c.get("deps").clock.now(),
    report,
    result,
  });
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
