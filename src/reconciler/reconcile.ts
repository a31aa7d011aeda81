// The reconciler, run by the cron trigger every 5 minutes: no call stays IN_PROGRESS
// forever, and no stuck call can keep the others from being checked.
//   1. No conversation_id after 10 minutes: the Worker stopped between writing the Call and
//      hearing ElevenLabs' answer. Nothing will ever report on it: FAILED,
//      `initiation_interrupted` (it may have rung, so a later post-call report still
//      completes it; src/calls/status-rules.ts). Needs no ElevenLabs, so it runs even when
//      the ElevenLabs client cannot be built.
//   2. A conversation_id but no end after 30 minutes: the post-call webhook was lost. Ask
//      ElevenLabs and apply its answer exactly as the webhook would (same code path).
//      Calls are checked least recently checked first (never-checked first), so calls whose
//      lookup keeps failing go to the back of the line instead of taking every run's budget.
//      A conversation ElevenLabs reports `failed` ends as its failure webhook would have
//      (metadata.phone_call.call_result busy, no_answer, voicemail: retried by campaigns).
//   3. A call still unfinished two hours after it started (ElevenLabs says initiated,
//      in-progress or processing, or answers no lookup), once looked up past that mark:
//      FAILED `conversation_stale`, so it frees its slot. It may have rung, so it is never
//      dialed again, and a later report still completes it. Without an ElevenLabs client
//      no lookup can run, and the two hours alone decide.
//   4. A call whose lookups have failed for 24 hours: FAILED `reconcile_gave_up`, logged.
//      (Step 3 frees such a call's slot long before; this names calls that were already
//      old when the reconciler first saw them.)
// A run stops starting lookups after 60 seconds, well inside the 5-minute interval.
import { sql } from "drizzle-orm";
import type { Clock } from "../app-env";
import { failStuckCalls } from "../calls/repository";
import { failedConversationEnding, STALE_AFTER_HOURS } from "../calls/status-rules";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";
import { asObject } from "../elevenlabs/analysis";
import type { ElevenLabsClient } from "../elevenlabs/client";
import { readConversation } from "../elevenlabs/post-call";
import { applyPostCallReport, type PostCallContext } from "../elevenlabs/post-call-apply";
import type { DispatchMessage } from "../env";
import { describeError, type Logger } from "../http/log";

export const RECONCILER_LIMITS = {
  callsPerRun: 50,
  initiationTimeoutMinutes: 10,
  conversationTimeoutMinutes: 30,
  giveUpAfterHours: 24,
  /** No lookup starts after this much of a run; the cron fires every 5 minutes. */
  runBudgetMs: 60_000,
  /** Lookups at once: each holds a connection, and so does its statement after. */
  lookupConcurrency: 3,
} as const;

export interface ReconcileReport {
  interrupted: number;
  gaveUp: number;
  /** Calls failed `conversation_stale`. */
  stale: number;
  completed: number;
  failed: number;
  leftForLater: number;
  /** Calls not looked up because the run's time budget ran out. */
  notReached: number;
}

// ElevenLabs conversation statuses that mean the call is over.
const FINISHED_STATUSES = new Set(["done", "failed"]);

const minutesBefore = (now: Date, minutes: number) =>
  new Date(now.getTime() - minutes * 60_000).toISOString();

export async function reconcileStuckCalls(options: {
  db: Database;
  /** null when the ElevenLabs client cannot be built (configuration): sweeps still run. */
  elevenLabs: ElevenLabsClient | null;
  clock: Clock;
  log: Logger;
  /** To wake the dispatcher for a retry a finished call scheduled. */
  queue?: Queue<DispatchMessage> | undefined;
}): Promise<ReconcileReport> {
  const { db, elevenLabs, log } = options;
  const now = options.clock.now();
  const report: ReconcileReport = {
    interrupted: 0,
    gaveUp: 0,
    stale: 0,
    completed: 0,
    failed: 0,
    leftForLater: 0,
    notReached: 0,
  };

  const interrupted = await failStuckCalls(db, {
    stuck: sql`calls.conversation_id IS NULL AND calls.created_at < ${minutesBefore(now, RECONCILER_LIMITS.initiationTimeoutMinutes)}::timestamptz`,
    reason: "initiation_interrupted",
    detail:
      "The service stopped before it heard ElevenLabs' answer; the call may or may not have rung.",
    limit: RECONCILER_LIMITS.callsPerRun,
  });
  for (const callSid of interrupted)
    log.warn("call_failed", { call_sid: callSid, reason: "initiation_interrupted" });
  report.interrupted = interrupted.length;

  const gaveUp = await failStuckCalls(db, {
    stuck: sql`calls.conversation_id IS NOT NULL AND calls.reconcile_failing_since < ${minutesBefore(now, RECONCILER_LIMITS.giveUpAfterHours * 60)}::timestamptz`,
    reason: "reconcile_gave_up",
    detail: `ElevenLabs could not tell us how this call ended for ${RECONCILER_LIMITS.giveUpAfterHours} hours.`,
    limit: RECONCILER_LIMITS.callsPerRun,
  });
  for (const callSid of gaveUp)
    log.error("call_failed", { call_sid: callSid, reason: "reconcile_gave_up" });
  report.gaveUp = gaveUp.length;

  if (elevenLabs) {
    await lookUpUnfinishedCalls({ db, elevenLabs, log, now, queue: options.queue }, report);
  }

  // Step 3: after the lookups, so that a conversation ElevenLabs reports done is completed
  // first. A call is stale once a lookup past the two-hour mark still left it unfinished.
  const staleSince = minutesBefore(now, STALE_AFTER_HOURS * 60);
  const stale = await failStuckCalls(db, {
    stuck: sql`calls.conversation_id IS NOT NULL AND calls.created_at < ${staleSince}::timestamptz
      AND ${
        elevenLabs
          ? sql`calls.last_reconciled_at >= calls.created_at + make_interval(hours => ${STALE_AFTER_HOURS})`
          : sql`true`
      }`,
    reason: "conversation_stale",
    detail: `ElevenLabs had not finished this conversation ${STALE_AFTER_HOURS} hours after the call started; its line is freed. The call may have rung, so it is not dialed again.`,
    limit: RECONCILER_LIMITS.callsPerRun,
  });
  for (const callSid of stale)
    log.warn("call_failed", { call_sid: callSid, reason: "conversation_stale" });
  report.stale = stale.length;
  return report;
}

