// The operator API of campaigns: create (202, every driver stored, nobody dialed in this
// request), read, list, list targets, cancel. All need the operator's Bearer API_TOKEN.

import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { auditStampOf } from "../audit/record";
import { idempotencyKeyHeader } from "../calls/routes";
import type { Database } from "../db/client";
import { databaseOf } from "../db/context";
import { TARGET_STATUSES } from "../db/schema";
import { wakeDispatcher } from "../dispatch/queue";
import { requireOperatorOrApiToken } from "../http/auth";
import { AppError } from "../http/errors";
import { answerIdempotently } from "../http/idempotency";
import { errorResponses } from "../http/openapi";
import {
  campaignIdFor,
  cancelCampaign,
  createCampaign,
  getCampaign,
  listCampaigns,
  listTargets,
} from "./repository";
import { campaignResultsCsv, resultsFileName } from "./results-csv";
import {
  type CampaignView,
  type CreateCampaignRequest,
  campaignIdParam,
  campaignSchema,
  campaignTargetSchema,
  createCampaignRequestSchema,
  cursorQuery,
} from "./schemas";

const campaignEnvelope = z.object({ campaign: campaignSchema }).openapi("CampaignEnvelope");

function campaignNotFound(id: string): AppError {
  return new AppError("campaign_not_found", `No campaign has id ${id}.`, { details: { id } });
}

const auth = requireOperatorOrApiToken;

export const createCampaignRoute = createRoute({
  method: "post",
  path: "/campaigns",
  operationId: "createCampaign",
  tags: ["campaigns"],
  summary: "Start a campaign: up to 10,000 drivers, called in the background",
  description:
    "Stores every driver before answering (202); nobody is dialed in this request. The dispatcher then calls each driver inside its calling window (in its own time zone), never more calls at once than MAX_LIVE_CALLS, retrying busy / no-answer / voicemail as `retry` says. Numbers on the do-not-call list are SKIPPED. Body up to 5 MiB.",
  security: [{ bearerAuth: [] }],
  middleware: auth,
  request: {
    headers: idempotencyKeyHeader,
    body: {
      content: { "application/json": { schema: createCampaignRequestSchema } },
      required: true,
    },
  },
  responses: {
    202: {
      description: "Accepted: the campaign and every driver are stored (Location: /campaigns/{id})",
      content: { "application/json": { schema: campaignEnvelope } },
    },
    ...errorResponses(400, 401, 409, 413, 415, 422, 503),
  },
});

export const listCampaignsRoute = createRoute({
  method: "get",
  path: "/campaigns",
  operationId: "listCampaigns",
  tags: ["campaigns"],
  summary: "List campaigns, newest first",
  security: [{ bearerAuth: [] }],
  middleware: auth,
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(50),
      cursor: cursorQuery,
    }),
  },
  responses: {
    200: {
      description: "One page of campaigns and the cursor of the next",
      content: {
        "application/json": {
          schema: z
            .object({ campaigns: z.array(campaignSchema), next_cursor: z.string().nullable() })
            .openapi("CampaignList"),
        },
      },
    },
    ...errorResponses(400, 401, 503),
  },
});

export const getCampaignRoute = createRoute({
  method: "get",
  path: "/campaigns/{id}",
  operationId: "getCampaign",
  tags: ["campaigns"],
  summary: "Read a campaign and its counts per target status",
  security: [{ bearerAuth: [] }],
  middleware: auth,
  request: { params: campaignIdParam },
  responses: {
    200: {
      description: "The campaign",
      content: { "application/json": { schema: campaignEnvelope } },
    },
    ...errorResponses(400, 401, 404, 503),
  },
});

export const listTargetsRoute = createRoute({
  method: "get",
  path: "/campaigns/{id}/targets",
  operationId: "listCampaignTargets",
  tags: ["campaigns"],
  summary: "A campaign's drivers, in request order",
  security: [{ bearerAuth: [] }],
  middleware: auth,
  request: {
    params: campaignIdParam,
    query: z.object({
      status: z.enum(TARGET_STATUSES).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(100),
      cursor: cursorQuery,
    }),
  },
  responses: {
    200: {
      description: "One page of targets and the cursor of the next",
      content: {
        "application/json": {
          schema: z
            .object({
              targets: z.array(campaignTargetSchema),
              next_cursor: z.string().nullable(),
            })
            .openapi("CampaignTargetList"),
        },
      },
    },
    ...errorResponses(400, 401, 404, 503),
  },
});

export const cancelCampaignRoute = createRoute({
  method: "post",
  path: "/campaigns/{id}/cancel",
  operationId: "cancelCampaign",
  tags: ["campaigns"],
  summary: "Cancel a campaign",
  description:
    "Every target not yet dialed becomes CANCELLED; calls already ringing go on and are recorded. Repeating it is a 200; a campaign that already finished is a 409.",
  security: [{ bearerAuth: [] }],
  middleware: auth,
  request: { params: campaignIdParam },
  responses: {
    200: {
      description: "The campaign, CANCELLED",
      content: { "application/json": { schema: campaignEnvelope } },
    },
    ...errorResponses(400, 401, 404, 409, 503),
  },
});

