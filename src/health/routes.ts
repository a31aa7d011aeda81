import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import type { Context } from "hono";
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
  summary: "Liveness and database reachability (runs a query, at most one per 5 s per isolate)",
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

// The database check is cached per isolate for HEALTH_CACHE_MS, so unauthenticated callers
// hammering /health cost the database one statement per window: they cannot keep a Neon
// compute from scaling to zero, nor add load to an outage. Both outcomes are cached: a
// failing check costs three attempts (with retries), the last thing a struggling database
// needs, and a recovery still shows within 5 s. Only finished outcomes are shared, never a
// check in flight: workerd ties I/O to the request that started it, so a promise shared
// with a request that goes away could leave the others waiting. Keyed by the connection
// string and endpoint: another database (a test scope, another binding) is another check.
export const HEALTH_CACHE_MS = 5_000;

type DatabaseHealth = "ok" | "unavailable";

const checks = new Map<string, { outcome: DatabaseHealth; expiresAt: number }>();

async function checkDatabase(c: Context<AppEnv>): Promise<DatabaseHealth> {
  const { DATABASE_URL, NEON_HTTP_ENDPOINT } = c.get("config");
  const key = `${DATABASE_URL ?? ""} ${NEON_HTTP_ENDPOINT ?? ""}`;
  const clock = c.get("deps").clock;
  const cached = checks.get(key);
  if (cached && clock.now().getTime() < cached.expiresAt) return cached.outcome;

  const db = databaseOf(c);
  let outcome: DatabaseHealth = "ok";
  try {
    await withDbRetry(() => db.execute(sql`SELECT 1`), { retries: 2 });
  } catch (error) {
    // Any failure (retries exhausted, bad credentials, missing table) means "not healthy".
    c.get("log").warn("health_database_unavailable", describeError(error));
    outcome = "unavailable";
  }
  const now = clock.now().getTime();
  // A handful of databases per isolate at most; drop the ones whose window has passed.
  for (const [other, entry] of checks) if (now >= entry.expiresAt) checks.delete(other);
  checks.set(key, { outcome, expiresAt: now + HEALTH_CACHE_MS });
  return outcome;
}

export const healthRoutes = new OpenAPIHono<AppEnv>().openapi(healthRoute, async (c) => {
  if ((await checkDatabase(c)) === "ok") {
    return c.json({ status: "ok" as const, database: "ok" as const }, 200);
  }
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
});
