// The Call data functions: the one place production code reads a Call and changes its
// status. Each is one statement through withDbRetry (safe to retry: re-running it after a
// lost answer changes nothing more), and every status change is guarded by the rules of
// src/calls/status-rules.ts. What follows a status change (the live-call slot is freed, a
// campaign target moves on) is the database trigger's job (migration 0008), in the same
// transaction. Times are timestamptz in the database and UTC `Date`s here.

import { eq, getTableColumns, type SQL, sql } from "drizzle-orm";
import { auditInsert, SYSTEM_STAMP } from "../audit/record";
import type { Database } from "../db/client";
import { type RetryOptions, sqlState, withDbRetry } from "../db/retry";
import { type Call, type CallStatus, calls, postCallInbox } from "../db/schema";
import type { CallReference, CallReport } from "./report";
import { COMPLETABLE, FAILABLE } from "./status-rules";

export class CallSidTakenError extends Error {
  override name = "CallSidTakenError";
}

export interface NewCall {
  callSid: string;
  driverId: number | null;
  phoneNumber?: string | null;
  callStartTime: Date;
}

/**
 * Writes a Call before ElevenLabs is called: IN_PROGRESS, conversation_id NULL until it
 * answers. The dispatcher writes its rows in bulk, inside the statement that takes their
 * live-call slots (src/dispatch/claim.ts); this is the single-row form, for tools and tests.
 */
export async function createCallWithCallSid(
  db: Database,
  { callSid, driverId, phoneNumber = null, callStartTime }: NewCall,
  retry?: RetryOptions,
): Promise<Call> {
  try {
    const [created] = await withDbRetry(
      () =>
        db
          .insert(calls)
          .values({ callSid, driverId, phoneNumber, callStartTime, status: "IN_PROGRESS" })
          .returning(),
      retry,
    );
    if (!created) throw new Error("INSERT ... RETURNING returned no row");
    return created;
  } catch (error) {
    if (sqlState(error) === "23505") throw new CallSidTakenError(`call_sid ${callSid} is taken`);
    throw error;
  }
}

export async function getCallByCallSid(
  db: Database,
  callSid: string,
  retry?: RetryOptions,
): Promise<Call | null> {
  const [call] = await withDbRetry(
    () => db.select().from(calls).where(eq(calls.callSid, callSid)).limit(1),
    retry,
  );
  return call ?? null;
}

/**
 * ElevenLabs accepted the call: store its conversation_id (the status stays as it is).
 * `eventsWaiting` says, from the same statement, whether post-call events for that
 * conversation wait in the inbox (they outran the answer: src/elevenlabs/inbox.ts).
 */
export async function updateConversationId(
  db: Database,
  callSid: string,
  conversationId: string,
  retry?: RetryOptions,
): Promise<(Call & { eventsWaiting: boolean }) | null> {
  const [updated] = await withDbRetry(
    () =>
      db
        .update(calls)
        .set({ conversationId, updatedAt: sql`now()` })
        .where(eq(calls.callSid, callSid))
        .returning({
          ...getTableColumns(calls),
          eventsWaiting: sql<boolean>`EXISTS (SELECT 1 FROM ${postCallInbox} WHERE ${postCallInbox.conversationId} = ${conversationId})`,
        }),
    retry,
  );
  return updated ?? null;
}

export interface StatusChange {
  failureReason?: string | null;
  failureDetail?: string | null;
  callEndTime?: Date | null;
}

/**
 * Moves a call to COMPLETED or FAILED, as status-rules.ts allows: FAILED only from
 * IN_PROGRESS; COMPLETED from IN_PROGRESS or from a failure that may have rung. A move the
 * rules refuse (or an unknown call) matches no row and returns null. Never IN_PROGRESS.
 */
export async function updateStatusByCallSid(
  db: Database,
  callSid: string,
  status: Exclude<CallStatus, "IN_PROGRESS">,
  change: StatusChange = {},
  retry?: RetryOptions,
): Promise<Call | null> {
  const allowed = status === "COMPLETED" ? COMPLETABLE : FAILABLE;
  const [updated] = await withDbRetry(
    () =>
      db
        .update(calls)
        .set({
          status,
          failureReason: status === "FAILED" ? (change.failureReason ?? "unknown") : null,
          failureDetail: status === "FAILED" ? (change.failureDetail ?? null) : null,
          ...(change.callEndTime ? { callEndTime: change.callEndTime } : {}),
          updatedAt: sql`now()`,
        })
        .where(sql`${calls.callSid} = ${callSid} AND ${allowed}`)
        .returning(),
    retry,
  );
  return updated ?? null;
}

