// When a waiting campaign target may be dialed: its next_attempt_at (the earliest instant)
// and window_ends_at (the end of that opening of its calling window), computed with the
// calling rules (src/calling-rules/, pure functions of window, zone and instant). The claim
// dials a target only between the two, so the window is checked at dial time, in the
// claim's own statement; this only says when to look.
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";
import type { CallingWindowJson, WaitReason } from "../db/schema";
import type { Logger } from "../http/log";
import { openingAfter } from "./opening";

export interface Placement {
  nextAttemptAt: Date;
  windowEndsAt: Date;
  waitReason: WaitReason;
}

/**
 * Where a target waits: the first opening of its window at or after the latest of now,
 * the campaign's start_at and (for a retry) the failed call's end + backoff.
 */
export function placeTarget(options: {
  window: CallingWindowJson;
  timeZone: string;
  now: Date;
  startAt: Date;
  /** The retry time, when a retry is what it waits for. */
  retryAt?: Date | null;
}): Placement {
  const { now, startAt } = options;
  const retryAt = options.retryAt ?? null;
  let notBefore = now;
  let reason: WaitReason = "slot";
  if (startAt > notBefore) {
    notBefore = startAt;
    reason = "start_at";
  }
  if (retryAt && retryAt > notBefore) {
    notBefore = retryAt;
    reason = "retry";
  }
  const opening = openingAfter(options.window, options.timeZone, notBefore);
  return {
    nextAttemptAt: opening.opensAt,
    windowEndsAt: opening.closesAt,
    waitReason: opening.opensAt > notBefore ? "calling_window" : reason,
  };
}

interface UnplacedRow extends Record<string, unknown> {
  id: number;
  time_zone: string;
  wait_reason: WaitReason | null;
  next_attempt_at: string | null;
  calling_window: CallingWindowJson | string;
  start_at: string;
}

const PLACE_PER_RUN = 2_000;

/**
 * Computes the next opening of every QUEUED target that needs one (a retry was just
 * scheduled, or the opening it waited for closed before it got a slot), or of the given
 * targets only. Two statements; the update re-checks that each target still needs it, so
 * a target claimed in between is left alone.
 */
export async function placeWaitingTargets(
  db: Database,
  options: { now: Date; targetIds?: number[]; log?: Logger },
): Promise<(Placement & { targetId: number })[]> {
  const now = options.now.toISOString();
  const needsPlacing = sql`t.status = 'QUEUED' AND coalesce(t.window_ends_at, '-infinity'::timestamptz) <= ${now}::timestamptz`;
  const only =
    options.targetIds === undefined
      ? sql`true`
      : sql`t.id = ANY(${sql.param(options.targetIds)}::bigint[])`;
  const { rows } = await withDbRetry(() =>
    db.execute<UnplacedRow>(sql`
      SELECT t.id, t.time_zone, t.wait_reason, t.next_attempt_at, c.calling_window, c.start_at
      FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
      WHERE ${needsPlacing} AND c.status = 'RUNNING' AND ${only}
      -- In the order of idx_campaign_targets_to_place, so the scan reads only the targets
      -- that need placing and stops at the limit. (ORDER BY t.id made the planner walk the
      -- primary key past every target, a million of them, when none needed placing; a tie
      -- break by id would sort every tied target. Which tied ones go first does not matter:
      -- the UPDATE re-checks each.)
      ORDER BY coalesce(t.window_ends_at, '-infinity'::timestamptz)
      LIMIT ${PLACE_PER_RUN}
    `),
  );
  if (rows.length === 0) return [];
  const placements = rows.map((row) => {
    const window =
      typeof row.calling_window === "string"
        ? (JSON.parse(row.calling_window) as CallingWindowJson)
        : row.calling_window;
    const scheduled = row.next_attempt_at === null ? null : new Date(row.next_attempt_at);
    return placeTarget({
      window,
      timeZone: row.time_zone,
      now: options.now,
      startAt: new Date(row.start_at),
      retryAt: row.wait_reason === "retry" ? scheduled : null,
    });
  });
  const updated = await withDbRetry(() =>
    db.execute(sql`
      UPDATE campaign_targets t
      SET next_attempt_at = p.next_attempt_at, window_ends_at = p.window_ends_at,
          wait_reason = p.wait_reason, updated_at = now()
      FROM unnest(${sql.param(rows.map((row) => row.id))}::bigint[],
                  ${sql.param(placements.map((p) => p.nextAttemptAt.toISOString()))}::timestamptz[],
                  ${sql.param(placements.map((p) => p.windowEndsAt.toISOString()))}::timestamptz[],
                  ${sql.param(placements.map((p) => p.waitReason))}::text[])
           AS p(id, next_attempt_at, window_ends_at, wait_reason)
      WHERE t.id = p.id AND ${needsPlacing}
      RETURNING t.id
    `),
  );
  const placedIds = new Set(updated.rows.map((row) => Number((row as { id: unknown }).id)));
  options.log?.info("targets_placed", { count: placedIds.size });
  return rows.flatMap((row, index) => {
    const placement = placements[index];
    return placement && placedIds.has(Number(row.id))
      ? [{ ...placement, targetId: Number(row.id) }]
      : [];
  });
}

/**
 * Marks COMPLETED every RUNNING campaign (or those given) with no target left QUEUED or
 * CALLING. Safe on a stale snapshot: a target never goes from a final state back to
 * QUEUED or CALLING, so "none active" in any snapshot is still true. (The trigger of
 * migration 0008 does this when a call finishes; this covers do-not-call skips, which
 * change no call, and is the cron's safety net.)
 */
export async function completeFinishedCampaigns(db: Database, campaignIds?: string[]) {
  const only =
    campaignIds === undefined ? sql`true` : sql`c.id = ANY(${sql.param(campaignIds)}::uuid[])`;
  await withDbRetry(() =>
    db.execute(sql`
      UPDATE campaigns c SET status = 'COMPLETED', finished_at = now(), updated_at = now()
      WHERE c.status = 'RUNNING' AND ${only}
        AND NOT EXISTS (
          SELECT 1 FROM campaign_targets t
          WHERE t.campaign_id = c.id AND t.status IN ('QUEUED', 'CALLING')
        )
    `),
  );
}
