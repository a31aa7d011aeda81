// Sending events: the one sender, run by the events queue's consumer and by the minute
// cron (the safety net for anything the queue missed). At least once, never twice at the
// same time:
//
// 1. Claim due deliveries in one statement (`FOR UPDATE SKIP LOCKED`, then a lease of
//    LEASE_SECONDS): two senders never send the same delivery at once, and a sender that
//    dies mid-send lets go when its lease passes.
// 2. Send each, signed as Standard Webhooks say (the `standardwebhooks` library: pure JS,
//    no Node APIs, so it runs in workerd), at most SEND_CONCURRENCY at once (a Worker
//    invocation holds at most 6 connections, and the statements need one), each with a
//    10-second timeout. Redirects are not followed: a 3xx is not a delivery.
// 3. Record each outcome in one statement: the attempt in the log; delivered, or the next
//    try per RETRY_SCHEDULE, or failed after the last; the endpoint's run of failures, which
//    disables it after five days (audited, same statement).
// 4. Tell the queue when the earliest retry is due (a delayed message), so a 5-second retry
//    happens in 5 seconds, not at the next cron tick.
import { sql } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { auditInsert, SYSTEM_STAMP } from "../audit/record";
import type { Database } from "../db/client";
import { isoUtc } from "../db/iso";
import { withDbRetry } from "../db/retry";
import { mapWithConcurrency } from "../dispatch/batch";
import type { Logger } from "../http/log";
import { describeError } from "../http/log";

/** No answer within this is a failed attempt (and it is retried). */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** After the 1st, 2nd, ... failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; then failed. */
export const RETRY_SCHEDULE_SECONDS = [5, 300, 1800, 7200, 18_000, 36_000, 36_000] as const;
/** Every delivery of an endpoint failing for this long disables it. */
export const DISABLE_AFTER_DAYS = 5;
const SEND_CONCURRENCY = 5;
const CLAIM_SIZE = 50;
const LEASE_SECONDS = 300;
/** A run stops claiming after this, and leaves the rest to the next message. */
const RUN_BUDGET_MS = 25_000;

interface DueDelivery extends Record<string, unknown> {
  id: number;
  attempts: number;
  event_id: string;
  body: string;
  url: string;
  secret: string;
  previous_secret: string | null;
}

export interface SendOptions {
  db: Database;
  now: () => Date;
  log: Logger;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface SendReport extends Record<string, number | null> {
  sent: number;
  delivered: number;
  retrying: number;
  failed: number;
  /** Seconds until the earliest pending retry, when there is one. */
  next_due_in_seconds: number | null;
}

export async function sendDueEvents(options: SendOptions): Promise<SendReport> {
  const started = Date.now();
  const report: SendReport = {
    sent: 0,
    delivered: 0,
    retrying: 0,
    failed: 0,
    next_due_in_seconds: null,
  };
  while (Date.now() - started < RUN_BUDGET_MS) {
    const due = await claimDue(options.db, options.now());
    if (due.length === 0) break;
    const outcomes = await mapWithConcurrency(due, SEND_CONCURRENCY, (delivery) =>
      sendOne(delivery, options),
    );
    for (const outcome of outcomes) {
      report.sent += 1;
      report[outcome] += 1;
    }
    if (due.length < CLAIM_SIZE) break;
  }
  report.next_due_in_seconds = await secondsUntilNextDue(options.db, options.now());
  return report;
}

async function claimDue(db: Database, now: Date): Promise<DueDelivery[]> {
  const at = now.toISOString();
  const { rows } = await withDbRetry(() =>
    db.execute<DueDelivery>(sql`
      WITH due AS (
        SELECT d.id FROM event_deliveries d
        JOIN event_endpoints e ON e.id = d.endpoint_id
        WHERE d.status = 'pending' AND d.next_attempt_at <= ${at}::timestamptz
          AND (d.leased_until IS NULL OR d.leased_until < ${at}::timestamptz)
          AND e.deleted_at IS NULL AND e.disabled_at IS NULL
        ORDER BY d.next_attempt_at
        LIMIT ${CLAIM_SIZE}
        FOR UPDATE OF d SKIP LOCKED
      ),
      leased AS (
        UPDATE event_deliveries d
        SET leased_until = ${at}::timestamptz + make_interval(secs => ${LEASE_SECONDS})
        FROM due WHERE d.id = due.id
        RETURNING d.id, d.attempts, d.event_id, d.endpoint_id
      )
      SELECT l.id::int AS id, l.attempts, l.event_id, ev.payload::text AS body, e.url, e.secret,
             CASE WHEN e.previous_secret_until > ${at}::timestamptz THEN e.previous_secret END AS previous_secret
      FROM leased l
      JOIN events ev ON ev.id = l.event_id
      JOIN event_endpoints e ON e.id = l.endpoint_id
    `),
  );
  return rows;
}

/** The signature header: one `v1,` signature per secret in use, space-separated. */
export function signatureHeader(
  secrets: readonly string[],
  messageId: string,
  timestamp: Date,
  body: string,
): string {
  return secrets.map((secret) => new Webhook(secret).sign(messageId, timestamp, body)).join(" ");
}

type Outcome = "delivered" | "retrying" | "failed";

async function sendOne(delivery: DueDelivery, options: SendOptions): Promise<Outcome> {
  const sentAt = options.now();
  const secrets = [
    delivery.secret,
    ...(delivery.previous_secret ? [delivery.previous_secret] : []),
  ];
  const startedMs = Date.now();
  let statusCode: number | null = null;
  let error: string | null = null;
  try {
    const response = await (options.fetch ?? fetch)(delivery.url, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/json",
        "user-agent": "driver-calls-events/1",
        "webhook-id": delivery.event_id,
        "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
        "webhook-signature": signatureHeader(secrets, delivery.event_id, sentAt, delivery.body),
      },
      body: delivery.body,
      signal: AbortSignal.timeout(options.timeoutMs ?? DELIVERY_TIMEOUT_MS),
    });
    statusCode = response.status;
    await response.body?.cancel().catch(() => {});
    if (statusCode < 200 || statusCode > 299) error = `answered HTTP ${statusCode}`;
  } catch (caught) {
    const name = (caught as { name?: string }).name;
    error =
      name === "TimeoutError" || name === "AbortError"
        ? `no answer within ${(options.timeoutMs ?? DELIVERY_TIMEOUT_MS) / 1000} s`
        : `could not connect: ${(caught as Error).message ?? String(caught)}`.slice(0, 300);
  }
  const durationMs = Date.now() - startedMs;
  const ok = error === null;
  const attempt = delivery.attempts + 1;
  const retryIn = RETRY_SCHEDULE_SECONDS[attempt - 1];
  const outcome: Outcome = ok ? "delivered" : retryIn === undefined ? "failed" : "retrying";
  const nextAt =
    outcome === "retrying" ? new Date(sentAt.getTime() + (retryIn as number) * 1000) : null;
  try {
    await recordOutcome(options.db, {
      deliveryId: delivery.id,
      outcome,
      at: sentAt,
      statusCode,
      durationMs,
      error,
      nextAt,
    });
  } catch (caught) {
    // The lease runs out and the delivery is sent again: at least once, as promised.
    options.log.error("event_delivery_not_recorded", {
      delivery_id: delivery.id,
      ...describeError(caught),
    });
  }
  options.log[ok ? "info" : "warn"]("event_delivery", {
    delivery_id: delivery.id,
    event_id: delivery.event_id,
    attempt,
    status_code: statusCode,
    duration_ms: durationMs,
    outcome,
    ...(error ? { error } : {}),
  });
  return outcome;
}