/**
 * Right before a campaign call is dialed: if its campaign is no longer RUNNING (cancelled
 * since the claim), the call is FAILED `campaign_cancelled` instead, in one statement, and
 * true is returned: do not dial. The trigger (migration 0012) moves the target to
 * CANCELLED and frees the slot. False for a running campaign, or a call that is not a
 * campaign's.
 */
export async function failIfCampaignStopped(
  db: Database,
  callSid: string,
  now: Date,
): Promise<boolean> {
  const result = await withDbRetry(() =>
    db.execute(sql`
      UPDATE calls SET status = 'FAILED', failure_reason = 'campaign_cancelled',
             failure_detail = 'The campaign was cancelled before this driver was dialed: not dialed.',
             call_end_time = ${now.toISOString()}::timestamptz, updated_at = now()
      WHERE calls.call_sid = ${callSid} AND ${FAILABLE}
        AND EXISTS (
          SELECT 1 FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
          WHERE t.id = calls.campaign_target_id AND c.status <> 'RUNNING'
        )
      RETURNING calls.id
    `),
  );
  return result.rows.length > 0;
}

export type ReportResult =
  | { kind: "unknown_call" }
  | {
      kind: "applied";
      callSid: string;
      /** false: the call was already finished (a redelivery, or a call the rules keep). */
      changed: boolean;
      /** The call's status and failure reason before this report. */
      previousStatus: CallStatus;
      previousFailureReason: string | null;
      /** The number went on the do-not-call list because the driver opted out. */
      optedOut: boolean;
      /** The campaign target the call was an attempt for (null for a batch call). */
      campaignTargetId: number | null;
      /** Whether campaign targets are waiting (for the slot this call may have freed). */
      campaignWorkWaiting: boolean;
    };

interface ReportRow extends Record<string, unknown> {
  call_sid: string;
  previous_status: CallStatus;
  previous_failure_reason: string | null;
  changed: boolean;
  opted_out: boolean;
  campaign_target_id: number | string | null;
  campaign_work_waiting: boolean;
}

function findCall(reference: CallReference): SQL {
  return reference.callSid
    ? sql`(calls.call_sid = ${reference.callSid} OR calls.conversation_id = ${reference.conversationId})`
    : sql`calls.conversation_id = ${reference.conversationId}`;
}

/**
 * Applies what ElevenLabs reported at the end of a call, in one statement:
 * - a conversation: COMPLETED (or FAILED `voicemail` when a voicemail system answered),
 *   call_end_time = start + duration, ElevenLabs' final transcript and analysis, and the
 *   conversation_id if the dial could not store it; an opt-out puts the number on the
 *   do-not-call list in the same statement (so the same transaction);
 * - a failure: FAILED with its reason.
 * Only calls the rules allow are changed; two deliveries at once are safe because the
 * second UPDATE waits for the first's row lock and re-checks the rule on the new row.
 */
export async function applyCallReport(
  db: Database,
  reference: CallReference,
  report: CallReport,
): Promise<ReportResult> {
  const statement =
    report.kind === "conversation"
      ? conversationStatement(reference, report)
      : failureStatement(reference, report);
  const result = await withDbRetry(() => db.execute<ReportRow>(statement));
  const row = result.rows[0];
  if (!row) return { kind: "unknown_call" };
  return {
    kind: "applied",
    callSid: row.call_sid,
    changed: row.changed,
    previousStatus: row.previous_status,
    previousFailureReason: row.previous_failure_reason,
    optedOut: row.opted_out,
    campaignTargetId: row.campaign_target_id === null ? null : Number(row.campaign_target_id),
    campaignWorkWaiting: row.campaign_work_waiting,
  };
}

// Read in the same statement, so that waking the dispatcher costs no statement of its own.
const CAMPAIGN_WORK_WAITING = sql`EXISTS (SELECT 1 FROM campaign_targets WHERE status = 'QUEUED') AS campaign_work_waiting`;

const target = (reference: CallReference) => sql`
  target AS (
    SELECT calls.id, calls.call_sid, calls.status, calls.failure_reason, calls.campaign_target_id
    FROM calls WHERE ${findCall(reference)} ORDER BY calls.id LIMIT 1
  )`;

