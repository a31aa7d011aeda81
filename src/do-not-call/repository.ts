// The do-not-call list: numbers that are never dialed. It is read where it matters, at dial
// time, inside the claim statement (src/dispatch/claim.ts), so a number added mid-campaign
// is not dialed again; a campaign created later starts its drivers on it SKIPPED. Opt-outs
// (the driver said so on a call) are added by the statement that finishes that call
// (src/calls/repository.ts), with reason `opt_out` and the call_sid.

import { sql } from "drizzle-orm";
import { z } from "zod";
import { type AuditStamp, auditInsert } from "../audit/record";
import type { Database } from "../db/client";
import { ISO_US, isoUtc } from "../db/iso";
import { withDbRetry } from "../db/retry";
import { cursorInstant, decodeCursor, encodeCursor } from "../http/cursor";

export interface DoNotCallEntry {
  phone_number: string;
  reason: string | null;
  call_sid: string | null;
  created_at: string;
}

interface EntryRow extends DoNotCallEntry, Record<string, unknown> {
  cursor_created_at?: string;
}

const entryColumns = sql`phone_number, reason, call_sid, ${isoUtc(sql`created_at`)} AS created_at`;

/**
 * Adds a number (idempotent: a number already on the list keeps its first entry, so an
 * opt-out's reason and call_sid are never overwritten by a repeated PUT).
 */
export async function addToDoNotCall(
  db: Database,
  entry: { phoneNumber: string; reason: string | null },
  audit: AuditStamp,
): Promise<DoNotCallEntry> {
  const { rows } = await withDbRetry(() =>
    db.execute<EntryRow>(sql`
      WITH added AS (
        INSERT INTO do_not_call (phone_number, reason) VALUES (${entry.phoneNumber}, ${entry.reason})
        ON CONFLICT (phone_number) DO NOTHING
        RETURNING ${entryColumns}
      ),
      audited AS (
        ${auditInsert(audit, {
          action: "do_not_call.added",
          subjectType: "phone_number",
          subjectId: sql`added.phone_number`,
          detail: sql`jsonb_build_object('reason', added.reason)`,
          from: sql`added`,
        })}
      )
      SELECT * FROM added
      UNION ALL
      SELECT ${entryColumns} FROM do_not_call
      WHERE phone_number = ${entry.phoneNumber} AND NOT EXISTS (SELECT 1 FROM added)
    `),
  );
  const row = rows[0];
  if (!row) throw new Error("do-not-call entry neither added nor found");
  return row;
}

/**
 * Removes a number; true when it was on the list. `do_not_call.removed` keeps why (the
 * reason given) and what the entry said (its own reason, the opt-out's call), written by
 * the same statement: the calling rules ask a fleet who took a number off, and why.
 */
export async function removeFromDoNotCall(
  db: Database,
  removal: { phoneNumber: string; reason: string | null },
  audit: AuditStamp,
): Promise<boolean> {
  const { rows } = await withDbRetry(() =>
    db.execute<{ removed: boolean }>(sql`
      WITH removed AS (
        DELETE FROM do_not_call WHERE phone_number = ${removal.phoneNumber}
        RETURNING phone_number, reason, call_sid, created_at
      ),
      audited AS (
        ${auditInsert(audit, {
          action: "do_not_call.removed",
          subjectType: "phone_number",
          subjectId: sql`removed.phone_number`,
          detail: sql`jsonb_build_object('reason', ${removal.reason}::text,
                        'entry_reason', removed.reason, 'entry_call_sid', removed.call_sid,
                        'entry_created_at', ${isoUtc(sql`removed.created_at`)})`,
          from: sql`removed`,
        })}
      )
      SELECT EXISTS (SELECT 1 FROM removed) AS removed
    `),
  );
  return rows[0]?.removed === true;
}

/** The entry of one number, or null when it is not on the list. */
export async function getDoNotCallEntry(
  db: Database,
  phoneNumber: string,
): Promise<DoNotCallEntry | null> {
  const { rows } = await withDbRetry(() =>
    db.execute<EntryRow>(
      sql`SELECT ${entryColumns} FROM do_not_call WHERE phone_number = ${phoneNumber}`,
    ),
  );
  return rows[0] ?? null;
}

/**
 * Which of these numbers are on the list now (a campaign's review page: they will be
 * SKIPPED). One statement for up to 10,000 numbers, each an index probe.
 */
export async function numbersOnDoNotCall(
  db: Database,
  phoneNumbers: readonly string[],
): Promise<Set<string>> {
  if (phoneNumbers.length === 0) return new Set();
  const { rows } = await withDbRetry(() =>
    db.execute<{ phone_number: string }>(sql`
      SELECT phone_number FROM do_not_call
      WHERE phone_number = ANY(${sql.param([...phoneNumbers])}::text[])
    `),
  );
  return new Set(rows.map((row) => row.phone_number));
}

const entryCursor = z.object({ c: cursorInstant, p: z.string().max(20) });

/**
 * Newest first, keyset-paginated on (created_at, phone_number). `digits`: only numbers that
 * contain them (a search by part of a number; digits only, so nothing in it is a LIKE
 * wildcard). A substring search reads the whole list, which at the design point of
 * 10,000 entries is a few milliseconds; a trigram index would be the next step.
 */
export async function listDoNotCall(
  db: Database,
  query: { limit: number; cursor?: string; digits?: string },
): Promise<{ entries: DoNotCallEntry[]; nextCursor: string | null }> {
  const after = query.cursor === undefined ? null : decodeCursor(query.cursor, entryCursor);
  const digits = query.digits?.replace(/\D/g, "") ?? "";
  const { rows } = await withDbRetry(() =>
    db.execute<EntryRow>(sql`
      SELECT ${entryColumns}, ${isoUtc(sql`created_at`, ISO_US)} AS cursor_created_at
      FROM do_not_call
      WHERE ${after === null ? sql`true` : sql`(created_at, phone_number) < (${after.c}::timestamptz, ${after.p})`}
        AND ${digits === "" ? sql`true` : sql`phone_number LIKE ${`%${digits}%`}`}
      ORDER BY created_at DESC, phone_number DESC
      LIMIT ${query.limit + 1}
    `),
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    entries: page.map(({ cursor_created_at: _cursor, ...entry }) => entry),
    nextCursor:
      rows.length > query.limit && last?.cursor_created_at
        ? encodeCursor({ c: last.cursor_created_at, p: last.phone_number })
        : null,
  };
}
