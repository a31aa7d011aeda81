// Times leave Postgres already formatted as ISO 8601 UTC strings, so answers do not depend
// on the session's TimeZone or on how the driver parses timestamptz.
import { type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";

export const ISO_MS = `YYYY-MM-DD"T"HH24:MI:SS.MS"Z"`;
// Microseconds: a cursor must name the exact instant Postgres holds, or a page boundary
// between rows that differ below the millisecond would skip or repeat rows.
export const ISO_US = `YYYY-MM-DD"T"HH24:MI:SS.US"Z"`;

export function isoUtc<T extends string | null>(column: SQL | AnyPgColumn, format = ISO_MS) {
  return sql<T>`to_char(${column} AT TIME ZONE 'UTC', ${sql.raw(`'${format}'`)})`;
}
