// Reading calls for operators: one call with its transcript, and the newest-first list.
// Each function is one statement through withDbRetry. Times leave Postgres already
// formatted as ISO 8601 UTC strings (to_char ... AT TIME ZONE 'UTC'), so the answer does
// not depend on the session's TimeZone or on how the driver parses timestamptz.
import { and, desc, eq, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import type { Database } from "../db/client";
import { type RetryOptions, withDbRetry } from "../db/retry";
import { type CallStatus, calls } from "../db/schema";
import { AppError } from "../http/errors";

export interface CallView {
  call_sid: string;
  driver_id: number | null;
  conversation_id: string | null;
  status: CallStatus;
  call_start_time: string | null;
  call_end_time: string | null;
  failure_reason: string | null;
  created_at: string;
  updated_at: string;
}

export interface TranscriptEntry {
  sequence_number: number;
  speaker: string;
  message: string;
  timestamp: string;
}

const ISO_MS = `YYYY-MM-DD"T"HH24:MI:SS.MS"Z"`;
// Microseconds: the cursor must name the exact created_at Postgres holds, or a page
// boundary between rows that differ below the millisecond would skip or repeat rows.
const ISO_US = `YYYY-MM-DD"T"HH24:MI:SS.US"Z"`;

function isoUtc<T extends string | null>(column: SQL | AnyPgColumn, format = ISO_MS) {
  return sql<T>`to_char(${column} AT TIME ZONE 'UTC', ${sql.raw(`'${format}'`)})`;
}

const callViewFields = {
  call_sid: calls.callSid,
  driver_id: calls.driverId,
  conversation_id: calls.conversationId,
  status: calls.status,
  call_start_time: isoUtc<string | null>(calls.callStartTime),
  call_end_time: isoUtc<string | null>(calls.callEndTime),
  failure_reason: calls.failureReason,
  created_at: isoUtc<string>(calls.createdAt),
  updated_at: isoUtc<string>(calls.updatedAt),
};

/** The call and its transcript ordered by sequence_number; null when no call has that call_sid. */
export async function getCallWithTranscript(
  db: Database,
  callSid: string,
  retry?: RetryOptions,
): Promise<{ call: CallView; transcript: TranscriptEntry[] } | null> {
  // The transcript is aggregated in a correlated subquery, so the call and its transcript
  // are one statement (one snapshot): never a transcript of another state of the call.
  // The outer column is written qualified on purpose: drizzle renders a column of a
  // single-table select unqualified, which inside the subquery would mean t.conversation_id.
  const [row] = await withDbRetry(
    () =>
      db
        .select({
          ...callViewFields,
          transcript: sql<TranscriptEntry[] | string>`coalesce((
            SELECT json_agg(json_build_object(
                'sequence_number', t.sequence_number,
                'speaker', t.speaker,
                'message', t.message,
                'timestamp', to_char(t."timestamp" AT TIME ZONE 'UTC', ${sql.raw(`'${ISO_MS}'`)})
              ) ORDER BY t.sequence_number)
            FROM call_transcriptions t
            WHERE t.conversation_id = "calls"."conversation_id"
          ), '[]'::json)`,
        })
        .from(calls)
        .where(eq(calls.callSid, callSid))
        .limit(1),
    retry,
  );
  if (!row) return null;
  const { transcript, ...call } = row;
  return {
    call,
    transcript:
      typeof transcript === "string" ? (JSON.parse(transcript) as TranscriptEntry[]) : transcript,
  };
}

export interface ListCallsQuery {
  status?: CallStatus;
  driverId?: number;
  limit: number;
  /** An opaque cursor from a previous page's nextCursor. */
  cursor?: string;
}

/** A position in the (created_at DESC, id DESC) order: the last row of the previous page. */
interface CursorPosition {
  /** created_at exactly as Postgres holds it, with microseconds, in UTC. */
  createdAt: string;
  id: number;
}

const CURSOR_CREATED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const MAX_ID = 2_147_483_647;

export function encodeCursor(position: CursorPosition): string {
  const json = JSON.stringify({ c: position.createdAt, i: position.id });
  return btoa(json).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The position a cursor names, or null when it is not one this service handed out. */
export function decodeCursor(cursor: string): CursorPosition | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
  } catch {
    return null;
  }
  const { c, i } = (parsed ?? {}) as { c?: unknown; i?: unknown };
  if (typeof c !== "string" || !CURSOR_CREATED_AT.test(c)) return null;
  if (typeof i !== "number" || !Number.isInteger(i) || i < 1 || i > MAX_ID) return null;
  // A well-shaped but impossible instant (month 13) would make Postgres fail the cast: a 500.
  const milliseconds = `${c.slice(0, 23)}Z`;
  const instant = new Date(milliseconds);
  if (Number.isNaN(instant.getTime()) || instant.toISOString() !== milliseconds) return null;
  return { createdAt: c, id: i };
}

function invalidCursor(): AppError {
  return new AppError("invalid_request", "The request is invalid: check cursor.", {
    details: [
      { field: "cursor", message: "is not a cursor from a previous page; start again without it" },
    ],
  });
}

/**
 * Calls newest first, by (created_at DESC, id DESC), with keyset pagination: a page starts
 * strictly after the previous page's last row, so calls created while an operator pages
 * (they sort before the cursor) neither shift later pages nor appear twice, and calls with
 * the same created_at are ordered, and split across pages, by id. One row more than the
 * limit is fetched to know whether a next page exists. idx_calls_created_at_id serves it.
 */
export async function listCalls(
  db: Database,
  query: ListCallsQuery,
  retry?: RetryOptions,
): Promise<{ calls: CallView[]; nextCursor: string | null }> {
  const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
  if (query.cursor !== undefined && after === null) throw invalidCursor();
  const conditions = [
    query.status === undefined ? undefined : eq(calls.status, query.status),
    query.driverId === undefined ? undefined : eq(calls.driverId, query.driverId),
    after === null
      ? undefined
      : sql`(${calls.createdAt}, ${calls.id}) < (${after.createdAt}::timestamptz, ${after.id}::integer)`,
  ];
  const rows = await withDbRetry(
    () =>
      db
        .select({
          ...callViewFields,
          id: calls.id,
          cursor_created_at: isoUtc<string>(calls.createdAt, ISO_US),
        })
        .from(calls)
        .where(and(...conditions))
        .orderBy(desc(calls.createdAt), desc(calls.id))
        .limit(query.limit + 1),
    retry,
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  const nextCursor =
    rows.length > query.limit && last
      ? encodeCursor({ createdAt: last.cursor_created_at, id: last.id })
      : null;
  return {
    calls: page.map(({ id: _id, cursor_created_at: _cursor, ...call }) => call),
    nextCursor,
  };
}
