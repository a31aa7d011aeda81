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
// Why a number never has two live calls (one number, one live call): a claim skips numbers
// that have a live call and takes at most one target per number; and the unique index
// uq_calls_live_phone_number (migration 0011) refuses a second IN_PROGRESS call to a
// number whatever the snapshots, so of two claims that race for one number, the second
// fails as a race and is run again with a fresh snapshot, which skips the number.
//
// Why a lost answer loses nothing: each claim carries an id (stored in calls.batch_id). A
// retry of the statement after its answer was lost finds the rows it already wrote by that
// id and returns them instead of claiming again.
import { type SQL, sql } from "drizzle-orm";
import { type AuditStamp, auditInsert } from "../audit/record";
import { numberInLiveCall } from "../calls/status-rules";
import type { Database } from "../db/client";
import { sqlState, violatedConstraint, withDbRetry } from "../db/retry";

/** How many `_n` suffixes a call_sid may need at most (same driver, same second). */
const MAX_CALL_SID_SUFFIX = 1000;
/** Raced for a call_sid or (batch) a slot: try again with a fresh snapshot. */
const RACE_RETRIES = 5;

/**
 * The first free call_sid for `base`, skipping `skip` free ones (same driver twice in one
 * claim). Nearly always `base` itself is free and nothing is skipped: one index probe, and
 * CASE does not evaluate the search for `_2`, `_3`, ... (up to 1,000 candidates, each a
 * probe) unless it is needed.
 */
function callSidCandidate(base: SQL, skip: SQL): SQL {
  return sql`(CASE
    WHEN ${skip} = 0 AND NOT EXISTS (SELECT 1 FROM calls WHERE calls.call_sid = ${base}) THEN ${base}
    ELSE (SELECT sid.candidate
     FROM generate_series(1, ${MAX_CALL_SID_SUFFIX}) AS suffix(k),
          LATERAL (SELECT CASE WHEN suffix.k = 1 THEN ${base} ELSE ${base} || '_' || suffix.k END AS candidate) AS sid
    WHERE NOT EXISTS (SELECT 1 FROM calls WHERE calls.call_sid = sid.candidate)
    ORDER BY suffix.k OFFSET ${skip} LIMIT 1)
    END)`;
}

/** Free slot numbers (snapshot), numbered 1..k, at most `want` and at most cap - live calls. */
function freeSlots(cap: number, want: SQL | number): SQL {
  return sql`
    live AS (SELECT count(*)::int AS n FROM calls WHERE status = 'IN_PROGRESS'),
    free_slots AS (
      -- Lowest numbers first, in the same order in every claim: claims that race for the
      -- same slots then wait for each other in one order and never deadlock (a random
      -- order did, for about a second); the loser's conflict is handled as a race.
      SELECT slot, row_number() OVER (ORDER BY slot) AS rn
      FROM (
        SELECT slot FROM generate_series(1, ${cap}) AS slot
        WHERE slot NOT IN (SELECT s.slot FROM live_call_slots s)
        ORDER BY slot
        LIMIT greatest(0, least(${want}, ${cap} - (SELECT n FROM live)))
      ) AS free
    )`;
}

function isRace(error: unknown): boolean {
  if (sqlState(error) !== "23505") return false;
  const constraint = violatedConstraint(error);
  return (
    constraint === "uq_calls_call_sid" ||
    constraint === "live_call_slots_pkey" ||
    constraint === "uq_calls_live_phone_number"
  );
}