function conversationStatement(
  reference: CallReference,
  report: Extract<CallReport, { kind: "conversation" }>,
): SQL {
  const { analysis } = report;
  const json = (value: unknown) => (value === null ? null : JSON.stringify(value));
  return sql`
    WITH ${target(reference)},
    updated AS (
      UPDATE calls SET
        status = ${report.voicemail ? "FAILED" : "COMPLETED"},
        failure_reason = ${report.voicemail ? "voicemail" : null},
        failure_detail = ${report.voicemail ? "Answered by a voicemail system." : null},
        conversation_id = coalesce(calls.conversation_id, ${reference.conversationId}),
        call_end_time = ${report.endedAt.toISOString()}::timestamptz,
        final_transcript = ${JSON.stringify(report.transcript)}::jsonb,
        call_successful = ${analysis.callSuccessful},
        transcript_summary = ${analysis.summary},
        data_collection = ${json(analysis.dataCollection)}::jsonb,
        evaluation = ${json(analysis.evaluation)}::jsonb,
        termination_reason = ${analysis.terminationReason},
        updated_at = now()
      FROM target
      WHERE calls.id = target.id AND ${COMPLETABLE}
      RETURNING calls.call_sid, calls.phone_number
    ),
    opted_out AS (
      INSERT INTO do_not_call (phone_number, reason, call_sid)
      SELECT phone_number, 'opt_out', call_sid FROM updated
      WHERE ${report.optOut} AND phone_number IS NOT NULL
      ON CONFLICT (phone_number) DO NOTHING
      RETURNING phone_number, call_sid
    ),
    opt_out_audited AS (
      ${auditInsert(SYSTEM_STAMP, {
        action: "driver.opted_out",
        subjectType: "phone_number",
        subjectId: sql`opted_out.phone_number`,
        detail: sql`jsonb_build_object('call_sid', opted_out.call_sid)`,
        from: sql`opted_out`,
      })}
    )
    SELECT target.call_sid, target.status AS previous_status,
           target.failure_reason AS previous_failure_reason,
           EXISTS (SELECT 1 FROM updated) AS changed,
           EXISTS (SELECT 1 FROM opted_out) AS opted_out,
           target.campaign_target_id, ${CAMPAIGN_WORK_WAITING}
    FROM target
  `;
}

function failureStatement(
  reference: CallReference,
  report: Extract<CallReport, { kind: "failed" }>,
): SQL {
  return sql`
    WITH ${target(reference)},
    updated AS (
      UPDATE calls SET status = 'FAILED', failure_reason = ${report.failureReason},
             failure_detail = ${report.failureDetail},
             call_end_time = coalesce(calls.call_end_time, ${report.endedAt.toISOString()}::timestamptz),
             conversation_id = coalesce(calls.conversation_id, ${reference.conversationId}),
             updated_at = now()
      FROM target
      WHERE calls.id = target.id AND ${FAILABLE}
      RETURNING calls.id
    )
    SELECT target.call_sid, target.status AS previous_status,
           target.failure_reason AS previous_failure_reason,
           EXISTS (SELECT 1 FROM updated) AS changed, false AS opted_out,
           target.campaign_target_id, ${CAMPAIGN_WORK_WAITING}
    FROM target
  `;
}

/**
 * Fails, in one statement, up to `limit` IN_PROGRESS calls that `stuck` selects (a WHERE
 * fragment over calls), oldest first: the reconciler's sweeps. Rows another run is
 * changing right now are skipped, not waited for.
 */
export async function failStuckCalls(
  db: Database,
  options: { stuck: SQL; reason: string; detail: string; limit: number },
): Promise<string[]> {
  const result = await withDbRetry(() =>
    db.execute<{ call_sid: string }>(sql`
      -- MATERIALIZED: the LIMIT is applied once. As a plain IN (subquery) the planner may
      -- run the subquery again and update more rows than the limit.
      WITH picked AS MATERIALIZED (
        SELECT id FROM calls
        WHERE ${FAILABLE} AND ${options.stuck}
        ORDER BY created_at
        LIMIT ${options.limit}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE calls SET status = 'FAILED', failure_reason = ${options.reason},
             failure_detail = ${options.detail}, updated_at = now()
      FROM picked
      WHERE calls.id = picked.id AND ${FAILABLE}
      RETURNING calls.call_sid
    `),
  );
  return result.rows.map((row) => row.call_sid);
}
