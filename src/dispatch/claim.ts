// The claim: the one statement that decides who is dialed next. It takes free live-call
// slots, writes the Call rows (IN_PROGRESS, conversation_id NULL: the row exists before
// ElevenLabs is asked, as for every call) and, for campaigns, moves the targets to CALLING.
//
// Why the MAX_LIVE_CALLS cap holds under any race (concurrent batches, several queue
// consumers, a redelivered message):
// - Every dialed call holds a row in live_call_slots whose primary key is a slot number in
//   1..cap. Two calls can never hold the same slot: the primary key says so, whatever the
//   snapshots of the statements that race for it. (A count of live calls read inside the
//   claiming statement would not: it sees the statement's snapshot, from before a
//   concurrent claim committed.)
// - The slot row is deleted by the trigger of migration 0008 in the same transaction that
//   moves the call out of IN_PROGRESS, so "holds a slot" and "is live" never disagree.
// - The free slots a claim sees may be stale. Too few: it claims less (safe). Too many: its
//   insert of a taken slot conflicts; the campaign claim skips that slot (ON CONFLICT DO
//   NOTHING, and then writes no Call for it), the batch claim aborts whole and retries.
// - The claim also counts IN_PROGRESS calls and claims at most cap minus that count, so
//   calls without a slot (placed before migration 0008) count too, and lowering
//   MAX_LIVE_CALLS takes effect at once.
//
// Why a target is never dialed twice: it is taken FOR UPDATE SKIP LOCKED and re-checked on
// its latest version (QUEUED, due, inside its window), and the same statement moves it to
// CALLING. A repeated message, a second consumer or a stale snapshot finds it CALLING.
//
// Why a lost answer loses nothing: each claim carries an id (stored in calls.batch_id). A
// retry of the statement after its answer was lost finds the rows it already wrote by that
// id and returns them instead of claiming again.
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { sqlState, violatedConstraint, withDbRetry } from "../db/retry";

/** How many `_n` suffixes a call_sid may need at most (same driver, same second). */
const MAX_CALL_SID_SUFFIX = 1000;
/** Raced for a call_sid or (batch) a slot: try again with a fresh snapshot. */
const RACE_RETRIES = 5;

/** The first free call_sid for `base`, skipping `skip` free ones (same driver twice in one claim). */
function callSidCandidate(base: SQL, skip: SQL): SQL {
  return sql`(SELECT sid.candidate
     FROM generate_series(1, ${MAX_CALL_SID_SUFFIX}) AS suffix(k),
          LATERAL (SELECT CASE WHEN suffix.k = 1 THEN ${base} ELSE ${base} || '_' || suffix.k END AS candidate) AS sid
    WHERE NOT EXISTS (SELECT 1 FROM calls WHERE calls.call_sid = sid.candidate)
    ORDER BY suffix.k OFFSET ${skip} LIMIT 1)`;
}

/** Free slot numbers (snapshot), numbered 1..k, at most `want` and at most cap - live calls. */
function freeSlots(cap: number, want: SQL | number): SQL {
  return sql`
    live AS (SELECT count(*)::int AS n FROM calls WHERE status = 'IN_PROGRESS'),
    free_slots AS (
      -- In random order: claims racing each other then rarely reach for the same number.
      SELECT slot, row_number() OVER () AS rn
      FROM (
        SELECT slot FROM generate_series(1, ${cap}) AS slot
        WHERE slot NOT IN (SELECT s.slot FROM live_call_slots s)
        ORDER BY random()
        LIMIT greatest(0, least(${want}, ${cap} - (SELECT n FROM live)))
      ) AS free
    )`;
}

function isRace(error: unknown): boolean {
  if (sqlState(error) !== "23505") return false;
  const constraint = violatedConstraint(error);
  return constraint === "uq_calls_call_sid" || constraint === "live_call_slots_pkey";
}

/** Runs a claim statement again after a race for a call_sid or a slot, with jitter. */
async function retryRaces<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (!isRace(error) || attempt >= RACE_RETRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * (attempt + 1)));
    }
  }
}