async function recordOutcome(
  db: Database,
  result: {
    deliveryId: number;
    outcome: Outcome;
    at: Date;
    statusCode: number | null;
    durationMs: number;
    error: string | null;
    nextAt: Date | null;
  },
): Promise<void> {
  const at = result.at.toISOString();
  const ok = result.outcome === "delivered";
  const nextAt = result.nextAt?.toISOString() ?? null;
  await withDbRetry(() =>
    db.execute(sql`
      WITH updated AS (
        UPDATE event_deliveries SET
          status = ${result.outcome === "retrying" ? "pending" : result.outcome},
          attempts = attempts + 1,
          next_attempt_at = ${nextAt}::timestamptz,
          leased_until = NULL,
          last_attempt_at = ${at}::timestamptz,
          last_status_code = ${result.statusCode},
          last_error = ${result.error},
          delivered_at = CASE WHEN ${ok} THEN ${at}::timestamptz END
        WHERE id = ${result.deliveryId}
        RETURNING id, endpoint_id
      ),
      attempt AS (
        INSERT INTO event_delivery_attempts (delivery_id, attempted_at, status_code, duration_ms, error, next_attempt_at)
        SELECT id, ${at}::timestamptz, ${result.statusCode}, ${result.durationMs}, ${result.error}, ${nextAt}::timestamptz
        FROM updated
      ),
      endpoint AS (
        UPDATE event_endpoints e SET
          failing_since = CASE WHEN ${ok} THEN NULL ELSE coalesce(e.failing_since, ${at}::timestamptz) END,
          disabled_at = CASE
            WHEN NOT ${ok} AND e.disabled_at IS NULL
                 AND coalesce(e.failing_since, ${at}::timestamptz) <= ${at}::timestamptz - make_interval(days => ${DISABLE_AFTER_DAYS})
              THEN ${at}::timestamptz
            ELSE e.disabled_at END
        FROM updated WHERE e.id = updated.endpoint_id
        RETURNING e.id, e.url, e.failing_since, (e.disabled_at = ${at}::timestamptz) AS just_disabled
      ),
      audited AS (
        ${auditInsert(SYSTEM_STAMP, {
          action: "event_endpoint.disabled",
          subjectType: "event_endpoint",
          subjectId: sql`endpoint.id::text`,
          detail: sql`jsonb_build_object('url', endpoint.url, 'failing_since', endpoint.failing_since)`,
          from: sql`endpoint WHERE endpoint.just_disabled`,
        })}
      )
      SELECT 1
    `),
  );
}

async function secondsUntilNextDue(db: Database, now: Date): Promise<number | null> {
  const { rows } = await withDbRetry(() =>
    db.execute<{ next_at: string | null }>(sql`
      SELECT ${isoUtc(sql`min(d.next_attempt_at)`)} AS next_at FROM event_deliveries d
      JOIN event_endpoints e ON e.id = d.endpoint_id
      WHERE d.status = 'pending' AND e.deleted_at IS NULL AND e.disabled_at IS NULL
    `),
  );
  const nextAt = rows[0]?.next_at;
  if (!nextAt) return null;
  return Math.max(0, Math.ceil((new Date(nextAt).getTime() - now.getTime()) / 1000));
}
