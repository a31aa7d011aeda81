// The operator API: POST /calls/batch (and the read routes). A thin caller of the
// dispatcher (src/dispatch/batch.ts), under the request's Idempotency-Key if it has one.

import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditStampOf } from "../audit/record";
import { databaseOf } from "../db/context";
import { placeBatch } from "../dispatch/batch";
import { wakeDispatcher } from "../dispatch/queue";
import { requireOperatorOrApiToken } from "../http/auth";
import { answerIdempotently, IDEMPOTENCY_KEY } from "../http/idempotency";
import { errorResponses } from "../http/openapi";
import { batchRequestSchema, batchResponseSchema } from "./schemas";

/** The Idempotency-Key header as the OpenAPI document describes it. */
export const idempotencyKeyHeader = z.object({
  "idempotency-key": z.string().regex(IDEMPOTENCY_KEY).optional().openapi({
    description:
      "1..255 printable ASCII characters. Within 24 hours the same key and body replay the first answer (Idempotent-Replayed: true) and call nobody again; another body is 422; while the first is being answered, 409.",
    example: "batch-2026-11-30-week48",
  }),
});

export const batchRoute = createRoute({
  method: "post",
  path: "/calls/batch",
  operationId: "placeBatchCalls",
  tags: ["calls"],
  summary: "Call a batch of drivers about their violations",
  description:
    "Takes a free live-call slot for every driver (all or none: 429 at_capacity when there are fewer free slots than drivers, and nothing is written), writes one Call row per driver, then asks ElevenLabs to dial (at most CALL_CONCURRENCY at once). Numbers on the do-not-call list are not dialed (FAILED, do_not_call), nor numbers in a live call from any campaign or batch, or given twice in this batch (FAILED, number_in_call: one number, one live call). One result per driver, in request order.",
  security: [{ bearerAuth: [] }],
  middleware: [requireOperatorOrApiToken] as const,
  request: {
    headers: idempotencyKeyHeader,
    body: { content: { "application/json": { schema: batchRequestSchema } }, required: true },
  },
  responses: {
    200: {
      description:
        "Every driver has a Call row; each result says whether ElevenLabs accepted the call",
      content: { "application/json": { schema: batchResponseSchema } },
    },
    ...errorResponses(400, 401, 409, 413, 415, 422, 429, 503),
  },
});

export const callRoutes = new OpenAPIHono<AppEnv>().openapi(batchRoute, async (c) => {
  const { drivers } = c.req.valid("json");
  const config = c.get("config");
  const deps = c.get("deps");
  const log = c.get("log");
  // Built before any row is written: a missing ElevenLabs setting must not leave rows behind.
  const elevenLabs = deps.elevenLabs(config);
  const db = databaseOf(c);
  // A Response built from the stored answer (it may be a replay), so typed loosely.
  const response = await answerIdempotently(c, db, "POST /calls/batch", async () => {
    const result = await placeBatch({
      db,
      elevenLabs,
      drivers,
      concurrency: config.CALL_CONCURRENCY,
      maxLiveCalls: config.MAX_LIVE_CALLS,
      transcriptionWebhookToken: config.TRANSCRIPTION_WEBHOOK_TOKEN,
      clock: deps.clock,
      log,
      queue: c.env?.DISPATCH_QUEUE,
      audit: auditStampOf(c),
    });
    // A failed dial freed its slot at once: a waiting campaign target may take it.
    if (result.summary.failed > 0) {
      await wakeDispatcher(c.env?.DISPATCH_QUEUE, log, { reason: "batch_call_failed" });
    }
    return { status: 200, body: JSON.stringify(result), headers: {} };
  });
  return response as never;
});
