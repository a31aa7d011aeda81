// Placing a batch of calls. The order is the point of the design:
//   1. every Call row is written first, in ONE multi-row INSERT (IN_PROGRESS, no
//      conversation_id), so a webhook can never arrive for a call we have no row for, and
//      a database that is down means 503 and no phone rings;
//   2. ElevenLabs is asked to dial, at most CALL_CONCURRENCY requests in flight, never
//      retried (a retry can dial a driver twice);
//   3. each answer is stored at once, in one statement: the conversation_id, or FAILED
//      with the reason.
import { sql } from "drizzle-orm";
import type { Clock } from "../app-env";
import type { Database } from "../db/client";
import { sqlState, violatedConstraint, withDbRetry } from "../db/retry";
import type { ElevenLabsClient, OutboundCallFailureCode } from "../elevenlabs/client";
import { violationsSummary } from "../elevenlabs/client";
import type { Logger } from "../http/log";
import { describeError, maskPhoneNumber } from "../http/log";
import { baseCallSid } from "./call-sid";

export interface Violation {
  code: string;
  description: string;
  occurred_at: string;
}

export interface DriverToCall {
  driver_id: number;
  phone_number: string;
  driver_name: string;
  violations: Violation[];
}

export interface CallResult {
  driver_id: number;
  call_sid: string;
  conversation_id: string | null;
  status: "IN_PROGRESS" | "FAILED";
  error?: { code: string; message: string };
}

export interface BatchResult {
  results: CallResult[];
  summary: { requested: number; started: number; failed: number };
}

interface CallRow extends Record<string, unknown> {
  id: number;
  call_sid: string;
  driver_id: number;
}

/** How many candidate suffixes a base call_sid may need at most (same driver, same second). */
const MAX_CALL_SID_SUFFIX = 1000;
/** A concurrent batch may take the same call_sid between our read and our insert. */
const CALL_SID_RACE_RETRIES = 3;

/**
 * Writes one Call row per driver in one INSERT, each with the first free call_sid
 * (`base`, `base_2`, ...). Idempotent per batch id: if a retry follows a lost answer, the
 * rows the first attempt wrote are returned instead of written again.
 */
export async function insertBatchCalls(
  db: Database,
  batchId: string,
  drivers: readonly { driver_id: number }[],
  startedAt: Date,
): Promise<Map<number, CallRow>> {
  const driverIds = drivers.map((driver) => driver.driver_id);
  const bases = drivers.map((driver) => baseCallSid(driver.driver_id, startedAt));
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await withDbRetry(() =>
        db.execute<CallRow>(sql`
          WITH existing AS (
            SELECT id, call_sid, driver_id FROM calls WHERE batch_id = ${batchId}::uuid
          ),
          input AS (
            SELECT driver_id, base FROM unnest(${sql.param(driverIds)}::int[], ${sql.param(bases)}::text[]) AS t(driver_id, base)
          ),
          inserted AS (
            INSERT INTO calls (call_sid, driver_id, status, call_start_time, batch_id)
            SELECT
              (SELECT candidate
                 FROM generate_series(1, ${MAX_CALL_SID_SUFFIX}) AS n,
                      LATERAL (SELECT CASE WHEN n = 1 THEN input.base ELSE input.base || '_' || n END AS candidate) AS c
                WHERE NOT EXISTS (SELECT 1 FROM calls WHERE calls.call_sid = c.candidate)
                ORDER BY n LIMIT 1),
              input.driver_id, 'IN_PROGRESS', ${startedAt.toISOString()}::timestamptz, ${batchId}::uuid
            FROM input
            WHERE NOT EXISTS (SELECT 1 FROM existing)
            RETURNING id, call_sid, driver_id
          )
          SELECT id, call_sid, driver_id FROM inserted
          UNION ALL
          SELECT id, call_sid, driver_id FROM existing
        `),
      );
      return new Map(result.rows.map((row) => [row.driver_id, row]));
    } catch (error) {
      const raced =
        sqlState(error) === "23505" && violatedConstraint(error) === "uq_calls_call_sid";
      if (!raced || attempt >= CALL_SID_RACE_RETRIES) throw error;
    }
  }
}

async function markStarted(db: Database, callId: number, conversationId: string) {
  await withDbRetry(() =>
    db.execute(sql`
      UPDATE calls SET conversation_id = ${conversationId}, updated_at = now()
      WHERE id = ${callId}
    `),
  );
}

