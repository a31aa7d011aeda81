// The data set of `npm run bench:scale`: campaigns, their targets, calls, the do-not-call
// list, a few idempotency keys and post-call inbox rows, written by set-based SQL
// (INSERT ... SELECT over generate_series) straight into the migrated schema, then VACUUM
// ANALYZE (as autovacuum would have left a production table: statistics and visibility map).
//
// Everything is derived from the row number with hashint4/hashint8, so a size always gives
// the same data. Times are relative to `t0` (the bench's "now", an even unix second):
//   campaigns   the newest 10% scheduled (RUNNING, start_at 12 h apart in the future, every
//               target QUEUED waiting for it), the 10% before them RUNNING now; one in 20 of
//               the others CANCELLED, the rest COMPLETED; one every 180 days / campaigns.
//   targets     per campaign, `targets / campaigns` (one per driver, driver ids spread over
//               `drivers`). Campaigns running now: 2 CALLING (their IN_PROGRESS calls hold
//               live-call slots), ~50% COMPLETED, 15% FAILED, 2% SKIPPED, 10% QUEUED and due
//               now (next_attempt_at in the last 2 h, window open 2 h more), 1% QUEUED whose
//               opening closed 10 min ago (to place), the rest QUEUED due later (1 h to 7 days).
//               Finished campaigns: COMPLETED / FAILED / SKIPPED (CANCELLED ones: CANCELLED).
//   calls       one per attempt of a target (a FAILED target has 2 attempts one time in two),
//               linked both ways (calls.campaign_target_id, campaign_targets.call_ids); then
//               /calls/batch calls (no target) up to `calls`, spread over 180 days. call_sid
//               `EL_{driver_id}_{unix_seconds}`: campaign calls at even seconds, batch calls at
//               odd ones, so no two share a value and no suffix is needed.
//   do_not_call `dnc` numbers, as in a steady state (due targets on the list were skipped
//               by earlier claims): 1% belong to targets due now (added since: this claim
//               skips them), 10% to targets due later, the rest to other drivers and nobody.
// At `idleNow` (t0 - 3 h) nothing is due and nothing needs placing: the cron's quiet minute.
import type pg from "pg";

export interface ScaleSizes {
  targets: number;
  calls: number;
  dnc: number;
  campaigns: number;
  drivers: number;
}

export interface SeedResult {
  t0: Date;
  /** Nothing is due and nothing needs placing at this instant. */
  idleNow: Date;
  counts: Record<string, number>;
  /** Drivers with calls, for GET /calls?driver_id=. */
  sampleDrivers: number[];
  seconds: number;
}

const DAY = 86_400;
const HISTORY_DAYS = 180;

export function sizesFromEnv(env: NodeJS.ProcessEnv = process.env): ScaleSizes {
  const small = env.SCALE === "small";
  const targets = Number(env.SCALE_TARGETS ?? (small ? 10_000 : 1_000_000));
  const calls = Number(env.SCALE_CALLS ?? (small ? 20_000 : 2_000_000));
  const dnc = Number(env.SCALE_DNC ?? (small ? 200 : 10_000));
  // 10,000 targets a campaign (the API's maximum), at least 10 campaigns.
  const campaigns = Number(env.SCALE_CAMPAIGNS ?? Math.max(10, Math.round(targets / 10_000)));
  const drivers = Number(env.SCALE_DRIVERS ?? Math.max(1_000, Math.round(targets / 5)));
  for (const [name, value] of Object.entries({ targets, calls, dnc, campaigns, drivers })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`bad ${name}: ${value}`);
  }
  if (targets % campaigns !== 0) {
    throw new Error(
      `SCALE_TARGETS (${targets}) must be a multiple of the campaigns (${campaigns})`,
    );
  }
  if (targets / campaigns > drivers) {
    throw new Error(`a campaign has one target per driver: ${targets / campaigns} > ${drivers}`);
  }
  return { targets, calls, dnc, campaigns, drivers };
}