export interface ClaimedCall {
  callId: number;
  callSid: string;
  driverId: number;
  driverName: string;
  phoneNumber: string;
  violations: unknown;
  campaignTargetId: number | null;
}

export interface CampaignClaim {
  calls: ClaimedCall[];
  /** Free slots left after this claim, as its snapshot saw them. */
  freeSlotsLeft: number;
  /** Whether more targets were due than this claim took. */
  moreDue: boolean;
  /** Campaigns whose due targets were SKIPPED (number on the do-not-call list). */
  skippedInCampaigns: string[];
}

interface CampaignClaimRow extends Record<string, unknown> {
  free_slots: number;
  more_due: boolean;
  skipped_campaigns: string[] | null;
  call_id: number | null;
  call_sid: string | null;
  target_id: number | null;
  driver_id: number | null;
  driver_name: string | null;
  phone_number: string | null;
  violations: unknown;
}

/**
 * Claims up to `want` due campaign targets in one statement: due means QUEUED, its
 * campaign RUNNING, next_attempt_at reached and still inside the opening of its calling
 * window (window_ends_at), and its number not on the do-not-call list now (due targets
 * whose number is on it are SKIPPED by the same statement). Oldest due first.
 */
export async function claimCampaignTargets(
  db: Database,
  options: { want: number; maxLiveCalls: number; now: Date; claimId?: string },
): Promise<CampaignClaim> {
  const claimId = options.claimId ?? crypto.randomUUID();
  const now = options.now.toISOString();
  const seconds = Math.floor(options.now.getTime() / 1000);
  // Due: QUEUED in a RUNNING campaign, next_attempt_at reached, window still open. Checked
  // again on each target's latest version once it is locked (FOR UPDATE re-evaluates it).
  const due = sql`t.status = 'QUEUED' AND c.status = 'RUNNING'
    AND t.next_attempt_at <= ${now}::timestamptz AND t.window_ends_at > ${now}::timestamptz`;
  const rows = await retryRaces(() =>
    withDbRetry(() =>
      db.execute<CampaignClaimRow>(sql`
        WITH existing AS (
          SELECT c.id AS call_id, c.call_sid, c.campaign_target_id AS target_id
          FROM calls c WHERE c.batch_id = ${claimId}::uuid
        ),
        ${freeSlots(options.maxLiveCalls, options.want)},
        skipped AS (
          UPDATE campaign_targets t
          SET status = 'SKIPPED', last_failure_reason = 'do_not_call', wait_reason = NULL,
              next_attempt_at = NULL, window_ends_at = NULL, updated_at = now()
          FROM (
            SELECT t.id FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
            WHERE ${due} AND EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone_number = t.phone_number)
            LIMIT 500
            FOR UPDATE OF t SKIP LOCKED
          ) AS blocked
          WHERE t.id = blocked.id AND NOT EXISTS (SELECT 1 FROM existing)
          RETURNING t.campaign_id
        ),
        picked AS (
          SELECT t.id, t.driver_id, t.phone_number, t.next_attempt_at
          FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
          WHERE ${due}
            AND NOT EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone_number = t.phone_number)
            AND NOT EXISTS (SELECT 1 FROM existing)
          ORDER BY t.next_attempt_at, t.id
          LIMIT (SELECT count(*) FROM free_slots)
          FOR UPDATE OF t SKIP LOCKED
        ),
        more_due AS (
          SELECT EXISTS (
            SELECT 1 FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
            WHERE ${due} AND t.id NOT IN (SELECT id FROM picked)
          ) AS more
        ),
        pairs AS (
          SELECT p.*, f.slot, nextval(pg_get_serial_sequence('calls', 'id'))::int AS call_id,
                 row_number() OVER (PARTITION BY p.driver_id ORDER BY p.id) - 1 AS same_driver_before
          FROM (SELECT picked.*, row_number() OVER (ORDER BY picked.next_attempt_at, picked.id) AS rn FROM picked) p
          JOIN free_slots f ON f.rn = p.rn
        ),
        slots AS (
          INSERT INTO live_call_slots (slot, call_id)
          SELECT slot, call_id FROM pairs
          ON CONFLICT (slot) DO NOTHING
          RETURNING call_id
        ),
        inserted AS (
          INSERT INTO calls (id, call_sid, driver_id, phone_number, status, call_start_time,
                             campaign_target_id, batch_id)
          SELECT p.call_id,
                 ${callSidCandidate(sql`('EL_' || p.driver_id || '_' || ${seconds}::bigint)`, sql`p.same_driver_before`)},
                 p.driver_id, p.phone_number, 'IN_PROGRESS', ${now}::timestamptz, p.id, ${claimId}::uuid
          FROM pairs p JOIN slots s ON s.call_id = p.call_id
          RETURNING id, call_sid, campaign_target_id
        ),
        claimed AS (
          UPDATE campaign_targets t
          SET status = 'CALLING', wait_reason = NULL, call_ids = t.call_ids || i.id, updated_at = now()
          FROM inserted i WHERE t.id = i.campaign_target_id
          RETURNING t.id AS target_id, i.id AS call_id, i.call_sid
        ),
        result AS (
          SELECT call_id, call_sid, target_id FROM claimed
          UNION ALL
          SELECT call_id, call_sid, target_id FROM existing
        )
        SELECT ${options.maxLiveCalls} - (SELECT n FROM live) - (SELECT count(*) FROM claimed)::int AS free_slots,
               (SELECT more FROM more_due) AS more_due,
               (SELECT array_agg(DISTINCT campaign_id) FROM skipped) AS skipped_campaigns,
               r.call_id, r.call_sid, r.target_id,
               t.driver_id, t.driver_name, t.phone_number, t.violations
        FROM (SELECT 1) AS one
        LEFT JOIN result r ON true
        LEFT JOIN campaign_targets t ON t.id = r.target_id
      `),
    ),
  );
  const first = rows.rows[0];
  const calls = rows.rows.flatMap((row): ClaimedCall[] =>
    row.call_id === null || row.call_sid === null || row.target_id === null
      ? []
      : [
          {
            callId: row.call_id,
            callSid: row.call_sid,
            driverId: row.driver_id ?? 0,
            driverName: row.driver_name ?? "",
            phoneNumber: row.phone_number ?? "",
            violations:
              typeof row.violations === "string" ? JSON.parse(row.violations) : row.violations,
            campaignTargetId: Number(row.target_id),
          },
        ],
  );
  return {
    calls,
    freeSlotsLeft: Math.max(0, first?.free_slots ?? 0),
    moreDue: first?.more_due === true,
    skippedInCampaigns: first?.skipped_campaigns ?? [],
  };
}

