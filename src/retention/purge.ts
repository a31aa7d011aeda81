// The retention purge (the daily cron, RETENTION_CRON): transcripts, analyses and failure
// details of calls that ended more than RETENTION_DAYS ago are removed, and audit events
// older than AUDIT_RETENTION_DAYS are deleted. The Call rows stay (status, times,
// call_successful, failure_reason), so counts and campaign results stay right.
//
// In batches with short locks: each batch is one transaction of one statement (after its
// timeouts are set), holding the row locks of at most CALLS_PER_BATCH calls for the
// milliseconds it runs, so a webhook or a claim that wants one of those rows waits at most
// that long. A run loops batch after batch until nothing is left or its time budget is
// spent; what is left then is the next day's (a backlog after a first deploy is worked
// off over a few days, oldest first). Each batch writes its own `data.purged` entry in the
// same statement: an entry never describes a batch that rolled back, and a batch that
// committed always has its entry.
//
// Why a live call's data is never touched, also when the purge races its completion: the
// statement takes only calls that are not IN_PROGRESS, locks them (FOR UPDATE re-reads a
// row changed since the statement's snapshot and checks it again), skips rows another
// transaction holds (SKIP LOCKED: the completion that holds one commits, and tomorrow's run
// finds it finished), and the UPDATE checks the status once more on the row it writes. A
// call never goes back to IN_PROGRESS (src/calls/status-rules.ts), and a report that comes
// after the purge changes nothing (COMPLETABLE requires data_purged_at IS NULL), so a
// purged call stays purged.
import { type SQL, sql } from "drizzle-orm";
import { type AuditStamp, auditInsert, SYSTEM_STAMP } from "../audit/record";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";
import { describeError, type Logger } from "../http/log";

/**
 * When a call ended, for retention: its call_end_time, else its last change (a dial that
 * failed before anything rang, or a call the reconciler gave up on, may have no end time;
 * its last change is its end). The expression of idx_calls_to_purge (migration 0016).
 */
export const CALL_ENDED_AT: SQL = sql`coalesce(calls.call_end_time, calls.updated_at)`;

export const RETENTION_LIMITS = {
  /**
   * Calls per purge statement. npm run bench:retention (docs/BENCHMARKS.md), 100,000 calls
   * with 4 live turns each: batches of 1,000 take 45 ms (p50; p95 56 ms, the first and
   * coldest 183 ms), and a writer waited at most 141 ms for a row being purged; 2,000 a
   * batch doubled the locks for no more throughput.
   */
  callsPerBatch: 1_000,
  /** Audit events per delete statement (no other writer ever wants an old audit row). */
  auditEventsPerBatch: 5_000,
  /** A batch that runs longer than this is cut off and rolled back (the next run retries). */
  statementTimeout: "10s",
  /** How long a batch waits for a lock it needs (SKIP LOCKED aside) before giving up. */
  lockTimeout: "2s",
  /**
   * A run's time budget: well inside a cron invocation's 15 minutes of wall time, and a
   * day's calls take a few batches. What is left after it is the next run's.
   */
  runBudgetMs: 120_000,
} as const;

export interface PurgeBatch {
  calls: number;
  transcriptTurns: number;
}

/** The transaction's timeouts, set first in each batch (`true`: for this transaction only). */
const boundedTransaction = (db: Database, extra: SQL = sql``) =>
  db.execute(sql`
    SELECT set_config('statement_timeout', ${RETENTION_LIMITS.statementTimeout}, true),
           set_config('lock_timeout', ${RETENTION_LIMITS.lockTimeout}, true) ${extra}
  `);

/**
 * Purges up to `limit` calls that ended before `endedBefore`, oldest first: their live
 * transcript rows are deleted; their final transcript, analysis (summary, data collection,
 * evaluation, termination reason) and failure detail become NULL; data_purged_at marks them
 * so they are not read again. One transaction, audited in the same statement.
 */
