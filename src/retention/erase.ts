// Erasing one driver's data (POST /drivers/{driver_id}/erase, and the console's button):
// their transcripts, analyses, failure details, names, violations and phone numbers go,
// from every place the service keeps them; the rows stay, marked erased, so counts,
// campaign results and the audit trail still add up.
//
//   calls               number, final transcript, analysis, failure detail -> NULL;
//                       data_purged_at and erased_at set (status, times, call_successful
//                       and the failure_reason code stay)
//   call_transcriptions the live turns of those calls: deleted
//   campaign_targets    name and number -> NULL, violations -> []; erased_at set; a target
//                       still QUEUED is CANCELLED `driver_erased`, so it is never dialed
//   post_call_inbox     kept events of those calls, or naming their number or call_sids:
//                       deleted
//   events              the outbox's events about the driver (call.*, driver.opted_out),
//                       with their delivery log: deleted
//
// Kept on purpose: the do-not-call list (a driver who asked not to be called must not be
// called again, so their number stays on it), and the audit entries of do-not-call changes
// and opt-outs, which name that number (the record of why it is on the list; they go with
// the audit trail's own retention). driver_id and call_sids stay: they are the fleet's ids
// and ours, not the driver's name or number. Idempotency keys hold no name or number (a
// hash of the request, and answers that carry ids and statuses) and expire after 24 hours.
//
// A driver on a live call (IN_PROGRESS) is refused with nothing erased: the call would
// write a transcript and an analysis after the erasure. Once the call has ended (at most
// two hours: see STALE_AFTER_HOURS), the erasure goes through.
//
// Atomic: one transaction (a batch) of two steps. First the driver's calls and targets are
// locked, calls before targets, the order in which a call's status change reaches its
// target (migration 0008's trigger), so the two never deadlock; a claim in flight for one
// of the targets finishes first, and later claims skip them (SKIP LOCKED). Then one
// statement, whose snapshot is taken after those locks, so it sees any call such a claim
// placed: it refuses if a call is live, else erases everything above and writes the
// `driver.erased` entry. Repeating it erases nothing more: counts are rows erased now.
import { sql } from "drizzle-orm";
import { type AuditStamp, auditInsert } from "../audit/record";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";
import { completeFinishedCampaigns } from "../dispatch/targets";

export interface ErasureCounts {
  /** Calls whose data was erased now. */
  calls: number;
  /** Live transcript rows deleted. */
  transcript_turns: number;
  /** Campaign targets whose name, number and violations were erased now. */
  campaign_targets: number;
  /** Of those, targets that were still waiting to be called: now CANCELLED `driver_erased`. */
  queued_targets_cancelled: number;
  /** Post-call events kept for a call not known yet that were this driver's. */
  post_call_events: number;
}

export type ErasureResult =
  | {
      kind: "erased";
      counts: ErasureCounts;
      /** The driver's numbers that are on the do-not-call list, and stay there. */
      doNotCallNumbersKept: number;
    }
  | { kind: "in_call"; callSid: string };

/** Why a QUEUED target of an erased driver was cancelled (its last_failure_reason). */
export const DRIVER_ERASED = "driver_erased";

interface ErasureRow extends Record<string, unknown> {
  live_call_sid: string | null;
  calls: number;
  transcript_turns: number;
  campaign_targets: number;
  queued_targets_cancelled: number;
  post_call_events: number;
  do_not_call_kept: number;
  campaigns_touched: string[] | null;
}

