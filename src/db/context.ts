import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { AppError } from "../http/errors";
import { createDatabase, type Database } from "./client";

/** The request's database handle; a missing DATABASE_URL is a configuration error. */
export function databaseOf(c: Context<AppEnv>): Database {
  const { DATABASE_URL, NEON_HTTP_ENDPOINT } = c.get("config");
  if (!DATABASE_URL) {
    c.get("log").error("database_not_configured", { reason: "DATABASE_URL is not set" });
    throw new AppError("configuration_error", "The service is not configured correctly.");
  }
  return createDatabase(DATABASE_URL, NEON_HTTP_ENDPOINT);
}