async function markFailed(db: Database, callId: number, reason: string) {
  await withDbRetry(() =>
    db.execute(sql`
      UPDATE calls SET status = 'FAILED', failure_reason = ${reason}, updated_at = now()
      WHERE id = ${callId} AND status = 'IN_PROGRESS'
    `),
  );
}

/**
 * Runs `task` over `items` with at most `limit` in flight, keeping results in input order.
 * Hand-written (a dozen lines) rather than a dependency: nothing else needs one.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T, index);
    }
  });
  await Promise.all(workers);
  return results;
}

const FAILURE_MESSAGES: Record<OutboundCallFailureCode, string> = {
  elevenlabs_http_error: "ElevenLabs refused the outbound call.",
  elevenlabs_rejected: "ElevenLabs did not place the call.",
  elevenlabs_bad_response: "ElevenLabs answered with something we could not read.",
  elevenlabs_timeout: "ElevenLabs did not answer in time; the call may or may not ring.",
  elevenlabs_unreachable: "ElevenLabs could not be reached.",
};

export async function initiateBatch(options: {
  db: Database;
  elevenLabs: ElevenLabsClient;
  drivers: readonly DriverToCall[];
  concurrency: number;
  /** Sent as a `secret__` dynamic variable: ElevenLabs puts it in the webhook tool's header. */
  transcriptionWebhookToken?: string;
  clock: Clock;
  log: Logger;
}): Promise<BatchResult> {
  const { db, elevenLabs, drivers, log } = options;
  const batchId = crypto.randomUUID();
  const startedAt = options.clock.now();
  // Throws (503 after retries) before any call is placed.
  const rows = await insertBatchCalls(db, batchId, drivers, startedAt);
  for (const driver of drivers) {
    log.info("call_created", {
      batch_id: batchId,
      call_sid: rows.get(driver.driver_id)?.call_sid,
      driver_id: driver.driver_id,
      to: maskPhoneNumber(driver.phone_number),
      status: "IN_PROGRESS",
    });
  }

  const results = await mapWithConcurrency(drivers, options.concurrency, async (driver) => {
    const row = rows.get(driver.driver_id);
    if (!row) throw new Error(`no Call row for driver ${driver.driver_id}`);
    const callLog = log.with({
      call_sid: row.call_sid,
      driver_id: driver.driver_id,
      to: maskPhoneNumber(driver.phone_number),
    });
    const outcome = await elevenLabs.placeOutboundCall({
      toNumber: driver.phone_number,
      dynamicVariables: {
        call_sid: row.call_sid,
        driver_id: driver.driver_id,
        driver_name: driver.driver_name,
        violations_summary: violationsSummary(driver.violations),
        // `secret__` variables go only into tool headers, never to the LLM or its transcript.
        ...(options.transcriptionWebhookToken
          ? { secret__transcription_webhook_token: `Bearer ${options.transcriptionWebhookToken}` }
          : {}),
      },
    });
    if (outcome.ok) {
      await markStarted(db, row.id, outcome.conversationId).catch((error: unknown) => {
        // The phone is ringing; the post-call webhook (found by call_sid) still completes
        // the call, so report the conversation and log loudly rather than fail the driver.
        callLog.error("call_conversation_id_not_saved", {
          conversation_id: outcome.conversationId,
          ...describeError(error),
        });
      });
      callLog.info("call_started", { conversation_id: outcome.conversationId });
      return {
        driver_id: driver.driver_id,
        call_sid: row.call_sid,
        conversation_id: outcome.conversationId,
        status: "IN_PROGRESS" as const,
      };
    }
    const reason = `${outcome.code}: ${outcome.reason}`;
    await markFailed(db, row.id, reason).catch((error: unknown) => {
      // Left IN_PROGRESS without a conversation_id: the reconciler marks it FAILED later.
      callLog.error("call_failure_not_saved", describeError(error));
    });
    callLog.warn("call_failed", { reason });
    return {
      driver_id: driver.driver_id,
      call_sid: row.call_sid,
      conversation_id: null,
      status: "FAILED" as const,
      error: { code: outcome.code, message: `${FAILURE_MESSAGES[outcome.code]} ${outcome.reason}` },
    };
  });

  const started = results.filter((result) => result.status === "IN_PROGRESS").length;
  return {
    results,
    summary: { requested: drivers.length, started, failed: drivers.length - started },
  };
}
