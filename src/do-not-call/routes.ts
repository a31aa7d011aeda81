// The do-not-call list's operator API: PUT (add, idempotent), DELETE (remove, 204 also
// when absent), GET (newest first). Numbers are E.164 in the path, `+` URL-encoded (%2B).

import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { auditStampOf } from "../audit/record";
import { E164 } from "../calls/schemas";
import { databaseOf } from "../db/context";
import { requireOperatorOrApiToken } from "../http/auth";
import { AppError } from "../http/errors";
import { maskPhoneNumber } from "../http/log";
import { errorResponses } from "../http/openapi";
import { storableText } from "../http/schemas";
import { describeIssues } from "../http/validation";
import { addToDoNotCall, listDoNotCall, removeFromDoNotCall } from "./repository";

const entrySchema = z
  .object({
    phone_number: z.string().openapi({ example: "+15551230042" }),
    reason: z.string().nullable(),
    call_sid: z.string().nullable().openapi({
      description: "For opt-outs: the call in which the driver asked not to be called again.",
    }),
    created_at: z.string(),
  })
  .openapi("DoNotCallEntry");

const phoneParam = z.object({
  phone_number: z
    .string()
    .regex(E164, "must be an E.164 phone number such as +15551230042 (URL-encode + as %2B)")
    .openapi({ param: { name: "phone_number", in: "path" }, example: "+15551230042" }),
});

const addBodySchema = z.object({ reason: storableText(1, 500).optional() }).openapi("DoNotCallAdd");

const auth = requireOperatorOrApiToken;

export const addRoute = createRoute({
  method: "put",
  path: "/do-not-call/{phone_number}",
  operationId: "addToDoNotCall",
  tags: ["do-not-call"],
  summary: "Put a number on the do-not-call list",
  description:
    "Idempotent: a number already on the list keeps its first entry. Checked at dial time, so a number added mid-campaign is not dialed again. The body is optional.",
  security: [{ bearerAuth: [] }],
  middleware: auth,
  request: {
    params: phoneParam,
    body: { content: { "application/json": { schema: addBodySchema } }, required: false },
  },
  responses: {
    200: { description: "On the list", content: { "application/json": { schema: entrySchema } } },
    ...errorResponses(400, 401, 413, 415, 503),
  },
});

export const removeRoute = createRoute({
  method: "delete",
  path: "/do-not-call/{phone_number}",
  operationId: "removeFromDoNotCall",
  tags: ["do-not-call"],
  summary: "Take a number off the do-not-call list",
  description:
    "Recorded in the audit trail as `do_not_call.removed` with the reason given (and what the entry said: an opt-out's call_sid). Give the reason: the calling rules ask who took a number off, and why.",
  security: [{ bearerAuth: [] }],
  middleware: auth,
  request: {
    params: phoneParam,
    query: z.object({
      reason: storableText(1, 500)
        .optional()
        .openapi({ description: "Why the number comes off the list (kept in the audit trail)." }),
    }),
  },
  responses: {
    204: { description: "Not on the list (whether or not it was)" },
    ...errorResponses(400, 401, 503),
  },
});

export const listRoute = createRoute({
  method: "get",
  path: "/do-not-call",
  operationId: "listDoNotCall",
  tags: ["do-not-call"],
  summary: "The do-not-call list, newest first",
  security: [{ bearerAuth: [] }],
  middleware: auth,
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(500).default(100),
      cursor: z.string().min(1).max(300).optional(),
    }),
  },
  responses: {
    200: {
      description: "One page of entries and the cursor of the next",
      content: {
        "application/json": {
          schema: z
            .object({ entries: z.array(entrySchema), next_cursor: z.string().nullable() })
            .openapi("DoNotCallList"),
        },
      },
    },
    ...errorResponses(400, 401, 503),
  },
});

export const doNotCallRoutes = new OpenAPIHono<AppEnv>()
  .openapi(addRoute, async (c) => {
    const { phone_number: phoneNumber } = c.req.valid("param");
    // Optional body: an empty one means "no reason given".
    const text = await c.req.text();
    const parsed = addBodySchema.safeParse(text.trim() === "" ? {} : JSON.parse(text));
    if (!parsed.success) {
      throw new AppError("invalid_request", "The request is invalid: check reason.", {
        details: describeIssues(parsed.error.issues),
      });
    }
    const entry = await addToDoNotCall(
      databaseOf(c),
      { phoneNumber, reason: parsed.data.reason ?? null },
      auditStampOf(c),
    );
    c.get("log").info("do_not_call_added", { to: maskPhoneNumber(phoneNumber) });
    return c.json(entry, 200);
  })
  .openapi(removeRoute, async (c) => {
    const { phone_number: phoneNumber } = c.req.valid("param");
    const { reason } = c.req.valid("query");
    const removed = await removeFromDoNotCall(
      databaseOf(c),
      { phoneNumber, reason: reason ?? null },
      auditStampOf(c),
    );
    c.get("log").info("do_not_call_removed", { to: maskPhoneNumber(phoneNumber), removed });
    return c.body(null, 204);
  })
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const page = await listDoNotCall(databaseOf(c), query);
    return c.json({ entries: page.entries, next_cursor: page.nextCursor }, 200);
  });