export const resultsCsvRoute = createRoute({
  method: "get",
  path: "/campaigns/{id}/results.csv",
  operationId: "downloadCampaignResults",
  tags: ["campaigns"],
  summary: "The campaign's results as CSV, one row per driver",
  description:
    "RFC 4180, UTF-8 starting with a byte-order mark (so Excel on Windows reads names right), header row; one row per driver in request order: driver_id, driver_name, phone_number, status, attempts, last_call_sid, call_successful, summary, termination_reason, last_failure_reason, then dc_<id> per data-collection id found in the campaign. A cell whose first non-blank character is =, +, -, @ (or that starts with a tab or a carriage return) gets a leading ' so a spreadsheet does not run it, in every column but phone_number (E.164). Streamed.",
  security: [{ bearerAuth: [] }],
  middleware: auth,
  request: { params: campaignIdParam },
  responses: {
    200: {
      description: "The CSV file (Content-Disposition: attachment)",
      content: { "text/csv": { schema: z.string() } },
    },
    ...errorResponses(400, 401, 404, 503),
  },
});

/** The results CSV as a download; the console serves it with the same function. */
export function resultsCsvResponse(
  result: NonNullable<Awaited<ReturnType<typeof campaignResultsCsv>>>,
) {
  return new Response(result.stream, {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${resultsFileName(result.campaign)}"`,
      "cache-control": "no-store",
    },
  });
}

/**
 * Stores a validated campaign and wakes the dispatcher: the one way a campaign starts,
 * for POST /campaigns and the console's form alike.
 */
export async function startCampaign(
  c: Context<AppEnv>,
  db: Database,
  request: CreateCampaignRequest,
): Promise<CampaignView> {
  const log = c.get("log");
  const now = c.get("deps").clock.now();
  // With an Idempotency-Key, the campaign's id follows from it (and the body): a retry whose
  // first try was written but answered 503 (the key released) finds that campaign.
  const key = c.req.header("idempotency-key");
  const id = key ? await campaignIdFor(key, JSON.stringify(request)) : undefined;
  const { campaign, firstAttemptAt } = await createCampaign(db, request, now, auditStampOf(c), id);
  log.info("campaign_created", {
    campaign_id: campaign.id,
    drivers: campaign.counts.total,
    skipped: campaign.counts.skipped,
  });
  if (firstAttemptAt) {
    // Now for whoever is due at once; delayed for a campaign that starts later (the
    // cron covers it too).
    await wakeDispatcher(c.env?.DISPATCH_QUEUE, log, {
      reason: "campaign_created",
      at: firstAttemptAt,
      now,
    });
  }
  return campaign;
}

export const campaignRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createCampaignRoute, async (c) => {
    const request = c.req.valid("json");
    const db = databaseOf(c);
    const response = await answerIdempotently(c, db, "POST /campaigns", async () => {
      const campaign = await startCampaign(c, db, request);
      return {
        status: 202,
        body: JSON.stringify({ campaign }),
        headers: { Location: `/campaigns/${campaign.id}` },
      };
    });
    return response as never;
  })
  .openapi(listCampaignsRoute, async (c) => {
    const query = c.req.valid("query");
    const page = await listCampaigns(databaseOf(c), query);
    return c.json({ campaigns: page.campaigns, next_cursor: page.nextCursor }, 200);
  })
  .openapi(getCampaignRoute, async (c) => {
    const { id } = c.req.valid("param");
    const campaign = await getCampaign(databaseOf(c), id);
    if (!campaign) throw campaignNotFound(id);
    return c.json({ campaign }, 200);
  })
  .openapi(listTargetsRoute, async (c) => {
    const { id } = c.req.valid("param");
    const query = c.req.valid("query");
    const page = await listTargets(databaseOf(c), {
      campaignId: id,
      status: query.status,
      limit: query.limit,
      cursor: query.cursor,
      now: c.get("deps").clock.now(),
    });
    if (!page) throw campaignNotFound(id);
    return c.json({ targets: page.targets, next_cursor: page.nextCursor }, 200);
  })
  .openapi(resultsCsvRoute, async (c) => {
    const { id } = c.req.valid("param");
    const result = await campaignResultsCsv(databaseOf(c), id);
    if (!result) throw campaignNotFound(id);
    return resultsCsvResponse(result) as never;
  })
  .openapi(cancelCampaignRoute, async (c) => {
    const { id } = c.req.valid("param");
    const result = await cancelCampaign(databaseOf(c), id, auditStampOf(c));
    if (result.kind === "not_found") throw campaignNotFound(id);
    if (result.kind === "finished") {
      throw new AppError(
        "campaign_finished",
        `Campaign ${id} already finished (COMPLETED): there is nothing left to cancel.`,
        { details: { id, status: result.campaign.status } },
      );
    }
    c.get("log").info("campaign_cancelled", {
      campaign_id: id,
      targets_cancelled: result.targetsCancelled,
    });
    return c.json({ campaign: result.campaign }, 200);
  });
