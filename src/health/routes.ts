import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import type { AppEnv } from "../app-env";
import { databaseOf } from "../db/context";
import { withDbRetry } from "../db/retry";
import { describeError } from "../http/log";

const healthySchema = z
  .object({ status: z.literal("ok"), database: z.literal("ok") })
  .openapi("Health");
const unhealthySchema = z
  .object({
    status: z.literal("unavailable"),
    database: z.literal("unavailable"),
    error: z.object({ code: z.string(), message: z.string(), request_id: z.string() }),
  })
  .openapi("HealthUnavailable");

export const healthRoute = createRoute({
  method: "get",
  path: "/health",
  operationId: "getHealth",
  tags: ["health"],
  // Public on purpose: monitors call it without a credential.
  security: [],
  summary: "Liveness and database reachability (runs a query)",
  responses: {
    200: {
      description: "The service and its database answer",
      content: { "application/json": { schema: healthySchema } },
    },
    503: {
      description: "The database does not answer",
      content: { "application/json": { schema: unhealthySchema } },
    },
  },
});

export const healthRoutes = new OpenAPIHono<AppEnv>().openapi(healthRoute, async (c) => {
  const db = databaseOf(c);
  try {
    await withDbRetry(() => db.execute(sql`SELECT 1`), { retries: 2 });
    return c.json({ status: "ok" as const, database: "ok" as const }, 200);
  } catch (error) {
    // Any failure (retries exhausted, bad credentials, missing table) means "not healthy".
    c.get("log").warn("health_database_unavailable", describeError(error));
    c.header("Retry-After", "5");
    return c.json(
      {
        status: "unavailable" as const,
        database: "unavailable" as const,
        error: {
          code: "database_unavailable",
          message: "The database does not answer.",
          request_id: c.get("requestId"),
        },
      },
      503,
    );
  }
});
