// The error responses, as the OpenAPI document describes them: one shape for all.
import { z } from "@hono/zod-openapi";
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
  413: "Body larger than 64 KiB",
  415: "Body is not JSON",
  503: "Database unavailable after retries (see Retry-After)",
};

export function errorResponses<S extends 400 | 401 | 404 | 413 | 415 | 503>(...statuses: S[]) {
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