export async function purgeCallDataBatch(
  db: Database,
  options: { endedBefore: Date; retentionDays: number; limit?: number; audit?: AuditStamp },
): Promise<PurgeBatch> {
  const cutoff = options.endedBefore.toISOString();
  const limit = options.limit ?? RETENTION_LIMITS.callsPerBatch;
  const [, result] = await withDbRetry(() =>
    db.batch([
      boundedTransaction(db),
      db.execute<{ calls: number; transcript_turns: number }>(sql`
        WITH picked AS MATERIALIZED (
          -- idx_calls_to_purge, from its oldest end: a probe and LIMIT rows.
          SELECT calls.id, calls.conversation_id FROM calls
          WHERE calls.data_purged_at IS NULL AND calls.status <> 'IN_PROGRESS'
            AND ${CALL_ENDED_AT} < ${cutoff}::timestamptz
          ORDER BY ${CALL_ENDED_AT}
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
        ),
        turns AS (
          DELETE FROM call_transcriptions t USING picked
          WHERE t.conversation_id = picked.conversation_id
          RETURNING t.id
        ),
        purged AS (
          UPDATE calls SET final_transcript = NULL, transcript_summary = NULL,
                 data_collection = NULL, evaluation = NULL, termination_reason = NULL,
                 failure_detail = NULL, data_purged_at = now(), updated_at = now()
          FROM picked
          WHERE calls.id = picked.id AND calls.status <> 'IN_PROGRESS'
          RETURNING calls.id
        ),
        counted AS (
          SELECT (SELECT count(*) FROM purged)::int AS calls,
                 (SELECT count(*) FROM turns)::int AS transcript_turns
        ),
        audited AS (
          ${auditInsert(options.audit ?? SYSTEM_STAMP, {
            action: "data.purged",
            subjectType: "calls",
            detail: sql`jsonb_build_object('calls', counted.calls,
              'transcript_turns', counted.transcript_turns, 'ended_before', ${cutoff}::text,
              'retention_days', ${options.retentionDays}::int)`,
            from: sql`counted WHERE counted.calls > 0`,
          })}
        )
        SELECT calls, transcript_turns FROM counted
      `),
    ]),
  );
  const row = result.rows[0];
  return { calls: row?.calls ?? 0, transcriptTurns: row?.transcript_turns ?? 0 };
}

/**
 * Deletes up to `limit` audit events older than `before`, oldest first: the one deletion
 * the table allows. Its trigger (migration 0014) lets a DELETE through only for rows older
 * than the instant in driver_calls.audit_purge_before, a setting local to the transaction,
 * so the setting and the DELETE are one batch. The `data.purged` entry is written by the
 * same statement.
 */
export async function purgeAuditEventsBatch(
  db: Database,
  options: { before: Date; retentionDays: number; limit?: number; audit?: AuditStamp },
): Promise<number> {
  const before = options.before.toISOString();
  const limit = options.limit ?? RETENTION_LIMITS.auditEventsPerBatch;
  const [, result] = await withDbRetry(() =>
    db.batch([
      boundedTransaction(db, sql`, set_config('driver_calls.audit_purge_before', ${before}, true)`),
      db.execute<{ deleted: number }>(sql`
        WITH deleted AS (
          DELETE FROM audit_events WHERE id IN (
            SELECT id FROM audit_events WHERE at < ${before}::timestamptz
            ORDER BY at, id LIMIT ${limit}
          )
          RETURNING id
        ),
        counted AS (SELECT count(*)::int AS deleted FROM deleted),
        audited AS (
          ${auditInsert(options.audit ?? SYSTEM_STAMP, {
            action: "data.purged",
            subjectType: "audit_events",
            detail: sql`jsonb_build_object('audit_events', counted.deleted,
              'before', ${before}::text, 'audit_retention_days', ${options.retentionDays}::int)`,
            from: sql`counted WHERE counted.deleted > 0`,
          })}
        )
        SELECT deleted FROM counted
      `),
    ]),
  );
  return result.rows[0]?.deleted ?? 0;
}

