// Campaign data functions: create (every driver stored in one statement, however many),
// read one with its counts, list, list its targets in request order, cancel. Times leave
// Postgres as ISO 8601 UTC strings (src/db/iso.ts).

import { type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import { type AuditStamp, auditInsert } from "../audit/record";
import { WEEKDAYS } from "../calling-rules/time-zone";
import { numberInLiveCall } from "../calls/status-rules";
import type { Database } from "../db/client";
import { ISO_US, isoUtc } from "../db/iso";
import { withDbRetry } from "../db/retry";
import type {
  CallingWindowJson,
  CampaignStatus,
  RetryableEnding,
  TargetStatus,
  WaitReason,
} from "../db/schema";
import { completeFinishedCampaigns, type Placement, placeTarget } from "../dispatch/targets";
import { cursorInstant, decodeCursor, encodeCursor } from "../http/cursor";
import type { CampaignTargetView, CampaignView, CreateCampaignRequest } from "./schemas";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isCampaignId(id: string): boolean {
  return UUID.test(id);
}

interface CampaignRow extends Record<string, unknown> {
  id: string;
  name: string | null;
  status: CampaignStatus;
  created_at: string;
  start_at: string;
  finished_at: string | null;
  time_zone: string | null;
  calling_window: CallingWindowJson | string;
  retry_max_attempts: number;
  retry_backoff_minutes: number;
  retry_on: RetryableEnding[];
  total: number;
  queued: number;
  calling: number;
  completed: number;
  failed: number;
  skipped: number;
  cancelled: number;
  cursor_created_at?: string;
}

const campaignColumns = sql`
  c.id, c.name, c.status,
  ${isoUtc(sql`c.created_at`)} AS created_at, ${isoUtc(sql`c.start_at`)} AS start_at,
  ${isoUtc(sql`c.finished_at`)} AS finished_at,
  c.time_zone, c.calling_window, c.retry_max_attempts, c.retry_backoff_minutes, c.retry_on,
  k.total, k.queued, k.calling, k.completed, k.failed, k.skipped, k.cancelled`;

// Counted at read time (idx_campaign_targets_campaign_status, index-only): one source of
// truth, no counters to keep in step.
const countsJoin = sql`
  LEFT JOIN LATERAL (
    SELECT count(*)::int AS total,
           count(*) FILTER (WHERE t.status = 'QUEUED')::int AS queued,
           count(*) FILTER (WHERE t.status = 'CALLING')::int AS calling,
           count(*) FILTER (WHERE t.status = 'COMPLETED')::int AS completed,
           count(*) FILTER (WHERE t.status = 'FAILED')::int AS failed,
           count(*) FILTER (WHERE t.status = 'SKIPPED')::int AS skipped,
           count(*) FILTER (WHERE t.status = 'CANCELLED')::int AS cancelled
    FROM campaign_targets t WHERE t.campaign_id = c.id
  ) k ON true`;

function toView(row: CampaignRow): CampaignView {
  const window =
    typeof row.calling_window === "string"
      ? (JSON.parse(row.calling_window) as CallingWindowJson)
      : row.calling_window;
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    created_at: row.created_at,
    start_at: row.start_at,
    finished_at: row.finished_at,
    time_zone: row.time_zone,
    calling_window: { start: window.start, end: window.end, days: window.days ?? [...WEEKDAYS] },
    retry: {
      max_attempts: Number(row.retry_max_attempts),
      backoff_minutes: Number(row.retry_backoff_minutes),
      on: row.retry_on,
    },
    counts: {
      total: row.total,
      queued: row.queued,
      calling: row.calling,
      completed: row.completed,
      failed: row.failed,
      skipped: row.skipped,
      cancelled: row.cancelled,
    },
  };
}

/**
 * The id of the campaign an Idempotency-Key (and body) creates: the same key and body give
 * the same id, so a request retried after an answer that was lost, even one answered 503
 * (which releases the key), finds the campaign the first one wrote instead of creating a
 * second. A version-4-shaped uuid from SHA-256 of the scope, key and body.
 */
