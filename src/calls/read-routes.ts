// The operator API's reads: GET /calls/{call_sid} (a call with its transcript) and
// GET /calls (newest first, keyset-paginated). Both need the operator's Bearer API_TOKEN.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { databaseOf } from "../db/context";
import { CALL_STATUSES } from "../db/schema";
import { requireOperatorOrApiToken } from "../http/auth";
import { AppError } from "../http/errors";
import { errorResponses } from "../http/openapi";
import { storableText } from "../http/schemas";
import { getCallWithTranscript, listCalls } from "./read";
import { callSchema } from "./schemas";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 100;

const transcriptEntrySchema = z
  .object({
    sequence_number: z.number().int().openapi({ example: 1 }),
    speaker: z.string().openapi({ example: "agent" }),
    message: z.string().openapi({ example: "Hi, this is the safety team calling." }),
    timestamp: z.string().openapi({ format: "date-time", example: "2026-11-23T14:05:09.120Z" }),
  })
  .openapi("TranscriptEntry");

const outcomeSchema = z.enum(["success", "failure", "unknown"]);

const analysisSchema = z
  .object({
    call_successful: outcomeSchema.nullable(),
    summary: z.string().nullable(),
    data_collection: z.record(z.string(), z.unknown()).nullable().openapi({
      description:
        "ElevenLabs' data-collection answers by id (acknowledged_violation, disputes_violation, opt_out, ...): any JSON value, or null.",
    }),
    evaluation: z.record(z.string(), outcomeSchema).nullable(),
    termination_reason: z.string().nullable(),
  })
  .openapi("CallAnalysis", {
    description:
      "What ElevenLabs' post-call analysis found out; every value null until the call is finished.",
  });

const callWithTranscriptSchema = z
  .object({
    call: callSchema,
    transcript: z.array(transcriptEntrySchema),
    analysis: analysisSchema,
  })
  .openapi("CallWithTranscript");

const callListSchema = z
  .object({
    calls: z.array(callSchema),
    next_cursor: z
      .string()
      .nullable()
      .openapi({ description: "Pass as `cursor` to get the next page; null on the last page." }),
  })
  .openapi("CallList");

export const getCallRoute = createRoute({
  method: "get",
  path: "/calls/{call_sid}",
  operationId: "getCall",
  tags: ["calls"],
  summary: "Read one call and its transcript",
  security: [{ bearerAuth: [] }],
  middleware: [requireOperatorOrApiToken] as const,
  request: {
    params: z.object({
      call_sid: storableText(1, 255).openapi({
        param: { name: "call_sid", in: "path" },
        example: "EL_1042_1763900000",
      }),
    }),
  },
  responses: {
    200: {
      description:
        "The call, its transcript in the order spoken (ElevenLabs' final transcript once the call is over; the live turns by sequence_number before that) and its analysis",
      content: { "application/json": { schema: callWithTranscriptSchema } },
    },
    ...errorResponses(400, 401, 404, 503),
  },
});

export const listCallsRoute = createRoute({
  method: "get",
  path: "/calls",
  operationId: "listCalls",
  tags: ["calls"],
  summary: "List calls, newest first",
  description:
    "Ordered by created_at, then id, newest first. Follow next_cursor for the next page: calls created while you page do not shift or repeat the pages (they sort before the first page).",
  security: [{ bearerAuth: [] }],
  middleware: [requireOperatorOrApiToken] as const,
  request: {
    query: z.object({
      status: z.enum(CALL_STATUSES).optional(),
      call_successful: outcomeSchema.optional(),
      driver_id: z.coerce
        .number()
        .int()
        .min(1)
        .max(2_147_483_647)
        .optional()
        .openapi({ example: 1042 }),
      limit: z.coerce
        .number()
        .int()
        .min(1)
        .max(MAX_PAGE_SIZE)
        .default(DEFAULT_PAGE_SIZE)
        .openapi({ example: DEFAULT_PAGE_SIZE }),
      cursor: z
        .string()
        .min(1)
        .max(200)
        .optional()
        .openapi({ description: "next_cursor of the previous page" }),
    }),
  },
  responses: {
    200: {
      description: "One page of calls and the cursor of the next",
      content: { "application/json": { schema: callListSchema } },
    },
    ...errorResponses(400, 401, 503),
  },
});

export const callReadRoutes = new OpenAPIHono<AppEnv>()
  .openapi(getCallRoute, async (c) => {
    const { call_sid: callSid } = c.req.valid("param");
    c.set("callSid", callSid);
    const found = await getCallWithTranscript(databaseOf(c), callSid);
    if (!found) {
      throw new AppError("call_not_found", `No call has call_sid ${callSid}.`, {
        status: 404,
        details: { call_sid: callSid },
      });
    }
    return c.json(
      { call: found.call, transcript: found.transcript, analysis: found.analysis },
      200,
    );
  })
  .openapi(listCallsRoute, async (c) => {
    const query = c.req.valid("query");
    const page = await listCalls(databaseOf(c), {
      status: query.status,
      driverId: query.driver_id,
      callSuccessful: query.call_successful,
      limit: query.limit,
      cursor: query.cursor,
    });
    return c.json({ calls: page.calls, next_cursor: page.nextCursor }, 200);
  });