export interface RetentionReport {
  calls: number;
  transcriptTurns: number;
  auditEvents: number;
  /** Outbox events older than the retention, with their delivery log. */
  events: number;
  batches: number;
  /** The longest batch, round trip included: no row lock of the purge lasted longer. */
  longestBatchMs: number;
  /** The budget ran out, or a batch failed: the rest is the next run's. */
  unfinished: boolean;
}

const DAY_MS = 86_400_000;

/**
 * One run of the daily purge: calls first (the transcripts are what matters most), then
 * the audit trail, each in batches until none is left or the run's budget is spent.
 */
/** Deletes up to `limit` events older than `before` (their deliveries and attempts cascade), none pending. */
export async function purgeEventsBatch(
  db: Database,
  options: { before: Date; limit: number },
): Promise<number> {
  const { rows } = await withDbRetry(() =>
    db.execute<{ deleted: number }>(sql`
      WITH old AS (
        SELECT e.id FROM events e
        WHERE e.created_at < ${options.before.toISOString()}::timestamptz
          AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
        ORDER BY e.created_at
        LIMIT ${options.limit}
        FOR UPDATE SKIP LOCKED
      ),
      deleted AS (DELETE FROM events WHERE id IN (SELECT id FROM old) RETURNING 1)
      SELECT count(*)::int AS deleted FROM deleted
    `),
  );
  return rows[0]?.deleted ?? 0;
}

export async function runRetention(options: {
  db: Database;
  now: Date;
  retentionDays: number;
  auditRetentionDays: number;
  log: Logger;
  callsPerBatch?: number;
  budgetMs?: number;
}): Promise<RetentionReport> {
  const { db, log } = options;
  const deadline = Date.now() + (options.budgetMs ?? RETENTION_LIMITS.runBudgetMs);
  const report: RetentionReport = {
    calls: 0,
    transcriptTurns: 0,
    auditEvents: 0,
    events: 0,
    batches: 0,
    longestBatchMs: 0,
    unfinished: false,
  };
  /** Runs `batch` until it reports less than a full batch, the budget ends, or it fails. */
  const drain = async (part: string, full: number, batch: () => Promise<number>) => {
    while (true) {
      if (Date.now() >= deadline) {
        report.unfinished = true;
        return;
      }
      const startedAt = Date.now();
      let done: number;
      try {
        done = await batch();
      } catch (error) {
        log.error("retention_batch_failed", { part, ...describeError(error) });
        report.unfinished = true;
        return;
      }
      report.batches += 1;
      report.longestBatchMs = Math.max(report.longestBatchMs, Date.now() - startedAt);
      if (done < full) return;
    }
  };

  const callsPerBatch = options.callsPerBatch ?? RETENTION_LIMITS.callsPerBatch;
  const endedBefore = new Date(options.now.getTime() - options.retentionDays * DAY_MS);
  await drain("calls", callsPerBatch, async () => {
    const purged = await purgeCallDataBatch(db, {
      endedBefore,
      retentionDays: options.retentionDays,
      limit: callsPerBatch,
    });
    report.calls += purged.calls;
    report.transcriptTurns += purged.transcriptTurns;
    return purged.calls;
  });

  // The outbox's copies (events carry a call's analysis and an opt-out's number): an event
  // older than the retention is deleted with its delivery log, once nothing waits to be sent.
  await drain("events", RETENTION_LIMITS.callsPerBatch, async () => {
    const deleted = await purgeEventsBatch(db, {
      before: endedBefore,
      limit: RETENTION_LIMITS.callsPerBatch,
    });
    report.events += deleted;
    return deleted;
  });

  const auditBefore = new Date(options.now.getTime() - options.auditRetentionDays * DAY_MS);
  await drain("audit_events", RETENTION_LIMITS.auditEventsPerBatch, async () => {
    const deleted = await purgeAuditEventsBatch(db, {
      before: auditBefore,
      retentionDays: options.auditRetentionDays,
    });
    report.auditEvents += deleted;
    return deleted;
  });
  return report;
}
