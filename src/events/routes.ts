// The operator API of events: endpoints (register, list, delete, rotate the secret,
// re-enable), an endpoint's delivery log, and resending an event.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { auditStampOf } from "../audit/record";
import { databaseOf } from "../db/context";
import { DELIVERY_STATUSES, EVENT_TYPES } from "../db/schema";
import { requireOperatorOrApiToken } from "../http/auth";
import { AppError } from "../http/errors";
import { errorResponses } from "../http/openapi";
import { listDeliveries, resendEvent } from "./deliveries";
import { checkEndpointUrl } from "./endpoint-url";
import {
  createEndpoint,
  deleteEndpoint,
  enableEndpoint,
  getEndpoint,
  listEndpoints,
  rotateEndpointSecret,
} from "./endpoints";
import { nudgeEventSender } from "./queue";

const endpointSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.enum(EVENT_TYPES)),
    created_at: z.string(),
    disabled_at: z.string().nullable().openapi({
      description: "Set when every delivery failed for 5 days; POST .../enable turns it back on.",
    }),
    failing_since: z.string().nullable(),
    previous_secret_expires_at: z.string().nullable().openapi({
      description: "After a rotation: until when the previous secret also signs.",
    }),
  })
  .openapi("EventEndpoint");

const endpointWithSecretSchema = endpointSchema
  .extend({
    secret: z.string().openapi({
      description: "`whsec_` + base64. Shown only in this answer: store it to verify signatures.",
    }),
  })
  .openapi("EventEndpointWithSecret");

const createBodySchema = z
  .object({
    url: z
      .string()
      .min(1)
      .max(2048)
      .openapi({ example: "https://tms.fleet.example/hooks/driver-calls" }),
    events: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length),
  })
  .openapi("EventEndpointCreate");

const idParam = z.object({
  id: z.string().openapi({
    param: { name: "id", in: "path" },
    example: "0193a1c2-7f00-4c3e-9d7e-3a1f0c2b4d5e",
  }),
});

const attemptSchema = z.object({
  at: z.string(),
  status_code: z.number().int().nullable(),
  duration_ms: z.number().int(),
  error: z.string().nullable(),
  next_attempt_at: z.string().nullable(),
});

const deliverySchema = z
  .object({
    id: z.string(),
    event_id: z.string().openapi({ description: "The `webhook-id` of every attempt and resend." }),
    event_type: z.enum(EVENT_TYPES),
    status: z.enum(DELIVERY_STATUSES),
    attempts: z.array(attemptSchema),
    next_attempt_at: z.string().nullable(),
    created_at: z.string(),
    delivered_at: z.string().nullable(),
  })
  .openapi("EventDelivery");

const auth = requireOperatorOrApiToken;
const security = [{ bearerAuth: [] }];

export const createEndpointRoute = createRoute({
  method: "post",
  path: "/event-endpoints",
  operationId: "createEventEndpoint",
  tags: ["events"],
  summary: "Register an endpoint for signed events",
  description:
    "Events are POSTed as JSON `{type, timestamp, data}`, signed as Standard Webhooks say (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The URL must be https and not a private, loopback or link-local address.",
  security,
  middleware: auth,
  request: {
    body: { content: { "application/json": { schema: createBodySchema } }, required: true },
  },
  responses: {
    201: {
      description: "Registered",
      content: { "application/json": { schema: endpointWithSecretSchema } },
    },
    ...errorResponses(400, 401, 413, 415, 503),
  },
});

export const listEndpointsRoute = createRoute({
  method: "get",
  path: "/event-endpoints",
  operationId: "listEventEndpoints",
  tags: ["events"],
  summary: "The registered endpoints (without their secrets)",
  security,
  middleware: auth,
  responses: {
    200: {
      description: "Every endpoint not deleted",
      content: {
        "application/json": {
          schema: z.object({ endpoints: z.array(endpointSchema) }).openapi("EventEndpointList"),
        },
      },
    },
    ...errorResponses(401, 503),
  },
});

export const deleteEndpointRoute = createRoute({
  method: "delete",
  path: "/event-endpoints/{id}",
  operationId: "deleteEventEndpoint",
  tags: ["events"],
  summary: "Delete an endpoint (its pending deliveries end as failed)",
  security,
  middleware: auth,
  request: { params: idParam },
  responses: { 204: { description: "Deleted" }, ...errorResponses(401, 404, 503) },
});

export const rotateSecretRoute = createRoute({
  method: "post",
  path: "/event-endpoints/{id}/rotate-secret",
  operationId: "rotateEventEndpointSecret",
  tags: ["events"],
  summary: "A new secret; the old one keeps signing beside it for 24 hours",
  security,
  middleware: auth,
  request: { params: idParam },
  responses: {
    200: {
      description: "The new secret, shown only here",
      content: { "application/json": { schema: endpointWithSecretSchema } },
    },
    ...errorResponses(401, 404, 503),
  },
});

