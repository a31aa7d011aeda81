// The Neon driver in HTTP mode: every statement is one fetch to Neon's SQL-over-HTTP
// endpoint, with no Postgres connection to open per request (a WebSocket Pool would have
// to handshake and authenticate in every Worker request; toolchain.md has the numbers).
// Consequence: no interactive transactions. Atomic work is one statement (a CTE) or a batch.
import { neon, neonConfig } from "@neondatabase/serverless";
import { drizzle, type NeonHttpDatabase } from "drizzle-orm/neon-http";
import * as schema from "./schema";

export type Database = NeonHttpDatabase<typeof schema>;

// One drizzle instance per connection string and isolate: building one (the schema's
// relational config) costs CPU on every request otherwise, and it holds no connection.
const databases = new Map<string, Database>();

export function createDatabase(databaseUrl: string, localEndpoint?: string): Database {
  // Local dev, tests and benches only: the local Neon HTTP endpoint (scripts/). In
  // production NEON_HTTP_ENDPOINT is unset and the driver derives Neon's URL from the host.
  if (localEndpoint) neonConfig.fetchEndpoint = localEndpoint;
  let database = databases.get(databaseUrl);
  if (!database) {
    database = drizzle({ client: neon(databaseUrl), schema });
    // Bounded: an isolate only ever sees its own few connection strings (tests use scopes).
    if (databases.size >= 100) databases.clear();
    databases.set(databaseUrl, database);
  }
  return database;
}
