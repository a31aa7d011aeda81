// Reading calls for operators: one call with its transcript, and the newest-first list.
// Each function is one statement through withDbRetry. Times leave Postgres already
// formatted as ISO 8601 UTC strings (to_char ... AT TIME ZONE 'UTC'), so the answer does
// not depend on the session's TimeZone or on how the driver parses timestamptz.
import { and, desc, eq, sql } from "drizzle-orm";
import { z } from "zod";
import type { Database } from "../db/client";
import { ISO_MS, ISO_US, isoUtc } from "../db/iso";
import { type RetryOptions, withDbRetry } from "../db/retry";
import { type CallStatus, calls } from "../db/schema";
import { cursorInstant, decodeCursor, encodeCursor } from "../http/cursor";

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

export interface AnalysisView {
  call_successful: "success" | "failure" | "unknown" | null;
  summary: string | null;
  data_collection: Record<string, unknown> | null;
  evaluation: Record<string, "success" | "failure" | "unknown"> | null;
  termination_reason: string | null;
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

export interface CallDetails {
  call: CallView;
  transcript: TranscriptEntry[];
  analysis: AnalysisView;
  /** Not in the API's call object: the console shows it. */
  failure_detail: string | null;
  phone_number: string | null;
  /** When the transcript and analysis were removed (retention purge or erasure), or null. */
  data_purged_at: string | null;
  /** When the driver's data was erased from this call, or null. */
  erased_at: string | null;
}

const parsedJson = <T>(value: T | string): T =>
  typeof value === "string" ? (JSON.parse(value) as T) : value;

/**
 * The call, its transcript in the order it was spoken (each turn once) and its analysis;
 * null when no call has that call_sid. Once ElevenLabs' post_call_transcription arrived,
 * the transcript is ElevenLabs' final one in its own order (numbered 1..N); before that,
 * the live webhook's turns in sequence_number order. The live rows are never mixed in
 * after the end: the live tool's message is written by the agent's model and may be worded
 * differently from the final transcript, so it would read as a second turn. A final
 * transcript that is empty (an agent may be set to leave it out) hides nothing: the live
 * turns are served.
 */
export async function getCallWithTranscript(
  db: Database,
  callSid: string,
  retry?: RetryOptions,
): Promise<CallDetails | null> {
  // One statement (one snapshot): never a transcript of another state of the call. The
  // outer columns are written qualified on purpose: drizzle renders a column of a
  // single-table select unqualified, which inside a subquery would mean t.conversation_id.
  const [row] = await withDbRetry(
    () =>
      db
        .select({
          ...callViewFields,
          failure_detail: calls.failureDetail,
          phone_number: calls.phoneNumber,
          data_purged_at: isoUtc<string | null>(calls.dataPurgedAt),
          erased_at: isoUtc<string | null>(calls.erasedAt),
          call_successful: calls.callSuccessful,
          transcript_summary: calls.transcriptSummary,
          data_collection: calls.dataCollection,
          evaluation: calls.evaluation,
          termination_reason: calls.terminationReason,
          transcript: sql<
            TranscriptEntry[] | string
          >`CASE WHEN jsonb_array_length(coalesce("calls"."final_transcript", '[]'::jsonb)) > 0
            THEN coalesce((
              SELECT json_agg(json_build_object(
                  'sequence_number', turn.ord,
                  'speaker', turn.e ->> 'role',
                  'message', turn.e ->> 'message',
                  'timestamp', turn.e ->> 'timestamp'
                ) ORDER BY turn.ord)
              FROM jsonb_array_elements("calls"."final_transcript") WITH ORDINALITY AS turn(e, ord)
            ), '[]'::json)
            ELSE coalesce((
              SELECT json_agg(json_build_object(
                  'sequence_number', t.sequence_number,
                  'speaker', t.speaker,
                  'message', t.message,
                  'timestamp', to_char(t."timestamp" AT TIME ZONE 'UTC', ${sql.raw(`'${ISO_MS}'`)})
                ) ORDER BY t.sequence_number)
              FROM call_transcriptions t
              WHERE t.conversation_id = "calls"."conversation_id"
            ), '[]'::json) END`,
        })
        .from(calls)
        .where(eq(calls.callSid, callSid))
        .limit(1),
    retry,
  );
  if (!row) return null;
  const {
    transcript,
    failure_detail,
    phone_number,
    data_purged_at,
    erased_at,
    call_successful,
    transcript_summary,
    data_collection,
    evaluation,
    termination_reason,
    ...call
  } = row;
  return {
    call,
    transcript: parsedJson(transcript),
    analysis: {
      call_successful: call_successful as AnalysisView["call_successful"],
      summary: transcript_summary,
      data_collection: data_collection === null ? null : parsedJson(data_collection),
      evaluation:
        evaluation === null ? null : (parsedJson(evaluation) as AnalysisView["evaluation"]),
      termination_reason,
    },
    failure_detail,
    phone_number,
    data_purged_at,
    erased_at,
  };
}

export interface ListCallsQuery {
  status?: CallStatus;
  driverId?: number;
  callSuccessful?: "success" | "failure" | "unknown";
  limit: number;
  /** An opaque cursor from a previous page's nextCursor. */
  cursor?: string;
}

/** A position in the (created_at DESC, id DESC) order: the last row of the previous page. */
const callCursor = z.object({ c: cursorInstant, i: z.number().int().min(1).max(2_147_483_647) });

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
  const after = query.cursor === undefined ? null : decodeCursor(query.cursor, callCursor);
  const conditions = [
    query.status === undefined ? undefined : eq(calls.status, query.status),
    query.driverId === undefined ? undefined : eq(calls.driverId, query.driverId),
    query.callSuccessful === undefined ? undefined : eq(calls.callSuccessful, query.callSuccessful),
    after === null
      ? undefined
      : sql`(${calls.createdAt}, ${calls.id}) < (${after.c}::timestamptz, ${after.i}::integer)`,
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
      ? encodeCursor({ c: last.cursor_created_at, i: last.id })
      : null;
  return {
    calls: page.map(({ id: _id, cursor_created_at: _cursor, ...call }) => call),
    nextCursor,
  };
}