/** Runs a claim statement again after a race for a call_sid, a slot or a number, with jitter. */
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
          -- Only the head of the due queue (the first 500 due targets, in claim order) is
          -- checked against the list, and only the hits are locked: checking every due
          -- target cost a probe each, linear in the backlog. A target on the list is never
          -- dialed either way (the candidates exclude it); claims take from the head, so it
          -- reaches the head, and is skipped, before anyone behind it is dialed.
          FROM (
            SELECT t.id FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
            WHERE ${due}
              AND t.id IN (
                SELECT h.id FROM (
                  SELECT h.id, h.phone_number FROM campaign_targets h
                  WHERE h.status = 'QUEUED' AND h.next_attempt_at <= ${now}::timestamptz
                    AND h.window_ends_at > ${now}::timestamptz
                  ORDER BY h.next_attempt_at, h.id
                  LIMIT 500
                ) AS h
                WHERE EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone_number = h.phone_number)
              )
            LIMIT 500
            FOR UPDATE OF t SKIP LOCKED
          ) AS blocked
          WHERE t.id = blocked.id AND NOT EXISTS (SELECT 1 FROM existing)
          RETURNING t.campaign_id
        ),
        -- Locked, then at most one per number (FOR UPDATE cannot share a query level with
        -- DISTINCT ON): the same number due in two campaigns is dialed once now.
        candidates AS MATERIALIZED (
          SELECT t.id, t.driver_id, t.phone_number, t.next_attempt_at
          FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
          WHERE ${due}
            AND NOT EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone_number = t.phone_number)
            AND NOT ${numberInLiveCall(sql`t.phone_number`)}
            AND NOT EXISTS (SELECT 1 FROM existing)
          ORDER BY t.next_attempt_at, t.id
          LIMIT (SELECT count(*) FROM free_slots) * 2
          FOR UPDATE OF t SKIP LOCKED
        ),
        picked AS (
          SELECT * FROM (
            SELECT DISTINCT ON (phone_number) * FROM candidates
            ORDER BY phone_number, next_attempt_at, id
          ) AS one_per_number
          ORDER BY next_attempt_at, id
          LIMIT (SELECT count(*) FROM free_slots)
        ),
        pairs AS (
          SELECT p.*, f.slot, nextval(pg_get_serial_sequence('calls', 'id'))::int AS call_id,
                 row_number() OVER (PARTITION BY p.driver_id ORDER BY p.id) - 1 AS same_driver_before
          FROM (SELECT picked.*, row_number() OVER (ORDER BY picked.next_attempt_at, picked.id) AS rn FROM picked) p
          JOIN free_slots f ON f.rn = p.rn
        ),
        slots AS (
          INSERT INTO live_call_slots (slot, call_id)
          SELECT slot, call_id FROM pairs ORDER BY slot
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
        -- Due targets left after this claim, picked ones that lost their slot to a racing
        -- claim included (they are still QUEUED): the run claims again rather than leave
        -- them to the cron. Targets whose number is in a call wait for that call's end,
        -- which wakes the dispatcher.
        more_due AS (
          SELECT EXISTS (
            SELECT 1 FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
            WHERE ${due} AND t.id NOT IN (SELECT campaign_target_id FROM inserted)
              AND NOT ${numberInLiveCall(sql`t.phone_number`)}
          ) AS more
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
      /**
       * One per driver, in request order. `notDialed`: written FAILED with that reason and
       * not dialed: the number is on the do-not-call list, or it is in a live call (from any
       * campaign or batch, or an earlier driver of this batch with the same number).
       */
      calls: {
        callId: number;
        callSid: string;
        driverId: number;
        notDialed: "do_not_call" | "number_in_call" | null;
      }[];
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
  not_dialed: "do_not_call" | "number_in_call" | null;
}

/**
 * Claims a slot for every driver of a batch, or none: the batch is dialed now or not at
 * all (a longer list is a campaign, which waits for slots). Drivers whose number is on the
 * do-not-call list, or in a live call, need no slot: their Call row is written FAILED
 * (`do_not_call`, `number_in_call`) and they are not dialed. Nothing at all is written when
 * the free slots do not suffice.
 */
export async function claimBatchSlots(
  db: Database,
  options: {
    drivers: readonly BatchDriver[];
    maxLiveCalls: number;
    now: Date;
    claimId: string;
    /** Who placed the batch: `batch.placed` is written by this statement with its calls. */
    audit: AuditStamp;
  },
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
        given AS (
          SELECT i.driver_id, i.phone_number, i.ord,
                 row_number() OVER (PARTITION BY i.phone_number ORDER BY i.ord) AS nth_with_number
          FROM unnest(${sql.param(drivers.map((driver) => driver.driver_id))}::int[],
                      ${sql.param(drivers.map((driver) => driver.phone_number))}::text[])
               WITH ORDINALITY AS i(driver_id, phone_number, ord)
        ),
        input AS (
          SELECT g.driver_id, g.phone_number, g.ord,
                 CASE
                   WHEN EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone_number = g.phone_number)
                     THEN 'do_not_call'
                   WHEN g.nth_with_number > 1 OR ${numberInLiveCall(sql`g.phone_number`)}
                     THEN 'number_in_call'
                 END AS not_dialed
          FROM given g
        ),
        needed AS (SELECT count(*) FILTER (WHERE not_dialed IS NULL)::int AS n FROM input),
        ${freeSlots(options.maxLiveCalls, sql`(SELECT n FROM needed)`)},
        go AS (
          SELECT NOT EXISTS (SELECT 1 FROM existing)
             AND (SELECT count(*) FROM free_slots) >= (SELECT n FROM needed) AS go
        ),
        pairs AS (
          SELECT d.ord, f.slot
          FROM (SELECT ord, row_number() OVER (ORDER BY ord) AS rn FROM input WHERE not_dialed IS NULL) d
          JOIN free_slots f ON f.rn = d.rn
          WHERE (SELECT go FROM go)
        ),
        -- Call ids in request order (the subquery sorts before nextval is called).
        numbered AS (
          SELECT ordered.*, nextval(pg_get_serial_sequence('calls', 'id'))::int AS call_id
          FROM (
            SELECT input.*, pairs.slot FROM input LEFT JOIN pairs ON pairs.ord = input.ord
            WHERE (SELECT go FROM go)
            ORDER BY input.ord
          ) AS ordered
        ),
        -- A plain INSERT: a slot taken since our snapshot aborts the whole statement, so a
        -- batch never gets part of its slots; it is retried with a fresh snapshot.
        slots AS (
          INSERT INTO live_call_slots (slot, call_id)
          SELECT slot, call_id FROM numbered WHERE slot IS NOT NULL ORDER BY slot
          RETURNING call_id
        ),
        inserted AS (
          INSERT INTO calls (id, call_sid, driver_id, phone_number, status, failure_reason,
                             failure_detail, call_start_time, batch_id)
          SELECT n.call_id,
                 ${callSidCandidate(sql`('EL_' || n.driver_id || '_' || ${seconds}::bigint)`, sql`0`)},
                 n.driver_id, n.phone_number,
                 CASE WHEN n.not_dialed IS NULL THEN 'IN_PROGRESS' ELSE 'FAILED' END,
                 n.not_dialed,
                 CASE n.not_dialed
                   WHEN 'do_not_call' THEN 'The number is on the do-not-call list: not dialed.'
                   WHEN 'number_in_call' THEN 'The number is in a live call already (one number, one live call): not dialed.'
                 END,
                 ${now}::timestamptz, ${claimId}::uuid
          FROM numbered n
          ORDER BY n.ord
          RETURNING id, call_sid, driver_id, failure_reason
        ),
        audited AS (
          ${auditInsert(options.audit, {
            action: "batch.placed",
            subjectType: "batch",
            subjectId: claimId,
            detail: sql`(SELECT jsonb_build_object('calls', count(*),
                           'not_dialed', count(*) FILTER (WHERE failure_reason IS NOT NULL))
                         FROM inserted)`,
            from: sql`(SELECT 1 FROM inserted LIMIT 1) AS any_call`,
          })}
        ),
        rows AS (
          SELECT id, call_sid, driver_id, failure_reason AS not_dialed FROM inserted
          UNION ALL
          SELECT id, call_sid, driver_id,
                 CASE WHEN failure_reason IN ('do_not_call', 'number_in_call') THEN failure_reason END
          FROM existing
        )
        SELECT (SELECT go FROM go) OR EXISTS (SELECT 1 FROM existing) AS go,
               (SELECT n FROM live) AS live, (SELECT count(*) FROM free_slots)::int AS free_slots,
               (SELECT n FROM needed) AS needed,
               rows.id AS call_id, rows.call_sid, rows.driver_id, rows.not_dialed
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
          notDialed: row.not_dialed,
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