export interface BatchDriver {
  driver_id: number;
  phone_number: string;
}

export type BatchClaim =
  | {
      kind: "claimed";
      /** One per driver, in request order; do-not-call drivers are FAILED rows, not dialed. */
      calls: { callId: number; callSid: string; driverId: number; doNotCall: boolean }[];
    }
  | { kind: "at_capacity"; live: number; freeSlots: number; needed: number };

interface BatchClaimRow extends Record<string, unknown> {
  go: boolean;
  live: number;
  free_slots: number;
  needed: number;
  call_id: number | null;
  call_sid: string | null;
  driver_id: number | null;
  do_not_call: boolean | null;
}

/**
 * Claims a slot for every driver of a batch, or none: the batch is dialed now or not at
 * all (a longer list is a campaign, which waits for slots). Drivers whose number is on the
 * do-not-call list need no slot: their Call row is written FAILED `do_not_call` and they
 * are not dialed. Nothing at all is written when the free slots do not suffice.
 */
export async function claimBatchSlots(
  db: Database,
  options: { drivers: readonly BatchDriver[]; maxLiveCalls: number; now: Date; claimId: string },
): Promise<BatchClaim> {
  const { drivers, claimId } = options;
  const now = options.now.toISOString();
  const seconds = Math.floor(options.now.getTime() / 1000);
  const result = await retryRaces(() =>
    withDbRetry(() =>
      db.execute<BatchClaimRow>(sql`
        WITH existing AS (
          SELECT id, call_sid, driver_id, status, failure_reason FROM calls WHERE batch_id = ${claimId}::uuid
        ),
        input AS (
          SELECT i.driver_id, i.phone_number, i.ord,
                 EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone_number = i.phone_number) AS do_not_call
          FROM unnest(${sql.param(drivers.map((driver) => driver.driver_id))}::int[],
                      ${sql.param(drivers.map((driver) => driver.phone_number))}::text[])
               WITH ORDINALITY AS i(driver_id, phone_number, ord)
        ),
        needed AS (SELECT count(*) FILTER (WHERE NOT do_not_call)::int AS n FROM input),
        ${freeSlots(options.maxLiveCalls, sql`(SELECT n FROM needed)`)},
        go AS (
          SELECT NOT EXISTS (SELECT 1 FROM existing)
             AND (SELECT count(*) FROM free_slots) >= (SELECT n FROM needed) AS go
        ),
        pairs AS (
          SELECT d.ord, f.slot
          FROM (SELECT ord, row_number() OVER (ORDER BY ord) AS rn FROM input WHERE NOT do_not_call) d
          JOIN free_slots f ON f.rn = d.rn
          WHERE (SELECT go FROM go)
        ),
        numbered AS (
          SELECT input.*, pairs.slot, nextval(pg_get_serial_sequence('calls', 'id'))::int AS call_id
          FROM input LEFT JOIN pairs ON pairs.ord = input.ord
          WHERE (SELECT go FROM go)
        ),
        -- A plain INSERT: a slot taken since our snapshot aborts the whole statement, so a
        -- batch never gets part of its slots; it is retried with a fresh snapshot.
        slots AS (
          INSERT INTO live_call_slots (slot, call_id)
          SELECT slot, call_id FROM numbered WHERE slot IS NOT NULL
          RETURNING call_id
        ),
        inserted AS (
          INSERT INTO calls (id, call_sid, driver_id, phone_number, status, failure_reason,
                             failure_detail, call_start_time, batch_id)
          SELECT n.call_id,
                 ${callSidCandidate(sql`('EL_' || n.driver_id || '_' || ${seconds}::bigint)`, sql`0`)},
                 n.driver_id, n.phone_number,
                 CASE WHEN n.do_not_call THEN 'FAILED' ELSE 'IN_PROGRESS' END,
                 CASE WHEN n.do_not_call THEN 'do_not_call' END,
                 CASE WHEN n.do_not_call THEN 'The number is on the do-not-call list: not dialed.' END,
                 ${now}::timestamptz, ${claimId}::uuid
          FROM numbered n
          ORDER BY n.ord
          RETURNING id, call_sid, driver_id, status
        ),
        rows AS (
          SELECT id, call_sid, driver_id, status = 'FAILED' AS do_not_call FROM inserted
          UNION ALL
          SELECT id, call_sid, driver_id, failure_reason = 'do_not_call' FROM existing
        )
        SELECT (SELECT go FROM go) OR EXISTS (SELECT 1 FROM existing) AS go,
               (SELECT n FROM live) AS live, (SELECT count(*) FROM free_slots)::int AS free_slots,
               (SELECT n FROM needed) AS needed,
               rows.id AS call_id, rows.call_sid, rows.driver_id, rows.do_not_call
        FROM (SELECT 1) AS one LEFT JOIN rows ON true
      `),
    ),
  );
  const first = result.rows[0];
  if (!first?.go) {
    return {
      kind: "at_capacity",
      live: first?.live ?? 0,
      freeSlots: first?.free_slots ?? 0,
      needed: first?.needed ?? drivers.length,
    };
  }
  const byDriver = new Map(
    result.rows
      .filter((row) => row.call_id !== null)
      .map((row) => [
        row.driver_id,
        {
          callId: row.call_id as number,
          callSid: row.call_sid as string,
          driverId: row.driver_id as number,
          doNotCall: row.do_not_call === true,
        },
      ]),
  );
  return {
    kind: "claimed",
    calls: drivers.map((driver) => {
      const call = byDriver.get(driver.driver_id);
      if (!call) throw new Error(`the batch claim wrote no Call for driver ${driver.driver_id}`);
      return call;
    }),
  };
}
