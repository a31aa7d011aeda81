// POST /calls/batch through the dispatcher: claim a live-call slot for every driver at
// once (all or none: a batch is dialed now or not at all), writing every Call row in that
// one statement, then dial and record each, at most CALL_CONCURRENCY at once.
//   - the database is down: 503, no row written, no phone rings;
//   - fewer free slots than drivers: 429 at_capacity, no row written, no phone rings;
//   - a number on the do-not-call list: its row is FAILED do_not_call, it is not dialed;
//   - a number in a live call (one number, one live call): FAILED number_in_call, not
//     dialed, no slot.

import type { Clock } from "../app-env";
import type { AuditStamp } from "../audit/record";
import type { Database } from "../db/client";
import type { ElevenLabsClient } from "../elevenlabs/client";
import type { DispatchMessage } from "../env";
import { AppError } from "../http/errors";
import type { Logger } from "../http/log";
import { maskPhoneNumber } from "../http/log";
import { claimBatchSlots } from "./claim";
import { placeClaimedCall } from "./place-call";

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

/** Seconds an operator should wait before asking again for slots. */
const AT_CAPACITY_RETRY_AFTER = "30";

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

const NOT_DIALED_MESSAGES = {
  do_not_call: "The number is on the do-not-call list: the driver was not called.",
  number_in_call:
    "The number is in a live call already (from a campaign, a batch, or an earlier driver of this batch): the driver was not called. Try again when that call has ended.",
} as const;

export async function placeBatch(options: {
  db: Database;
  elevenLabs: ElevenLabsClient;
  drivers: readonly DriverToCall[];
  concurrency: number;
  maxLiveCalls: number;
  transcriptionWebhookToken?: string;
  clock: Clock;
  log: Logger;
  queue?: Queue<DispatchMessage> | undefined;
  audit: AuditStamp;
}): Promise<BatchResult> {
  const { db, drivers, log } = options;
  const batchId = crypto.randomUUID();
  const claim = await claimBatchSlots(db, {
    drivers,
    maxLiveCalls: options.maxLiveCalls,
    now: options.clock.now(),
    claimId: batchId,
    audit: options.audit,
  });
  if (claim.kind === "at_capacity") {
    log.warn("batch_at_capacity", {
      requested: drivers.length,
      live: claim.live,
      free_slots: claim.freeSlots,
    });
    throw new AppError(
      "at_capacity",
      `${claim.needed} drivers need a free line but only ${claim.freeSlots} of ${options.maxLiveCalls} are free. Nothing was written and nobody was called: retry later, or start a campaign (POST /campaigns), which waits for free lines.`,
      {
        headers: { "Retry-After": AT_CAPACITY_RETRY_AFTER },
        details: {
          live: claim.live,
          max_live_calls: options.maxLiveCalls,
          requested: claim.needed,
        },
      },
    );
  }

  const results = await mapWithConcurrency(
    drivers,
    options.concurrency,
    async (driver, index): Promise<CallResult> => {
      const claimed = claim.calls[index];
      if (!claimed) throw new Error(`no Call row for driver ${driver.driver_id}`);
      log.info("call_created", {
        batch_id: batchId,
        call_sid: claimed.callSid,
        driver_id: driver.driver_id,
        to: maskPhoneNumber(driver.phone_number),
        status: claimed.notDialed ? "FAILED" : "IN_PROGRESS",
      });
      if (claimed.notDialed) {
        return {
          driver_id: driver.driver_id,
          call_sid: claimed.callSid,
          conversation_id: null,
          status: "FAILED",
          error: { code: claimed.notDialed, message: NOT_DIALED_MESSAGES[claimed.notDialed] },
        };
      }
      const placed = await placeClaimedCall({
        db,
        elevenLabs: options.elevenLabs,
        call: {
          callSid: claimed.callSid,
          driverId: driver.driver_id,
          driverName: driver.driver_name,
          phoneNumber: driver.phone_number,
          violations: driver.violations,
        },
        transcriptionWebhookToken: options.transcriptionWebhookToken,
        log: log.with({ batch_id: batchId }),
        now: () => options.clock.now(),
        queue: options.queue,
      });
      return placed.ok
        ? {
            driver_id: driver.driver_id,
            call_sid: claimed.callSid,
            conversation_id: placed.conversationId,
            status: "IN_PROGRESS",
          }
        : {
            driver_id: driver.driver_id,
            call_sid: claimed.callSid,
            conversation_id: null,
            status: "FAILED",
            error: { code: placed.code, message: placed.message },
          };
    },
  );

  const started = results.filter((result) => result.status === "IN_PROGRESS").length;
  return {
    results,
    summary: { requested: drivers.length, started, failed: drivers.length - started },
  };
}
