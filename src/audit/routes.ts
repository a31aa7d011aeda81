// GET /audit: the audit trail for the operator API (the console's Activity page reads the
// same function). Newest first, keyset-paginated.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { databaseOf } from "../db/context";
import { ACTOR_KINDS } from "../db/schema";
import { requireOperatorOrApiToken } from "../http/auth";
import { errorResponses } from "../http/openapi";
import { AUDIT_ACTIONS } from "./record";
import { listAuditEvents } from "./repository";

const auditEventSchema = z
  .object({
    id: z.string().openapi({ description: "Increasing with time of writing.", example: "42" }),
    at: z.string().openapi({ example: "2026-12-04T15:04:05.123Z" }),
    actor_kind: z.enum(ACTOR_KINDS),
    actor_id: z
      .string()
      .nullable()
      .openapi({ description: "The operator's id (actor_kind operator)." }),
    actor_name: z
      .string()
      .openapi({ description: "The operator's name at the time, `API token`, or `system`." }),
    action: z.string().openapi({ example: "campaign.cancelled" }),
    subject_type: z.string().nullable().openapi({ example: "campaign" }),
    subject_id: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()),
    ip: z.string().nullable(),
    request_id: z.string().nullable(),
  })
  .openapi("AuditEvent");

export const listAuditRoute = createRoute({
  method: "get",
  path: "/audit",
  operationId: "listAuditEvents",
  tags: ["audit"],
  summary: "The audit trail, newest first",
  description: `Who did what: every change made through the API or the console, every sign-in (and failed sign-in), and what the service did on its own (opt-outs, purges). Append-only. Actions: ${AUDIT_ACTIONS.map((action) => `\`${action}\``).join(", ")}.`,
  security: [{ bearerAuth: [] }],
  middleware: requireOperatorOrApiToken,
  request: {
    query: z.object({
      action: z.enum(AUDIT_ACTIONS).optional(),
      actor_id: z.uuid().optional().openapi({ description: "An operator's id." }),
      since: z.iso
        .datetime({ offset: true })
        .optional()
        .openapi({ description: "Only events at or after this instant (ISO 8601)." }),
      limit: z.coerce.number().int().min(1).max(500).default(100),
      cursor: z.string().min(1).max(300).optional(),
    }),
  },
  responses: {
    200: {
      description: "One page of events and the cursor of the next",
      content: {
        "application/json": {
          schema: z
            .object({ events: z.array(auditEventSchema), next_cursor: z.string().nullable() })
            .openapi("AuditEventList"),
        },
      },
    },
    ...errorResponses(400, 401, 503),
  },
});

export const auditRoutes = new OpenAPIHono<AppEnv>().openapi(listAuditRoute, async (c) => {
  const query = c.req.valid("query");
  const page = await listAuditEvents(databaseOf(c), {
    action: query.action,
    actorId: query.actor_id,
    since: query.since === undefined ? undefined : new Date(query.since),
    limit: query.limit,
    cursor: query.cursor,
  });
  return c.json({ events: page.events, next_cursor: page.nextCursor }, 200);
});
