// How a Call's status may change, and why: the one home of these rules. Every statement
// that changes a Call's status (src/calls/repository.ts) builds its WHERE clause from the
// fragments here, so a rule changes in one place.
//
//   IN_PROGRESS -> COMPLETED   ElevenLabs reports the conversation (post-call webhook or
//                              the reconciler asking ElevenLabs)
//   IN_PROGRESS -> FAILED      the dial failed, ElevenLabs reports a failed initiation or
//                              a failed conversation (failedConversationEnding), the
//                              conversation is stale (STALE_AFTER_HOURS), the reconciler
//                              gives up
//   FAILED      -> COMPLETED   only when the failure may have rung (MAY_HAVE_RUNG) and
//                              ElevenLabs then reports the conversation: the driver was
//                              reached, so the call must not read as a failure; and not
//                              once the call's data was purged or erased (src/retention/):
//                              the report would write back what was removed
//   anything else: never. A finished call never goes back to IN_PROGRESS (it would take a
//   live-call slot again), and COMPLETED is final.
//
// What follows a status change (the live-call slot is freed, a campaign target moves on)
// is done by the database trigger of migration 0008, in the same transaction.
import { type SQL, sql } from "drizzle-orm";

/**
 * Failure reasons after which ElevenLabs may have placed the call anyway. Such a call is
 * never dialed again (that could ring the driver twice), and a later post-call report
 * completes it like an IN_PROGRESS call.
 * - elevenlabs_timeout: no answer in time; the request may have been acted on.
 * - elevenlabs_server_error: a 5xx can come after the call was placed.
 * - elevenlabs_bad_response: a 2xx we could not read may hold a conversation_id.
 * - elevenlabs_unreachable: the connection failed; we cannot tell whether before or after
 *   ElevenLabs read the request, so we assume the worst.
 * - initiation_interrupted: our Worker stopped between writing the row and hearing back.
 * - conversation_stale: ElevenLabs accepted the call but still reports it unfinished
 *   (initiated, in-progress, processing), or answers no lookup, STALE_AFTER_HOURS after it
 *   started; the slot is freed, and a report that comes after all still completes it.
 * - reconcile_gave_up: ElevenLabs accepted the call and then could not tell us how it
 *   ended for 24 hours.
 */
export const MAY_HAVE_RUNG = [
  "elevenlabs_timeout",
  "elevenlabs_server_error",
  "elevenlabs_bad_response",
  "elevenlabs_unreachable",
  "initiation_interrupted",
  "conversation_stale",
  "reconcile_gave_up",
] as const;

/**
 * A call that ElevenLabs accepted and still has not finished this long after it started is
 * FAILED `conversation_stale`: no conversation lasts this long, and its live-call slot
 * would otherwise be held for good (a conversation can stay `processing` for ever).
 */
export const STALE_AFTER_HOURS = 2;

/**
 * The failure reason of a conversation ElevenLabs reports `failed`, from its
 * `metadata.phone_call.call_result` (answered | voicemail | busy | no_answer | failed in
 * its SDK): the same reasons its call_initiation_failure webhook gives, so campaigns retry
 * a busy line whichever way they hear of it. Anything else is final: conversation_failed.
 */
export function failedConversationEnding(callResult: unknown): string {
  switch (callResult) {
    case "busy":
      return "busy";
    case "no_answer":
    case "no-answer":
      return "no-answer";
    case "voicemail":
      return "voicemail";
    default:
      return "conversation_failed";
  }
}

/**
 * Failure reasons that prove nothing rang: ElevenLabs refused the request (4xx or
 * `success: false`), refused it for concurrency, or we never asked it (do-not-call list,
 * no free slot, the number in a live call, the campaign cancelled before the dial). A later report for such a call is left alone and logged.
 */
export const NOTHING_RANG = [
  "elevenlabs_http_error",
  "elevenlabs_rejected",
  "elevenlabs_at_capacity",
  "do_not_call",
  "at_capacity",
  "number_in_call",
  "campaign_cancelled",
] as const;

/** The reason code of a failure_reason (rows before 0007 hold "code: sentence"). */
export function failureCode(failureReason: string | null): string | null {
  if (failureReason === null) return null;
  return failureReason.split(":")[0] ?? failureReason;
}

export function mayHaveRung(failureReason: string | null): boolean {
  return (MAY_HAVE_RUNG as readonly string[]).includes(failureCode(failureReason) ?? "");
}

const reasonCode = sql`split_part(coalesce(calls.failure_reason, ''), ':', 1)`;
const mayHaveRungList = sql.join(
  MAY_HAVE_RUNG.map((reason) => sql`${reason}`),
  sql`, `,
);

/**
 * Calls a post-call report of the conversation may complete: IN_PROGRESS, or FAILED but
 * may have rung and still holding its data. (A live call is never purged or erased.)
 */
export const COMPLETABLE: SQL = sql`(calls.status = 'IN_PROGRESS' OR (calls.status = 'FAILED' AND ${reasonCode} IN (${mayHaveRungList}) AND calls.data_purged_at IS NULL))`;

/**
 * Whether `phoneNumber` (an SQL expression) has a live call, from any campaign or batch:
 * one probe of uq_calls_live_phone_number (migration 0011). One number, one live call: the
 * claims skip such numbers, and reads show the driver waiting for it.
 */
export function numberInLiveCall(phoneNumber: SQL): SQL {
  return sql`EXISTS (SELECT 1 FROM calls live_call
    WHERE live_call.phone_number = ${phoneNumber} AND live_call.status = 'IN_PROGRESS')`;
}

/** Calls that may become FAILED: only live ones. A finished call is never failed again. */
export const FAILABLE: SQL = sql`(calls.status = 'IN_PROGRESS')`;