/** Seeds an empty, migrated database. `log` gets one line a step, with its duration. */
export async function seed(
  client: pg.Client,
  sizes: ScaleSizes,
  log: (line: string) => void,
): Promise<SeedResult> {
  const started = performance.now();
  const nowSeconds = Math.floor(Date.now() / 1000);
  const t0Seconds = nowSeconds - (nowSeconds % 2);
  const t0 = new Date(t0Seconds * 1000);
  const { targets, calls, dnc, campaigns, drivers } = sizes;
  const perCampaign = targets / campaigns;
  const running = Math.max(1, Math.round(campaigns / 10));
  const scheduled = Math.max(1, Math.round(campaigns / 10));
  // Even, so that every campaign call is at an even second.
  const campaignSpacing = Math.floor((HISTORY_DAYS * DAY) / (campaigns - scheduled) / 2) * 2;
  const step = async (label: string, text: string, values: unknown[] = []) => {
    const at = performance.now();
    const result = await client.query(text, values);
    log(
      `${label}: ${result.rowCount ?? 0} rows in ${((performance.now() - at) / 1000).toFixed(1)} s`,
    );
    return result;
  };

  // Bulk load: no foreign-key triggers (every reference below is right by construction;
  // an RI check per row would also lock, hence dirty, every referenced target).
  await client.query("SET session_replication_role = replica");
  await client.query("SET maintenance_work_mem = '256MB'");
  await client.query("SET work_mem = '64MB'");
  await client.query("SET TimeZone = 'UTC'");

  // The class of campaign c (0-based, oldest first) and its start, in SQL: $1 t0,
  // $2 campaigns, $3 spacing, $5 running (as in the two statements below), `s` scheduled.
  const campaignClass = (
    c: string,
    s: string,
  ) => `CASE WHEN ${c} >= $2::int - ${s}::int THEN 'scheduled'
      WHEN ${c} >= $2::int - ${s}::int - $5::int THEN 'running'
      WHEN ${c} % 20 = 7 THEN 'cancelled' ELSE 'completed' END`;
  const campaignStart = (c: string, s: string) => `CASE WHEN ${c} >= $2::int - ${s}::int
      THEN $1::bigint + (${c} - ($2::int - ${s}::int) + 1) * 43200
      ELSE $1::bigint - ($2::int - ${s}::int - ${c}) * $3::bigint END`;
  await step(
    "campaigns",
    `INSERT INTO campaigns (id, name, status, time_zone, calling_window, start_at,
       retry_max_attempts, retry_backoff_minutes, retry_on, created_at, updated_at, finished_at)
     SELECT md5('campaign' || c)::uuid, 'Campaign ' || c,
            CASE k.class WHEN 'cancelled' THEN 'CANCELLED' WHEN 'completed' THEN 'COMPLETED' ELSE 'RUNNING' END,
            'America/Chicago',
            '{"start": "08:00", "end": "18:00", "days": ["mon", "tue", "wed", "thu", "fri"]}'::jsonb,
            to_timestamp(k.start), 3, 30, ARRAY['busy', 'no-answer', 'voicemail'],
            to_timestamp(k.created), to_timestamp(k.created),
            CASE WHEN k.class IN ('cancelled', 'completed') THEN to_timestamp(k.start + $4::bigint * 4 + 7200) END
     FROM generate_series(0, $2::int - 1) AS c,
          LATERAL (SELECT ${campaignClass("c", "$6")} AS class, ${campaignStart("c", "$6")} AS start) AS k0,
          LATERAL (SELECT k0.*, CASE WHEN k0.class = 'scheduled' THEN $1::bigint - ($2::int - c) * 600
                                     ELSE k0.start - 3600 END AS created) AS k`,
    [t0Seconds, campaigns, campaignSpacing, perCampaign, running, scheduled],
  );

  // h: the status draw (0..999); h2: the spread of due times.
  await step(
    "campaign_targets",
    `INSERT INTO campaign_targets (id, campaign_id, position, driver_id, driver_name, phone_number,
       time_zone, violations, status, wait_reason, next_attempt_at, window_ends_at, call_ids,
       last_failure_reason, created_at, updated_at)
     SELECT g, md5('campaign' || x.c)::uuid, x.p, x.driver, 'Driver ' || x.driver,
            '+1555' || lpad(x.driver::text, 7, '0'), 'America/Chicago',
            '[{"code": "HOS_11H", "description": "Exceeded the 11-hour driving limit", "occurred_at": "2026-11-20T14:05:00-06:00"}]'::jsonb,
            s.status,
            CASE s.kind WHEN 'later' THEN 'calling_window' WHEN 'due' THEN 'slot'
                        WHEN 'to_place' THEN 'retry' WHEN 'scheduled' THEN 'start_at' END,
            CASE s.kind
              WHEN 'later' THEN to_timestamp($1::bigint + 3600 + x.h2 % (7 * 86400))
              WHEN 'due' THEN to_timestamp($1::bigint - 60 - x.h2 % 7200)
              WHEN 'to_place' THEN to_timestamp($1::bigint - 9000)
              WHEN 'scheduled' THEN to_timestamp(x.start) END,
            CASE s.kind
              WHEN 'later' THEN to_timestamp($1::bigint + 3600 + x.h2 % (7 * 86400) + 8 * 3600)
              WHEN 'due' THEN to_timestamp($1::bigint + 7200)
              WHEN 'to_place' THEN to_timestamp($1::bigint - 600)
              WHEN 'scheduled' THEN to_timestamp(x.start + 8 * 3600) END,
            CASE WHEN s.status IN ('COMPLETED', 'CALLING') OR s.kind = 'to_place' THEN ARRAY[g::int]
                 WHEN s.status = 'FAILED' AND x.h % 2 = 0 THEN ARRAY[g::int, ($6::bigint + g)::int]
                 WHEN s.status = 'FAILED' THEN ARRAY[g::int]
                 ELSE '{}'::int[] END,
            CASE WHEN s.status = 'FAILED' THEN 'no-answer' WHEN s.status = 'SKIPPED' THEN 'do_not_call'
                 WHEN s.kind = 'to_place' THEN 'busy' END,
            to_timestamp(x.created), to_timestamp(x.created)
     FROM generate_series(1, $6::bigint) AS g,
          LATERAL (SELECT (g - 1) / $4::int AS c, ((g - 1) % $4::int + 1)::int AS p,
                          abs(hashint8(g) % 1000) AS h, (hashint8(g * 7 + 3)::bigint & 2147483647) AS h2) AS x0,
          LATERAL (SELECT x0.*, ((x0.c * 10007 + x0.p) % $8::int + 1)::int AS driver,
                          ${campaignClass("x0.c", "$7")} AS class, ${campaignStart("x0.c", "$7")} AS start) AS x1,
          LATERAL (SELECT x1.*, CASE WHEN x1.class = 'scheduled' THEN $1::bigint - ($2::int - x1.c) * 600
                                     ELSE x1.start - 3600 END AS created) AS x,
          LATERAL (SELECT CASE x.class
              WHEN 'scheduled' THEN 'QUEUED'
              WHEN 'running' THEN CASE
                WHEN x.p <= 2 THEN 'CALLING'
                WHEN x.h < 500 THEN 'COMPLETED' WHEN x.h < 650 THEN 'FAILED' WHEN x.h < 670 THEN 'SKIPPED'
                ELSE 'QUEUED' END
              WHEN 'cancelled' THEN CASE
                WHEN x.h < 600 THEN 'COMPLETED' WHEN x.h < 700 THEN 'FAILED' ELSE 'CANCELLED' END
              ELSE CASE WHEN x.h < 800 THEN 'COMPLETED' WHEN x.h < 970 THEN 'FAILED' ELSE 'SKIPPED' END
            END AS status) AS s0,
          LATERAL (SELECT s0.status, CASE
              WHEN s0.status <> 'QUEUED' THEN NULL
              WHEN x.class = 'scheduled' THEN 'scheduled'
              WHEN x.h >= 880 AND x.h < 980 THEN 'due'
              WHEN x.h >= 980 AND x.h < 990 THEN 'to_place'
              ELSE 'later' END AS kind) AS s`,
    [t0Seconds, campaigns, campaignSpacing, perCampaign, running, targets, scheduled, drivers],
  );

  // One call per attempt: attempt 1 at the campaign's start + 4 s per position, attempt 2
  // an hour later; the CALLING targets' calls began a few minutes ago.
  await step(
    "calls of campaign targets",
    `INSERT INTO calls (id, call_sid, driver_id, conversation_id, status, call_start_time,
       call_end_time, failure_reason, failure_detail, created_at, updated_at, campaign_target_id,
       phone_number, batch_id, call_successful, transcript_summary, termination_reason)
     SELECT a.cid, 'EL_' || t.driver_id || '_' || z.secs, t.driver_id, 'conv_' || a.cid, z.status,
            to_timestamp(z.secs), CASE WHEN z.status <> 'IN_PROGRESS' THEN to_timestamp(z.secs + 95) END,
            z.reason, CASE WHEN z.reason IS NOT NULL THEN 'The driver did not answer.' END,
            to_timestamp(z.secs), to_timestamp(z.secs + 100), t.id, t.phone_number,
            md5('claim' || a.cid / 50)::uuid,
            CASE WHEN z.status = 'COMPLETED' THEN 'success' END,
            CASE WHEN z.status = 'COMPLETED'
                 THEN 'The driver acknowledged the violation and agreed to take the required rest break.' END,
            CASE WHEN z.status = 'COMPLETED' THEN 'Call ended by remote party' END
     FROM campaign_targets t
     JOIN campaigns c ON c.id = t.campaign_id
     CROSS JOIN LATERAL unnest(t.call_ids) WITH ORDINALITY AS a(cid, attempt)
     CROSS JOIN LATERAL (SELECT
         CASE WHEN t.status = 'CALLING' THEN $1::bigint - 200 - 2 * t.position
              ELSE extract(epoch FROM c.start_at)::bigint + 4 * t.position + 3600 * (a.attempt - 1) END AS secs,
         CASE WHEN t.status = 'CALLING' THEN 'IN_PROGRESS'
              WHEN t.status = 'COMPLETED' OR t.status = 'CANCELLED' THEN 'COMPLETED'
              ELSE 'FAILED' END AS status,
         CASE WHEN t.status = 'QUEUED' THEN 'busy'
              WHEN t.status = 'FAILED' THEN 'no-answer' END AS reason) AS z`,
    [t0Seconds],
  );

  const campaignCalls = Number(
    (await client.query<{ n: string }>("SELECT count(*) AS n FROM calls")).rows[0]?.n ?? 0,
  );
  const batchCalls = Math.max(0, calls - campaignCalls);
  if (batchCalls > 0) {
    // Odd seconds (campaign calls are at even ones), 180 days up to t0.
    const spacing = Math.max(2, Math.floor((HISTORY_DAYS * DAY) / batchCalls / 2) * 2);
    const firstSecond = t0Seconds - HISTORY_DAYS * DAY - 1;
    await step(
      "batch calls",
      `INSERT INTO calls (id, call_sid, driver_id, conversation_id, status, call_start_time,
         call_end_time, failure_reason, failure_detail, created_at, updated_at, phone_number,
         batch_id, call_successful, transcript_summary, termination_reason)
       SELECT 2 * $1::bigint + n, 'EL_' || z.driver || '_' || z.secs, z.driver, 'conv_b' || n, z.status,
              to_timestamp(z.secs), to_timestamp(z.secs + 80), z.reason,
              CASE WHEN z.reason IS NOT NULL THEN 'The call did not go through.' END,
              to_timestamp(z.secs), to_timestamp(z.secs + 90), '+1555' || lpad(z.driver::text, 7, '0'),
              md5('batch' || n / 100)::uuid,
              CASE WHEN z.status = 'COMPLETED' THEN 'success' END,
              CASE WHEN z.status = 'COMPLETED'
                   THEN 'The driver confirmed the inspection date and asked for the report by email.' END,
              CASE WHEN z.status = 'COMPLETED' THEN 'Call ended by remote party' END
       FROM generate_series(1, $2::bigint) AS n
       CROSS JOIN LATERAL (SELECT abs(hashint8(n * 13 + 5) % $3::int)::int + 1 AS driver,
                                  $4::bigint + n * $5::bigint AS secs,
                                  abs(hashint8(n) % 1000) AS h) AS y
       CROSS JOIN LATERAL (SELECT y.driver, y.secs,
           CASE WHEN y.h < 700 THEN 'COMPLETED' ELSE 'FAILED' END AS status,
           CASE WHEN y.h < 700 THEN NULL
                ELSE (ARRAY['busy', 'no-answer', 'voicemail', 'elevenlabs_timeout'])[y.h % 4 + 1] END AS reason) AS z`,
      [targets, batchCalls, drivers, firstSecond, spacing],
    );
  }

  await step(
    "live_call_slots",
    `INSERT INTO live_call_slots (slot, call_id, taken_at)
     SELECT row_number() OVER (ORDER BY id), id, created_at FROM calls WHERE status = 'IN_PROGRESS'`,
  );
  await client.query(
    `SELECT setval(pg_get_serial_sequence('calls', 'id'), (SELECT max(id) FROM calls))`,
  );
  await client.query(
    `SELECT setval(pg_get_serial_sequence('campaign_targets', 'id'), (SELECT max(id) FROM campaign_targets))`,
  );

  // As in a steady state, where every due target whose number was on the list has been
  // SKIPPED by an earlier claim: one in a hundred numbers was added since and belongs to a
  // target due now (this claim skips it); a tenth belong to targets due later; the rest
  // are drivers at random (none with a target due now) and numbers of nobody, up to `dnc`.
  await step(
    "do_not_call",
    `WITH due AS (
       SELECT DISTINCT phone_number FROM campaign_targets
       WHERE status = 'QUEUED' AND next_attempt_at <= to_timestamp($3::bigint)
         AND window_ends_at > to_timestamp($3::bigint)
     ),
     wanted AS (
       SELECT phone_number, 0 AS kind, hashtext(phone_number) AS ord FROM due
       UNION ALL
       SELECT phone_number, 1, hashint8(id) FROM campaign_targets t
       WHERE status = 'QUEUED' AND NOT EXISTS (SELECT 1 FROM due WHERE due.phone_number = t.phone_number)
       UNION ALL
       SELECT p.phone_number, 2, hashint4(d) FROM generate_series(1, $2::int) AS d,
            LATERAL (SELECT '+1555' || lpad(d::text, 7, '0') AS phone_number) AS p
       WHERE NOT EXISTS (SELECT 1 FROM due WHERE due.phone_number = p.phone_number)
       UNION ALL
       SELECT '+1777' || lpad(k::text, 7, '0'), 3, k FROM generate_series(1, $1::int) AS k
     ),
     ranked AS (
       SELECT phone_number, kind, row_number() OVER (PARTITION BY kind ORDER BY ord) AS rn FROM wanted
     ),
     picked AS (
       SELECT DISTINCT ON (phone_number) phone_number, kind, rn FROM ranked
       WHERE (kind = 0 AND rn <= greatest(1, $1::int / 100)) OR (kind = 1 AND rn <= $1::int / 10) OR kind > 1
       ORDER BY phone_number, kind
     )
     INSERT INTO do_not_call (phone_number, reason, created_at)
     SELECT phone_number, CASE kind WHEN 3 THEN 'imported' ELSE 'opt_out' END,
            to_timestamp($3::bigint - rn * 60)
     FROM picked ORDER BY kind, rn LIMIT $1::int`,
    [dnc, drivers, t0Seconds],
  );

  // The cron's other tables: idempotency keys of the last hours (none expired), and a few
  // post-call events for calls not known yet.
  await step(
    "idempotency_keys",
    `INSERT INTO idempotency_keys (scope, key, request_hash, state, response_status, response_body, created_at)
     SELECT 'POST /calls/batch', 'key-' || k, md5(k::text), 'done', 202, '{}', to_timestamp($1::bigint - k * 10)
     FROM generate_series(1, 2000) AS k`,
    [t0Seconds],
  );
  await step(
    "post_call_inbox",
    `INSERT INTO post_call_inbox (conversation_id, event_type, event, received_at)
     SELECT 'conv_unknown_' || k, 'post_call_transcription', '{}', to_timestamp($1::bigint - k * 60)
     FROM generate_series(1, 20) AS k`,
    [t0Seconds],
  );

  await client.query("RESET session_replication_role");
  const vacuumAt = performance.now();
  await client.query("VACUUM (ANALYZE)");
  log(`VACUUM (ANALYZE) in ${((performance.now() - vacuumAt) / 1000).toFixed(1)} s`);

  const counts: Record<string, number> = {};
  for (const table of [
    "campaigns",
    "campaign_targets",
    "calls",
    "do_not_call",
    "live_call_slots",
  ]) {
    const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    counts[table] = Number(result.rows[0]?.n ?? 0);
  }
  const due = await client.query<{ status: string; n: string }>(
    `SELECT t.status || CASE WHEN t.status = 'QUEUED' THEN
              CASE WHEN t.next_attempt_at <= $1 AND t.window_ends_at > $1 THEN ' due now'
                   WHEN t.window_ends_at <= $1 THEN ' to place' ELSE ' later' END ELSE '' END AS status,
            count(*) AS n
     FROM campaign_targets t GROUP BY 1 ORDER BY 1`,
    [t0],
  );
  for (const row of due.rows) counts[`targets ${row.status}`] = Number(row.n);
  const dncDue = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM campaign_targets t JOIN do_not_call d USING (phone_number)
     WHERE t.status = 'QUEUED' AND t.next_attempt_at <= $1 AND t.window_ends_at > $1`,
    [t0],
  );
  counts["due targets on do_not_call"] = Number(dncDue.rows[0]?.n ?? 0);
  const sample = await client.query<{ driver_id: number }>(
    `SELECT driver_id FROM calls WHERE id IN (SELECT (hashint4(k) & 1048575) % $1::int + 1 FROM generate_series(1, 40) AS k)
       AND driver_id IS NOT NULL LIMIT 20`,
    [targets],
  );
  const sampleDrivers = [...new Set(sample.rows.map((row) => row.driver_id))];
  return {
    t0,
    idleNow: new Date((t0Seconds - 3 * 3600) * 1000),
    counts,
    sampleDrivers,
    seconds: (performance.now() - started) / 1000,
  };
}