export async function campaignIdFor(key: string, body: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(`POST /campaigns\n${key}\n${body}`),
    ),
  ).slice(0, 16);
  digest[6] = ((digest[6] ?? 0) & 0x0f) | 0x40;
  digest[8] = ((digest[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export async function getCampaign(db: Database, id: string): Promise<CampaignView | null> {
  if (!isCampaignId(id)) return null;
  const { rows } = await withDbRetry(() =>
    db.execute<CampaignRow>(sql`
      SELECT ${campaignColumns} FROM campaigns c ${countsJoin} WHERE c.id = ${id}::uuid
    `),
  );
  const row = rows[0];
  return row ? toView(row) : null;
}

/**
 * Stores the campaign and every driver before answering: one statement, whatever the
 * number of drivers (they travel as one JSON parameter). Each target starts QUEUED at the
 * first opening of its calling window at or after start_at, computed by the calling rules
 * once per distinct zone; a driver whose number is on the do-not-call list starts SKIPPED.
 * Nobody is dialed here: the caller wakes the dispatcher. Created once: see below.
 */
export async function createCampaign(
  db: Database,
  request: CreateCampaignRequest,
  now: Date,
  /** Who started it: `campaign.created` is written by the same statement. */
  audit: AuditStamp,
  /** Derived from the Idempotency-Key when there is one (campaignIdFor), so a retry finds it. */
  id: string = crypto.randomUUID(),
): Promise<{ campaign: CampaignView; firstAttemptAt: Date | null }> {
  const startAt = request.start_at ? new Date(request.start_at) : now;
  const window: CallingWindowJson = {
    start: request.calling_window.start,
    end: request.calling_window.end,
    days: request.calling_window.days ? [...new Set(request.calling_window.days)] : null,
  };
  const placements = new Map<string, Placement>();
  const placementFor = (timeZone: string) => {
    let placement = placements.get(timeZone);
    if (!placement) {
      placement = placeTarget({ window, timeZone, now, startAt });
      placements.set(timeZone, placement);
    }
    return placement;
  };
  const targets = request.drivers.map((driver, index) => {
    // The schema guarantees one of the two.
    const timeZone = (driver.time_zone ?? request.time_zone) as string;
    const placement = placementFor(timeZone);
    return {
      position: index + 1,
      driver_id: driver.driver_id,
      driver_name: driver.driver_name,
      phone_number: driver.phone_number,
      time_zone: timeZone,
      violations: driver.violations,
      next_attempt_at: placement.nextAttemptAt.toISOString(),
      window_ends_at: placement.windowEndsAt.toISOString(),
      wait_reason: placement.waitReason,
    };
  });
  // One statement that can run again after a lost answer: the campaign id is chosen here,
  // not by the database, so a retry of the statement (withDbRetry, after a connection error
  // or a 5xx that may have come after the commit) finds the campaign it already wrote and
  // returns it instead of writing a second one. A campaign whose every driver is on the
  // do-not-call list is COMPLETED at once, in the same statement.
  const { rows } = await withDbRetry(() =>
    db.execute<CampaignRow>(sql`
      WITH given AS MATERIALIZED (
        SELECT x.*, d.phone_number IS NOT NULL AS on_list
        FROM jsonb_to_recordset(${JSON.stringify(targets)}::jsonb) AS x(
               position int, driver_id int, driver_name text, phone_number text, time_zone text,
               violations jsonb, next_attempt_at timestamptz, window_ends_at timestamptz,
               wait_reason text)
             LEFT JOIN do_not_call d ON d.phone_number = x.phone_number
      ),
      campaign AS (
        INSERT INTO campaigns (id, name, time_zone, calling_window, start_at, retry_max_attempts,
                               retry_backoff_minutes, retry_on, status, finished_at)
        SELECT ${id}::uuid, ${request.name ?? null}, ${request.time_zone ?? null},
               ${JSON.stringify(window)}::jsonb, ${startAt.toISOString()}::timestamptz,
               ${request.retry.max_attempts}, ${request.retry.backoff_minutes},
               ${sql.param(request.retry.on)}::text[],
               CASE WHEN bool_and(on_list) THEN 'COMPLETED' ELSE 'RUNNING' END,
               CASE WHEN bool_and(on_list) THEN now() END
        FROM given
        ON CONFLICT (id) DO NOTHING
        RETURNING *
      ),
      inserted AS (
        INSERT INTO campaign_targets (campaign_id, position, driver_id, driver_name, phone_number,
          time_zone, violations, status, wait_reason, next_attempt_at, window_ends_at,
          last_failure_reason)
        SELECT campaign.id, g.position, g.driver_id, g.driver_name, g.phone_number, g.time_zone,
               g.violations,
               CASE WHEN g.on_list THEN 'SKIPPED' ELSE 'QUEUED' END,
               CASE WHEN g.on_list THEN NULL ELSE g.wait_reason END,
               CASE WHEN g.on_list THEN NULL ELSE g.next_attempt_at END,
               CASE WHEN g.on_list THEN NULL ELSE g.window_ends_at END,
               CASE WHEN g.on_list THEN 'do_not_call' END
        FROM campaign, given g
        RETURNING status
      ),
      audited AS (
        ${auditInsert(audit, {
          action: "campaign.created",
          subjectType: "campaign",
          subjectId: sql`campaign.id::text`,
          detail: sql`jsonb_build_object('name', campaign.name, 'drivers', (SELECT count(*) FROM given),
                        'on_do_not_call', (SELECT count(*) FILTER (WHERE on_list) FROM given))`,
          from: sql`campaign`,
        })}
      ),
      -- This request's campaign: written now, or by this same statement before an answer
      -- that was lost (then its committed rows are what this snapshot sees).
      c AS (
        SELECT id, name, status, created_at, start_at, finished_at, time_zone, calling_window,
               retry_max_attempts, retry_backoff_minutes, retry_on FROM campaign
        UNION ALL
        SELECT id, name, status, created_at, start_at, finished_at, time_zone, calling_window,
               retry_max_attempts, retry_backoff_minutes, retry_on
        FROM campaigns WHERE id = ${id}::uuid AND NOT EXISTS (SELECT 1 FROM campaign)
      ),
      k AS (
        SELECT count(*)::int AS total,
               count(*) FILTER (WHERE s.status = 'QUEUED')::int AS queued,
               count(*) FILTER (WHERE s.status = 'CALLING')::int AS calling,
               count(*) FILTER (WHERE s.status = 'COMPLETED')::int AS completed,
               count(*) FILTER (WHERE s.status = 'FAILED')::int AS failed,
               count(*) FILTER (WHERE s.status = 'SKIPPED')::int AS skipped,
               count(*) FILTER (WHERE s.status = 'CANCELLED')::int AS cancelled
        FROM (
          SELECT status FROM inserted
          UNION ALL
          SELECT t.status FROM campaign_targets t
          WHERE t.campaign_id = ${id}::uuid AND NOT EXISTS (SELECT 1 FROM campaign)
        ) AS s
      )
      SELECT ${campaignColumns} FROM c, k
    `),
  );
  const created = rows[0];
  if (!created) throw new Error("INSERT of a campaign returned no row");
  const campaign = toView(created);
  const firstAttemptAt =
    campaign.counts.skipped === campaign.counts.total
      ? null
      : new Date(Math.min(...[...placements.values()].map((p) => p.nextAttemptAt.getTime())));
  return { campaign, firstAttemptAt };
}

const campaignCursor = z.object({ c: cursorInstant, i: z.uuid() });

/** Campaigns newest first, keyset-paginated on (created_at, id). */
export async function listCampaigns(
  db: Database,
  query: { limit: number; cursor?: string },
): Promise<{ campaigns: CampaignView[]; nextCursor: string | null }> {
  const after = query.cursor === undefined ? null : decodeCursor(query.cursor, campaignCursor);
  const { rows } = await withDbRetry(() =>
    db.execute<CampaignRow>(sql`
      SELECT ${campaignColumns}, ${isoUtc(sql`c.created_at`, ISO_US)} AS cursor_created_at
      FROM campaigns c ${countsJoin}
      WHERE ${after === null ? sql`true` : sql`(c.created_at, c.id) < (${after.c}::timestamptz, ${after.i}::uuid)`}
      ORDER BY c.created_at DESC, c.id DESC
      LIMIT ${query.limit + 1}
    `),
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    campaigns: page.map(toView),
    nextCursor:
      rows.length > query.limit && last?.cursor_created_at
        ? encodeCursor({ c: last.cursor_created_at, i: last.id })
        : null,
  };
}

interface TargetRow extends Record<string, unknown> {
  campaign_found: boolean;
  position: number | null;
  driver_id: number;
  driver_name: string | null;
  phone_number: string | null;
  time_zone: string;
  status: TargetStatus;
  wait_reason: WaitReason | null;
  next_attempt_at: string | null;
  due: boolean | null;
  number_in_call: boolean | null;
  attempts: number;
  call_sids: string[] | null;
  last_failure_reason: string | null;
  call_successful: "success" | "failure" | "unknown" | null;
}

const targetCursor = z.object({ p: z.number().int().min(0).max(1_000_000) });

/** The SQL of a target as the API shows it (its calls' sids, its latest call's outcome). */
export const targetColumns = (now: Date): SQL => sql`
  t.position, t.driver_id, t.driver_name, t.phone_number, t.time_zone, t.status, t.wait_reason,
  ${isoUtc(sql`t.next_attempt_at`)} AS next_attempt_at,
  t.next_attempt_at <= ${now.toISOString()}::timestamptz AS due,
  (t.status = 'QUEUED' AND ${numberInLiveCall(sql`t.phone_number`)}) AS number_in_call,
  cardinality(t.call_ids) AS attempts,
  (SELECT array_agg(calls.call_sid ORDER BY u.ord)
     FROM unnest(t.call_ids) WITH ORDINALITY AS u(id, ord) JOIN calls ON calls.id = u.id) AS call_sids,
  t.last_failure_reason,
  (SELECT calls.call_successful FROM calls WHERE calls.id = t.call_ids[cardinality(t.call_ids)]) AS call_successful`;

export function toTargetView(row: TargetRow): CampaignTargetView {
  const queued = row.status === "QUEUED";
  return {
    driver_id: row.driver_id,
    driver_name: row.driver_name,
    phone_number: row.phone_number,
    time_zone: row.time_zone,
    status: row.status,
    // Due now, it waits only for a free live-call slot, or for its number's live call to end.
    waiting_for: queued
      ? row.due
        ? row.number_in_call
          ? "number_in_call"
          : "slot"
        : row.wait_reason
      : null,
    next_attempt_at: queued ? row.next_attempt_at : null,
    attempts: Number(row.attempts),
    call_sids: row.call_sids ?? [],
    last_failure_reason: row.last_failure_reason,
    call_successful: row.call_successful,
  };
}

/**
 * A campaign's targets in request order, keyset-paginated on position; null when there is
 * no such campaign (one statement either way).
 */
export async function listTargets(
  db: Database,
  query: { campaignId: string; status?: TargetStatus; limit: number; cursor?: string; now: Date },
): Promise<{ targets: CampaignTargetView[]; nextCursor: string | null } | null> {
  const after = query.cursor === undefined ? null : decodeCursor(query.cursor, targetCursor);
  if (!isCampaignId(query.campaignId)) return null;
  const { rows } = await withDbRetry(() =>
    db.execute<TargetRow>(sql`
      SELECT true AS campaign_found, page.*
      FROM campaigns c
      LEFT JOIN LATERAL (
        SELECT ${targetColumns(query.now)}
        FROM campaign_targets t
        WHERE t.campaign_id = c.id
          AND ${query.status === undefined ? sql`true` : sql`t.status = ${query.status}`}
          AND t.position > ${after?.p ?? 0}
        ORDER BY t.position
        LIMIT ${query.limit + 1}
      ) page ON true
      WHERE c.id = ${query.campaignId}::uuid
    `),
  );
  if (rows.length === 0) return null;
  const found = rows.filter((row) => row.position !== null);
  const page = found.slice(0, query.limit);
  const last = page.at(-1);
  return {
    targets: page.map(toTargetView),
    nextCursor:
      found.length > query.limit && last ? encodeCursor({ p: Number(last.position) }) : null,
  };
}

export type CancelResult =
  | { kind: "not_found" }
  | { kind: "finished"; campaign: CampaignView }
  | { kind: "cancelled"; campaign: CampaignView; targetsCancelled: number };

/**
 * Cancels a running campaign: every target not yet dialed becomes CANCELLED; calls already
 * ringing go on and are recorded. One transaction of two statements, campaign first, then
 * its targets (the trigger of migration 0008 locks in the same order, so the two never
 * deadlock). A claim racing with it either took a target before (the target is CALLING,
 * its call rings) or finds it CANCELLED when it locks it: once this answers, nobody of
 * the campaign is claimed again. Cancelling a cancelled campaign is a no-op.
 */
export async function cancelCampaign(
  db: Database,
  id: string,
  audit: AuditStamp,
): Promise<CancelResult> {
  if (!isCampaignId(id)) return { kind: "not_found" };
  const [, targets] = await withDbRetry(() =>
    db.batch([
      db.execute(sql`
        WITH cancelled AS (
          UPDATE campaigns SET status = 'CANCELLED', finished_at = now(), updated_at = now()
          WHERE id = ${id}::uuid AND status = 'RUNNING'
          RETURNING id, name
        )
        ${auditInsert(audit, {
          action: "campaign.cancelled",
          subjectType: "campaign",
          subjectId: sql`cancelled.id::text`,
          detail: sql`jsonb_build_object('name', cancelled.name)`,
          from: sql`cancelled`,
        })}
      `),
      db.execute(sql`
        UPDATE campaign_targets
        SET status = 'CANCELLED', wait_reason = NULL, next_attempt_at = NULL,
            window_ends_at = NULL, updated_at = now()
        WHERE campaign_id = ${id}::uuid AND status = 'QUEUED'
          AND EXISTS (SELECT 1 FROM campaigns WHERE id = ${id}::uuid AND status = 'CANCELLED')
        RETURNING id
      `),
    ]),
  );
  const campaign = await getCampaign(db, id);
  if (!campaign) return { kind: "not_found" };
  if (campaign.status === "COMPLETED") return { kind: "finished", campaign };
  return { kind: "cancelled", campaign, targetsCancelled: targets.rows.length };
}
