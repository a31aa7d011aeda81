// POST /drivers/{driver_id}/erase: a driver asked for their data to be erased (the console's
// `Erase this driver's data` button does the same through eraseDriverData).
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditStampOf } from "../audit/record";
import { databaseOf } from "../db/context";
import { requireOperatorOrApiToken } from "../http/auth";
import { AppError } from "../http/errors";
import { errorResponses } from "../http/openapi";
import { eraseDriverData } from "./erase";

const count = (description: string) => z.number().int().min(0).openapi({ description });

const erasureSchema = z
  .object({
    driver_id: z.number().int().openapi({ example: 1042 }),
    erased: z.object({
      calls: count(
        "Calls whose number, transcript, analysis and failure detail were erased by this request (the rows stay: status, times, call_successful).",
      ),
      transcript_turns: count("Live transcript turns deleted."),
      campaign_targets: count(
        "Campaign targets whose name, number and violations were erased (the rows stay, with their status and attempts).",
      ),
      queued_targets_cancelled: count(
        "Of those, targets still waiting to be called: now CANCELLED with last_failure_reason `driver_erased`, never dialed.",
      ),
      post_call_events: count(
        "Post-call events kept for a call not known yet that were this driver's (deleted).",
      ),
    }),
    do_not_call_numbers_kept: count(
      "The driver's numbers on the do-not-call list. They stay on it: a driver who asked not to be called must not be called again.",
    ),
  })
  .openapi("DriverErasure");

export const eraseDriverRoute = createRoute({
  method: "post",
  path: "/drivers/{driver_id}/erase",
  operationId: "eraseDriverData",
  tags: ["drivers"],
  summary: "Erase a driver's data",
  description:
    "Erases the driver's transcripts, analyses, failure details, names, violations and phone numbers from their calls and campaign targets, and any post-call event kept for them. The rows stay, marked erased, so counts and campaign results still add up; targets still waiting are cancelled. The do-not-call list keeps the driver's numbers. Recorded in the audit trail as `driver.erased` with the counts (never the name or number). Repeating it is a 200 with zero counts. A driver on a live call is a 409 `driver_in_call` with nothing erased: erase once the call has ended. No body.",
  security: [{ bearerAuth: [] }],
  middleware: requireOperatorOrApiToken,
  request: {
    params: z.object({
      driver_id: z.coerce
        .number()
        .int()
        .min(1)
        .max(2_147_483_647)
        .openapi({ param: { name: "driver_id", in: "path" }, example: 1042 }),
    }),
  },
  responses: {
    200: {
      description: "What was erased now (all zero when there was nothing left to erase)",
      content: { "application/json": { schema: erasureSchema } },
    },
    ...errorResponses(400, 401, 409, 503),
  },
});

export const retentionRoutes = new OpenAPIHono<AppEnv>().openapi(eraseDriverRoute, async (c) => {
  const { driver_id: driverId } = c.req.valid("param");
  const result = await eraseDriverData(databaseOf(c), driverId, auditStampOf(c));
  if (result.kind === "in_call") {
    throw new AppError(
      "driver_in_call",
      `Driver ${driverId} is on a call right now (${result.callSid}), which would store a transcript after the erasure. Nothing was erased: erase again once the call has ended.`,
      { details: { driver_id: driverId, call_sid: result.callSid } },
    );
  }
  c.get("log").info("driver_erased", { driver_id: driverId, ...result.counts });
  return c.json(
    {
      driver_id: driverId,
      erased: result.counts,
      do_not_call_numbers_kept: result.doNotCallNumbersKept,
    },
    200,
  );
});