export const enableEndpointRoute = createRoute({
  method: "post",
  path: "/event-endpoints/{id}/enable",
  operationId: "enableEventEndpoint",
  tags: ["events"],
  summary: "Re-enable an endpoint that 5 days of failed deliveries disabled",
  security,
  middleware: auth,
  request: { params: idParam },
  responses: {
    200: { description: "Enabled", content: { "application/json": { schema: endpointSchema } } },
    ...errorResponses(401, 404, 503),
  },
});

export const listDeliveriesRoute = createRoute({
  method: "get",
  path: "/event-endpoints/{id}/deliveries",
  operationId: "listEventDeliveries",
  tags: ["events"],
  summary: "An endpoint's delivery log, newest first",
  security,
  middleware: auth,
  request: {
    params: idParam,
    query: z.object({
      status: z.enum(DELIVERY_STATUSES).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().min(1).max(300).optional(),
    }),
  },
  responses: {
    200: {
      description: "One page of deliveries, each with its attempts, and the cursor of the next",
      content: {
        "application/json": {
          schema: z
            .object({ deliveries: z.array(deliverySchema), next_cursor: z.string().nullable() })
            .openapi("EventDeliveryList"),
        },
      },
    },
    ...errorResponses(400, 401, 404, 503),
  },
});

export const resendEventRoute = createRoute({
  method: "post",
  path: "/events/{id}/resend",
  operationId: "resendEvent",
  tags: ["events"],
  summary: "Send an event again, with the same webhook-id",
  security,
  middleware: auth,
  request: {
    params: z.object({
      id: z.string().openapi({
        param: { name: "id", in: "path" },
        example: "msg_0b7f5c2e9a5c4d1e8f3a2b1c0d9e8f7a",
      }),
    }),
  },
  responses: {
    202: {
      description: "Queued again for every endpoint it went to",
      content: {
        "application/json": {
          schema: z
            .object({ event_id: z.string(), deliveries: z.number().int() })
            .openapi("EventResent"),
        },
      },
    },
    ...errorResponses(401, 404, 503),
  },
});

function endpointNotFound(id: string) {
  return new AppError("not_found", `No event endpoint ${id}.`, { details: { id } });
}

/** Refuses a URL the service must not send to (400 naming `url`). */
export function checkedUrl(c: Context<AppEnv>, url: string): string {
  const verdict = checkEndpointUrl(url, {
    allowLocal: c.get("config").ALLOW_LOCAL_EVENT_ENDPOINTS,
  });
  if (!verdict.ok) {
    throw new AppError(
      "invalid_request",
      `The request is invalid: check url (${verdict.reason}).`,
      {
        details: [{ field: "url", message: verdict.reason }],
      },
    );
  }
  return verdict.url;
}

export const eventRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createEndpointRoute, async (c) => {
    const body = c.req.valid("json");
    const url = checkedUrl(c, body.url);
    const endpoint = await createEndpoint(
      databaseOf(c),
      { url, events: body.events },
      auditStampOf(c),
    );
    c.get("log").info("event_endpoint_created", {
      endpoint_id: endpoint.id,
      events: body.events.join(","),
    });
    return c.json(endpoint, 201);
  })
  .openapi(listEndpointsRoute, async (c) => {
    return c.json({ endpoints: await listEndpoints(databaseOf(c)) }, 200);
  })
  .openapi(deleteEndpointRoute, async (c) => {
    const { id } = c.req.valid("param");
    if (!(await deleteEndpoint(databaseOf(c), id, auditStampOf(c)))) throw endpointNotFound(id);
    return c.body(null, 204);
  })
  .openapi(rotateSecretRoute, async (c) => {
    const { id } = c.req.valid("param");
    const rotated = await rotateEndpointSecret(databaseOf(c), id, c.get("deps").clock.now());
    if (!rotated) throw endpointNotFound(id);
    return c.json(rotated, 200);
  })
  .openapi(enableEndpointRoute, async (c) => {
    const { id } = c.req.valid("param");
    const enabled = await enableEndpoint(databaseOf(c), id);
    if (!enabled) throw endpointNotFound(id);
    await nudgeEventSender(c.env?.EVENTS_QUEUE, c.get("log"), { reason: "endpoint_enabled" });
    return c.json(enabled, 200);
  })
  .openapi(listDeliveriesRoute, async (c) => {
    const { id } = c.req.valid("param");
    const query = c.req.valid("query");
    const db = databaseOf(c);
    if (!(await getEndpoint(db, id))) throw endpointNotFound(id);
    const page = await listDeliveries(db, { endpointId: id, ...query });
    return c.json({ deliveries: page.deliveries, next_cursor: page.nextCursor }, 200);
  })
  .openapi(resendEventRoute, async (c) => {
    const { id } = c.req.valid("param");
    const resent = await resendEvent(databaseOf(c), id, c.get("deps").clock.now());
    if (!resent) throw new AppError("not_found", `No event ${id}.`, { details: { id } });
    await nudgeEventSender(c.env?.EVENTS_QUEUE, c.get("log"), { reason: "event_resent" });
    return c.json({ event_id: id, deliveries: resent.deliveries }, 202);
  });
