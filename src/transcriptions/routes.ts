// POST /webhooks/elevenlabs/transcription: ElevenLabs' agent webhook tool posts each
// utterance of a live call with our call_sid (a dynamic variable it echoes back).
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { databaseOf } from "../db/context";
import { SPEAKERS } from "../db/schema";
import { requireBearerToken } from "../http/auth";
import { AppError } from "../http/errors";
import { errorResponses } from "../http/openapi";
import { isoInstant, storableText } from "../http/schemas";
import { saveTranscription } from "./save-transcription";

export const transcriptionRequestSchema = z
  .object({
    call_sid: storableText(1, 255).openapi({ example: "EL_1042_1763900000" }),
    speaker: z.enum(SPEAKERS),
    message: storableText(1, 10_000).openapi({ example: "Hi, this is the safety team calling." }),
    timestamp: isoInstant,
  })
  .openapi("TranscriptionRequest");

const transcriptionSavedSchema = z
  .object({
    status: z.literal("success"),
    message: z.string(),
    call_sid: z.string(),
    conversation_id: z.string(),
    transcription_id: z.number().int(),
    sequence_number: z.number().int(),
    duplicate: z.boolean(),
  })
  .openapi("TranscriptionSaved");

export const transcriptionRoute = createRoute({
  method: "post",
  path: "/webhooks/elevenlabs/transcription",
  operationId: "receiveTranscription",
  tags: ["webhooks"],
  summary: "Store one utterance of a live call, keyed by our call_sid",
  security: [{ bearerAuth: [] }],
  middleware: [requireBearerToken("TRANSCRIPTION_WEBHOOK_TOKEN")] as const,
  request: {
    body: {
      content: { "application/json": { schema: transcriptionRequestSchema } },
      required: true,
    },
  },
  responses: {
    200: {
      description: "Saved (or already saved: `duplicate: true` with the first delivery's ids)",
      content: { "application/json": { schema: transcriptionSavedSchema } },
    },
    ...errorResponses(400, 401, 413, 415, 503),
  },
});

export const transcriptionRoutes = new OpenAPIHono<AppEnv>().openapi(
  transcriptionRoute,
  async (c) => {
    const body = c.req.valid("json");
    c.set("callSid", body.call_sid);
    const result = await saveTranscription(databaseOf(c), {
      callSid: body.call_sid,
      speaker: body.speaker,
      message: body.message,
      timestamp: new Date(body.timestamp),
    });
    const log = c.get("log").with({ call_sid: body.call_sid });
    if (result.kind === "call_not_found") {
      log.warn("transcription_call_not_found");
      throw new AppError("call_not_found", `No call has call_sid ${body.call_sid}.`, {
        details: { call_sid: body.call_sid },
      });
    }
    if (result.kind === "conversation_not_started") {
      log.warn("transcription_conversation_not_started");
      throw new AppError(
        "conversation_not_started",
        `Call ${body.call_sid} exists but its ElevenLabs conversation has not started (no conversation_id yet).`,
        { details: { call_sid: body.call_sid } },
      );
    }
    log.info(result.duplicate ? "transcription_duplicate" : "transcription_saved", {
      conversation_id: result.conversationId,
      transcription_id: result.transcriptionId,
      sequence_number: result.sequenceNumber,
    });
    return c.json(
      {
        status: "success" as const,
        message: `Transcription saved for call_sid ${body.call_sid}`,
        call_sid: body.call_sid,
        conversation_id: result.conversationId,
        transcription_id: result.transcriptionId,
        sequence_number: result.sequenceNumber,
        duplicate: result.duplicate,
      },
      200,
    );
  },
);