/** Step 2: asks ElevenLabs about calls whose post-call webhook has not come. */
async function lookUpUnfinishedCalls(
  context: PostCallContext & { elevenLabs: ElevenLabsClient },
  report: ReconcileReport,
) {
  const { db, elevenLabs, log, now } = context;
  const unfinished = await withDbRetry(() =>
    db.execute<{ call_sid: string; conversation_id: string }>(sql`
      SELECT call_sid, conversation_id FROM calls
      WHERE status = 'IN_PROGRESS' AND conversation_id IS NOT NULL
        AND created_at < ${minutesBefore(now, RECONCILER_LIMITS.conversationTimeoutMinutes)}::timestamptz
      ORDER BY last_reconciled_at ASC NULLS FIRST, created_at ASC
      LIMIT ${RECONCILER_LIMITS.callsPerRun}
    `),
  );

  const startedAt = Date.now();
  let next = 0;
  const lane = async () => {
    while (next < unfinished.rows.length) {
      const call = unfinished.rows[next++];
      if (!call) return;
      if (Date.now() - startedAt > RECONCILER_LIMITS.runBudgetMs) {
        report.notReached += 1;
        continue;
      }
      await reconcileOne({ ...context, log: log.with({ ...call }) }, call, report);
    }
  };
  await Promise.all(Array.from({ length: RECONCILER_LIMITS.lookupConcurrency }, lane));
  if (report.notReached > 0) log.warn("reconciler_time_budget_spent", { ...report });
}

async function reconcileOne(
  context: PostCallContext & { elevenLabs: ElevenLabsClient },
  call: { call_sid: string; conversation_id: string },
  report: ReconcileReport,
) {
  const { db, elevenLabs, log, now } = context;
  const reference = { callSid: call.call_sid, conversationId: call.conversation_id };
  const finish = (failureReason: string, failureDetail: string) =>
    applyPostCallReport(context, {
      kind: "finish",
      reference,
      report: { kind: "failed", failureReason, failureDetail, endedAt: now },
      cut: [],
    });
  try {
    const conversation = await elevenLabs.getConversation(call.conversation_id);
    if (conversation === null) {
      await finish("conversation_not_found", "ElevenLabs does not know this conversation (404).");
      report.failed += 1;
      return;
    }
    if (!FINISHED_STATUSES.has(conversation.status)) {
      // Still running: a successful lookup, so not a failing one.
      await recordCheck(db, call.call_sid, "answered", now);
      report.leftForLater += 1;
      return;
    }
    if (conversation.status === "failed") {
      // Read as the failure webhook would be: a busy line or no answer is retried.
      const metadata = asObject(conversation.data.metadata);
      const callResult = asObject(metadata?.phone_call)?.call_result;
      const termination =
        typeof metadata?.termination_reason === "string" && metadata.termination_reason
          ? metadata.termination_reason.slice(0, 200)
          : "no reason given";
      await finish(
        failedConversationEnding(callResult),
        `ElevenLabs reports the conversation failed (call result ${
          typeof callResult === "string" ? callResult.slice(0, 50) : "not given"
        }): ${termination}`,
      );
      report.failed += 1;
      return;
    }
    const reading = readConversation(conversation.data, {
      conversationId: call.conversation_id,
      receivedAt: now,
    });
    await applyPostCallReport({ ...context, log: log.with({ via: "reconciler" }) }, reading);
    report.completed += 1;
  } catch (error) {
    // ElevenLabs (or the database) could not answer: a later run tries again; after 24
    // hours of this the call is given up.
    report.leftForLater += 1;
    log.warn("reconcile_deferred", describeError(error));
    await recordCheck(db, call.call_sid, "failed", now).catch((recordError: unknown) =>
      log.warn("reconcile_check_not_recorded", describeError(recordError)),
    );
  }
}

/** Bookkeeping of one lookup: when, how many, and since when they have been failing. */
async function recordCheck(
  db: Database,
  callSid: string,
  outcome: "answered" | "failed",
  now: Date,
) {
  const at = sql`${now.toISOString()}::timestamptz`;
  await withDbRetry(() =>
    db.execute(sql`
      UPDATE calls
      SET reconcile_checks = reconcile_checks + 1, last_reconciled_at = ${at},
          reconcile_failing_since = ${
            outcome === "failed" ? sql`coalesce(reconcile_failing_since, ${at})` : sql`NULL`
          }
      WHERE call_sid = ${callSid} AND status = 'IN_PROGRESS'
    `),
  );
}
