// What an operator looks for first on a campaign's page, beyond the counts per status:
// who was reached (and the calls' outcomes), who waits and for what, who failed and why,
// who was skipped and why, and who asked on a call not to be called again. One statement
// over the campaign's targets (idx_campaign_targets_campaign_status), read-only.
import { sql } from "drizzle-orm";
import { numberInLiveCall } from "../calls/status-rules";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";
import { isCampaignId } from "./repository";

export interface CampaignBreakdown {
  /** COMPLETED targets by their latest call's call_successful ("none" before the analysis). */
  reached: Record<string, number>;
  /** QUEUED targets by waiting_for (start_at, calling_window, retry, slot, number_in_call). */
  waiting: Record<string, number>;
  /** FAILED targets by last_failure_reason. */
  failed: Record<string, number>;
  /** SKIPPED targets by last_failure_reason (do_not_call). */
  skipped: Record<string, number>;
  /** Targets whose own call put their number on the do-not-call list (reason opt_out). */
  optedOut: number;
}

interface Row extends Record<string, unknown> {
  kind: "reached" | "waiting" | "failed" | "skipped" | "opted_out";
  reason: string | null;
  n: number;
}

export async function getCampaignBreakdown(
  db: Database,
  campaignId: string,
  now: Date,
): Promise<CampaignBreakdown | null> {
  if (!isCampaignId(campaignId)) return null;
  // waiting_for as toTargetView (repository.ts) says it: a target already due waits only
  // for a free live-call slot.
  const { rows } = await withDbRetry(() =>
    db.execute<Row>(sql`
      SELECT x.kind, x.reason, count(*)::int AS n
      FROM (
        SELECT CASE t.status WHEN 'COMPLETED' THEN 'reached' WHEN 'QUEUED' THEN 'waiting'
                             WHEN 'FAILED' THEN 'failed' ELSE 'skipped' END AS kind,
               CASE t.status
                 WHEN 'QUEUED' THEN CASE
                   WHEN t.next_attempt_at > ${now.toISOString()}::timestamptz THEN t.wait_reason
                   WHEN ${numberInLiveCall(sql`t.phone_number`)} THEN 'number_in_call'
                   ELSE 'slot' END
                 WHEN 'COMPLETED' THEN (SELECT c.call_successful FROM calls c
                                        WHERE c.id = t.call_ids[cardinality(t.call_ids)])
                 ELSE t.last_failure_reason END AS reason
        FROM campaign_targets t
        WHERE t.campaign_id = ${campaignId}::uuid
          AND t.status IN ('COMPLETED', 'QUEUED', 'FAILED', 'SKIPPED')
      ) x
      GROUP BY x.kind, x.reason
      UNION ALL
      SELECT 'opted_out', NULL, count(*)::int
      FROM campaign_targets t
      JOIN do_not_call d ON d.phone_number = t.phone_number AND d.reason = 'opt_out'
      WHERE t.campaign_id = ${campaignId}::uuid
        AND EXISTS (SELECT 1 FROM calls c WHERE c.id = ANY (t.call_ids) AND c.call_sid = d.call_sid)
    `),
  );
  const breakdown: CampaignBreakdown = {
    reached: {},
    waiting: {},
    failed: {},
    skipped: {},
    optedOut: 0,
  };
  for (const row of rows) {
    if (row.kind === "opted_out") {
      breakdown.optedOut = Number(row.n);
      continue;
    }
    const reason = row.reason ?? (row.kind === "reached" ? "none" : "unknown");
    breakdown[row.kind][reason] = Number(row.n);
  }
  return breakdown;
}