export async function eraseDriverData(
  db: Database,
  driverId: number,
  audit: AuditStamp,
): Promise<ErasureResult> {
  const [, , , result] = await withDbRetry(() =>
    db.batch([
      db.execute(sql`
        SELECT set_config('lock_timeout', '5s', true), set_config('statement_timeout', '30s', true)
      `),
      db.execute(sql`SELECT id FROM calls WHERE driver_id = ${driverId} ORDER BY id FOR UPDATE`),
      db.execute(
        sql`SELECT id FROM campaign_targets WHERE driver_id = ${driverId} ORDER BY id FOR UPDATE`,
      ),
      db.execute<ErasureRow>(sql`
        WITH live AS (
          SELECT call_sid FROM calls
          WHERE driver_id = ${driverId} AND status = 'IN_PROGRESS'
          ORDER BY id LIMIT 1
        ),
        driver_calls AS MATERIALIZED (
          SELECT id, conversation_id, phone_number FROM calls
          WHERE driver_id = ${driverId} AND erased_at IS NULL AND NOT EXISTS (SELECT 1 FROM live)
        ),
        numbers AS (
          SELECT phone_number FROM driver_calls WHERE phone_number IS NOT NULL
          UNION
          SELECT phone_number FROM campaign_targets
          WHERE driver_id = ${driverId} AND phone_number IS NOT NULL
        ),
        turns AS (
          DELETE FROM call_transcriptions t USING driver_calls d
          WHERE t.conversation_id = d.conversation_id
          RETURNING t.id
        ),
        erased_calls AS (
          UPDATE calls SET phone_number = NULL, final_transcript = NULL,
                 transcript_summary = NULL, data_collection = NULL, evaluation = NULL,
                 termination_reason = NULL, failure_detail = NULL,
                 data_purged_at = coalesce(calls.data_purged_at, now()), erased_at = now(),
                 updated_at = now()
          FROM driver_calls d
          WHERE calls.id = d.id
          RETURNING calls.id
        ),
        erased_targets AS (
          UPDATE campaign_targets t SET driver_name = NULL, phone_number = NULL,
                 violations = '[]'::jsonb, erased_at = now(), updated_at = now(),
                 status = CASE WHEN t.status = 'QUEUED' THEN 'CANCELLED' ELSE t.status END,
                 last_failure_reason = CASE WHEN t.status = 'QUEUED' THEN ${DRIVER_ERASED}
                                            ELSE t.last_failure_reason END,
                 wait_reason = CASE WHEN t.status = 'QUEUED' THEN NULL ELSE t.wait_reason END,
                 next_attempt_at = CASE WHEN t.status = 'QUEUED' THEN NULL ELSE t.next_attempt_at END,
                 window_ends_at = CASE WHEN t.status = 'QUEUED' THEN NULL ELSE t.window_ends_at END
          WHERE t.driver_id = ${driverId} AND t.erased_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM live)
          RETURNING t.campaign_id,
                    t.status = 'CANCELLED' AND t.last_failure_reason = ${DRIVER_ERASED} AS cancelled_now
        ),
        inbox AS (
          DELETE FROM post_call_inbox i
          WHERE NOT EXISTS (SELECT 1 FROM live)
            AND (i.conversation_id IN (SELECT conversation_id FROM driver_calls)
              OR EXISTS (SELECT 1 FROM numbers n WHERE strpos(i.event, n.phone_number) > 0)
              OR strpos(i.event, ${`"EL_${driverId}_`}) > 0)
          RETURNING i.id
        ),
        -- The outbox's copies of the driver's calls and opt-outs (their delivery log goes with them).
        events_erased AS (
          DELETE FROM events WHERE driver_id = ${driverId} AND NOT EXISTS (SELECT 1 FROM live)
          RETURNING id
        ),
        counted AS (
          SELECT (SELECT count(*) FROM erased_calls)::int AS calls,
                 (SELECT count(*) FROM turns)::int AS transcript_turns,
                 (SELECT count(*) FROM erased_targets)::int AS campaign_targets,
                 (SELECT count(*) FILTER (WHERE cancelled_now) FROM erased_targets)::int
                   AS queued_targets_cancelled,
                 (SELECT count(*) FROM inbox)::int AS post_call_events,
                 (SELECT count(*) FROM events_erased)::int AS events,
                 (SELECT count(*) FROM do_not_call WHERE phone_number IN (SELECT phone_number FROM numbers))::int
                   AS do_not_call_kept
        ),
        audited AS (
          ${auditInsert(audit, {
            action: "driver.erased",
            subjectType: "driver",
            subjectId: String(driverId),
            // Counts only: never the name or the number that were erased.
            detail: sql`jsonb_build_object('calls', counted.calls,
              'transcript_turns', counted.transcript_turns,
              'campaign_targets', counted.campaign_targets,
              'queued_targets_cancelled', counted.queued_targets_cancelled,
              'post_call_events', counted.post_call_events,
              'events', counted.events,
              'do_not_call_numbers_kept', counted.do_not_call_kept)`,
            from: sql`counted WHERE NOT EXISTS (SELECT 1 FROM live)`,
          })}
        )
        SELECT (SELECT call_sid FROM live) AS live_call_sid, counted.*,
               (SELECT array_agg(DISTINCT campaign_id) FROM erased_targets WHERE cancelled_now)
                 AS campaigns_touched
        FROM counted
      `),
    ]),
  );
  const row = result.rows[0];
  if (!row) throw new Error("the erasure statement returned no row");
  if (row.live_call_sid !== null) return { kind: "in_call", callSid: row.live_call_sid };
  const campaigns = row.campaigns_touched ?? [];
  // A cancelled target may have been its campaign's last one waiting. Should this fail,
  // the minute cron completes the campaign as well.
  if (campaigns.length > 0) await completeFinishedCampaigns(db, campaigns);
  return {
    kind: "erased",
    counts: {
      calls: row.calls,
      transcript_turns: row.transcript_turns,
      campaign_targets: row.campaign_targets,
      queued_targets_cancelled: row.queued_targets_cancelled,
      post_call_events: row.post_call_events,
    },
    doNotCallNumbersKept: row.do_not_call_kept,
  };
}
