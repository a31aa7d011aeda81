// The reconciler, run by the cron trigger every 5 minutes: no call stays IN_PROGRESS
// forever. Two ways a call gets stuck:
//   - no conversation_id after 10 minutes: the Worker died between writing the Call and
//     hearing ElevenLabs' answer. Nothing will ever report on it: FAILED,
//     `initiation_interrupted` (a later post-call report still completes it, see finishCall).
//   - a conversation_id but no end after 30 minutes: the post-call webhook was lost. Ask
//     ElevenLabs and finish the call exactly as the webhook would (same code path). If
//     ElevenLabs cannot answer, leave the call for the next run.
// Each run handles at most 50 calls, so a backlog cannot push a run past its limits.
import { sql } from "drizzle-orm";
import type { Clock } from "../app-env";
import { finishCall } from "../calls/finish-call";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";
import type { ElevenLabsClient } from "../elevenlabs/client";
import { describeError, type Logger } from "../http/log";

export const RECONCILER_LIMITS = {
  callsPerRun: 50,
  initiationTimeoutMinutes: 10,
  conversationTimeoutMinutes: 30,
} as const;

export interface ReconcileReport {
  interrupted: number;
  completed: number;
  failed: number;
  leftForLater: number;
}

// ElevenLabs conversation statuses that mean the call is over.
const FINISHED_STATUSES = new Set(["done", "failed"]);

export async function reconcileStuckCalls(options: {
  db: Database;
  elevenLabs: ElevenLabsClient;
  clock: Clock;
  log: Logger;
}): Promise<ReconcileReport> {
  const { db, elevenLabs, log } = options;
  const now = options.clock.now();
  const report: ReconcileReport = { interrupted: 0, completed: 0, failed: 0, leftForLater: 0 };

  const initiationCutoff = new Date(
    now.getTime() - RECONCILER_LIMITS.initiationTimeoutMinutes * 60_000,
  );
  const interrupted = await withDbRetry(() =>
    db.execute<{ call_sid: string }>(sql`
      -- MATERIALIZED: the LIMIT is applied once. As a plain IN (subquery) the planner may
      -- run the subquery again and update more rows than the limit.
      WITH picked AS MATERIALIZED (
        SELECT id FROM calls
        WHERE status = 'IN_PROGRESS' AND conversation_id IS NULL
          AND created_at < ${initiationCutoff.toISOString()}::timestamptz
        ORDER BY created_at
        LIMIT ${RECONCILER_LIMITS.callsPerRun}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE calls SET status = 'FAILED', failure_reason = 'initiation_interrupted', updated_at = now()
      FROM picked
      WHERE calls.id = picked.id AND calls.status = 'IN_PROGRESS' AND calls.conversation_id IS NULL
      RETURNING calls.call_sid
    `),
  );
  for (const row of interrupted.rows)
    log.warn("call_failed", { call_sid: row.call_sid, reason: "initiation_interrupted" });
  report.interrupted = interrupted.rows.length;

  const budget = RECONCILER_LIMITS.callsPerRun - report.interrupted;
  if (budget <= 0) return report;
  const conversationCutoff = new Date(
    now.getTime() - RECONCILER_LIMITS.conversationTimeoutMinutes * 60_000,
  );
  const stale = await withDbRetry(() =>
    db.execute<{ call_sid: string; conversation_id: string }>(sql`
      SELECT call_sid, conversation_id FROM calls
      WHERE status = 'IN_PROGRESS' AND conversation_id IS NOT NULL
        AND created_at < ${conversationCutoff.toISOString()}::timestamptz
      ORDER BY created_at
      LIMIT ${budget}
    `),
  );

  for (const call of stale.rows) {
    const callLog = log.with({ call_sid: call.call_sid, conversation_id: call.conversation_id });
    try {
      const conversation = await elevenLabs.getConversation(call.conversation_id);
      const reference = { callSid: call.call_sid, conversationId: call.conversation_id };
      if (conversation === null) {
        await finishCall(db, reference, {
          kind: "failed",
          failureReason: "conversation_not_found",
        });
        report.failed += 1;
        callLog.warn("call_failed", { reason: "conversation_not_found" });
      } else if (!FINISHED_STATUSES.has(conversation.status)) {
        report.leftForLater += 1;
      } else if (conversation.status === "failed") {
        const reason = conversation.metadata.termination_reason || "conversation_failed";
        await finishCall(db, reference, { kind: "failed", failureReason: reason });
        report.failed += 1;
        callLog.warn("call_failed", { reason });
      } else {
        await finishCall(db, reference, {
          kind: "completed",
          startTimeUnixSecs: conversation.metadata.start_time_unix_secs,
          durationSecs: conversation.metadata.call_duration_secs,
          transcript: conversation.transcript,
        });
        report.completed += 1;
        callLog.info("call_finished", { outcome: "completed", via: "reconciler" });
      }
    } catch (error) {
      // ElevenLabs (or the database) could not answer: the next run tries again.
      report.leftForLater += 1;
      callLog.warn("reconcile_deferred", describeError(error));
    }
  }
  return report;
}
