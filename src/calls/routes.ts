// The operator API: POST /calls/batch (and the read routes).
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { databaseOf } from "../db/context";
import { requireBearerToken } from "../http/auth";
import { errorResponses } from "../http/openapi";
import { initiateBatch } from "./initiate-batch";
import { batchRequestSchema, batchResponseSchema } from "./schemas";

export const batchRoute = createRoute({
  method: "post",
  path: "/calls/batch",
  operationId: "placeBatchCalls",
  tags: ["calls"],
  summary: "Call a batch of drivers about their violations",
  description:
    "Writes one Call row per driver first, then asks ElevenLabs to dial (at most CALL_CONCURRENCY at once). One result per driver, in request order.",
  security: [{ bearerAuth: [] }],
  middleware: [requireBearerToken("API_TOKEN")] as const,
  request: {
    body: { content: { "application/json": { schema: batchRequestSchema } }, required: true },
  },
  responses: {
    200: {
      description:
        "Every driver has a Call row; each result says whether ElevenLabs accepted the call",
      content: { "application/json": { schema: batchResponseSchema } },
    },
    ...errorResponses(400, 401, 413, 415, 503),
  },
});

export const callRoutes = new OpenAPIHono<AppEnv>().openapi(batchRoute, async (c) => {
  const { drivers } = c.req.valid("json");
  const config = c.get("config");
  const deps = c.get("deps");
  // Built before any row is written: a missing ElevenLabs setting must not leave rows behind.
  const elevenLabs = deps.elevenLabs(config);
  const result = await initiateBatch({
    db: databaseOf(c),
    elevenLabs,
    drivers,
    concurrency: config.CALL_CONCURRENCY,
    transcriptionWebhookToken: config.TRANSCRIPTION_WEBHOOK_TOKEN,
    clock: deps.clock,
    log: c.get("log"),
  });
  return c.json(result, 200);
});
