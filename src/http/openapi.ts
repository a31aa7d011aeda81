// The error responses, as the OpenAPI document describes them: one shape for all.
import { z } from "@hono/zod-openapi";
import { BODY_RULES, DEFAULT_MAX_BODY_BYTES, formatBytes } from "./body";
import { ERROR_STATUS } from "./errors";

export const errorSchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS]),
      message: z.string(),
      details: z.unknown().optional(),
      request_id: z.string(),
    }),
  })
  .openapi("Error");

const DESCRIPTIONS: Record<number, string> = {
  400: "Invalid JSON, a schema violation (details name the fields), or a request the current state refuses",
  401: "Missing or wrong credential",
  404: "Not found",
  413: `Body larger than the route's limit (details.max_bytes): ${Object.entries(BODY_RULES)
    .map(([route, rule]) => `${formatBytes(rule.maxBytes)} for ${route}`)
    .join(", ")}, ${formatBytes(DEFAULT_MAX_BODY_BYTES)} for every other route`,
  409: "Conflicts with the current state: idempotency_key_in_use (the first request with this key is still being answered), campaign_finished, or driver_in_call (an erasure while the driver is on a live call)",
  415: "Body is not JSON",
  422: "idempotency_key_reused: this Idempotency-Key came with a different body in the last 24 hours",
  429: "at_capacity: more drivers than free live-call slots; nothing written, nobody called (see Retry-After and details)",
  503: "Database unavailable after retries (see Retry-After)",
};

export function errorResponses<S extends 400 | 401 | 404 | 409 | 413 | 415 | 422 | 429 | 503>(
  ...statuses: S[]
) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: DESCRIPTIONS[status] ?? "Error",
        content: { "application/json": { schema: errorSchema } },
      },
    ]),
  ) as Record<
    S,
    { description: string; content: { "application/json": { schema: typeof errorSchema } } }
  >;
}
