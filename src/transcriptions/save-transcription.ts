// Saving one utterance of a live call: the two-step lookup (call_sid -> Call ->
// conversation_id), the next sequence number and the insert, in ONE SQL statement.
//
// Why it is safe under concurrency (ElevenLabs may post utterances of one call at once):
// - The sequence number comes from a per-call counter, `calls.last_sequence_number`, bumped
//   by `UPDATE ... RETURNING`. The UPDATE takes the Call's row lock; a concurrent request
//   for the same call waits for that lock and then re-evaluates the row at its LATEST
//   committed version (READ COMMITTED's EvalPlanQual recheck), so it reads the counter the
//   other request just wrote. `MAX(sequence_number) + 1` would instead read the statement's
//   old snapshot and hand the same number out twice, even behind a FOR UPDATE.
// - The bump and the insert are one statement, so one transaction: if the insert fails,
//   the bump is undone. Numbers are therefore 1..N with no gap and no repeat.
// - A redelivered utterance has the same `utterance_key` (md5 of speaker, instant and
//   message); the unique index uq_call_transcriptions_utterance makes a second row
//   impossible. Sequential redeliveries are caught by the `existing` CTE (same statement);
//   two copies in flight at once both miss it, and the second then fails the unique index,
//   which aborts its whole statement (bump included); a second, read-only statement then
//   returns the first copy's ids.
// Statements per request: 1 on the common path, unknown call and not-started call, and a
// sequential redelivery; 2 for a redelivery that raced its first copy.
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { type RetryOptions, sqlState, violatedConstraint, withDbRetry } from "../db/retry";
import type { Speaker } from "../db/schema";

export interface Utterance {
  callSid: string;
  speaker: Speaker;
  message: string;
  /** An instant; stored as timestamptz. */
  timestamp: Date;
}

export type SaveTranscriptionResult =
  | {
      kind: "saved";
      conversationId: string;
      transcriptionId: number;
      sequenceNumber: number;
      duplicate: boolean;
    }
  | { kind: "call_not_found" }
  | { kind: "conversation_not_started" };

/** md5 over speaker, instant (epoch with microseconds) and message, computed by Postgres. */
export function utteranceKeySql(speaker: unknown, timestamp: unknown, message: unknown) {
  return sql`md5(${speaker}::text || '|' || extract(epoch from ${timestamp}::timestamptz)::text || '|' || ${message}::text)`;
}

interface SaveRow extends Record<string, unknown> {
  calls_found: number;
  call_conversation_id: string | null;
  inserted_id: number | null;
  inserted_sequence: number | null;
  existing_id: number | null;
  existing_sequence: number | null;
}

export async function saveTranscription(
  db: Database,
  utterance: Utterance,
  retry?: RetryOptions,
): Promise<SaveTranscriptionResult> {
  const { callSid, speaker, message } = utterance;
  const timestamp = utterance.timestamp.toISOString();
  const key = utteranceKeySql(speaker, timestamp, message);
  let row: SaveRow | undefined;
  try {
    const result = await withDbRetry(
      () =>
        db.execute<SaveRow>(sql`
          WITH target AS (
            SELECT id, conversation_id FROM calls WHERE call_sid = ${callSid}
          ),
          existing AS (
            SELECT t.id, t.sequence_number
            FROM call_transcriptions t JOIN target ON t.conversation_id = target.conversation_id
            WHERE t.utterance_key = ${key}
          ),
          bumped AS (
            UPDATE calls SET last_sequence_number = calls.last_sequence_number + 1
            FROM target
            WHERE calls.id = target.id
              AND calls.conversation_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM existing)
            RETURNING calls.conversation_id, calls.last_sequence_number
          ),
          inserted AS (
            INSERT INTO call_transcriptions
              (conversation_id, speaker, message, "timestamp", sequence_number, utterance_key)
            SELECT conversation_id, ${speaker}, ${message}, ${timestamp}::timestamptz,
                   last_sequence_number, ${key}
            FROM bumped
            RETURNING id, sequence_number
          )
          SELECT
            (SELECT count(*) FROM target)::int AS calls_found,
            (SELECT conversation_id FROM target) AS call_conversation_id,
            (SELECT id FROM inserted) AS inserted_id,
            (SELECT sequence_number FROM inserted) AS inserted_sequence,
            (SELECT id FROM existing) AS existing_id,
            (SELECT sequence_number FROM existing) AS existing_sequence
        `),
      retry,
    );
    row = result.rows[0];
  } catch (error) {
    if (
      sqlState(error) !== "23505" ||
      violatedConstraint(error) !== "uq_call_transcriptions_utterance"
    ) {
      throw error;
    }
    return findRacedDuplicate(db, utterance, retry);
  }
  if (!row || row.calls_found === 0) return { kind: "call_not_found" };
  if (row.call_conversation_id === null) return { kind: "conversation_not_started" };
  if (row.inserted_id !== null && row.inserted_sequence !== null) {
    return saved(row.call_conversation_id, row.inserted_id, row.inserted_sequence, false);
  }
  if (row.existing_id !== null && row.existing_sequence !== null) {
    return saved(row.call_conversation_id, row.existing_id, row.existing_sequence, true);
  }
  // The Call got its conversation_id after our snapshot was taken, or lost it: treat as
  // not started; the sender retries.
  return { kind: "conversation_not_started" };
}

/** The second statement of the raced-redelivery path: the first copy's ids. */
async function findRacedDuplicate(
  db: Database,
  utterance: Utterance,
  retry?: RetryOptions,
): Promise<SaveTranscriptionResult> {
  const timestamp = utterance.timestamp.toISOString();
  const result = await withDbRetry(
    () =>
      db.execute<{ id: number; sequence_number: number; conversation_id: string }>(sql`
        SELECT t.id, t.sequence_number, t.conversation_id
        FROM calls c JOIN call_transcriptions t ON t.conversation_id = c.conversation_id
        WHERE c.call_sid = ${utterance.callSid}
          AND t.utterance_key = ${utteranceKeySql(utterance.speaker, timestamp, utterance.message)}
      `),
    retry,
  );
  const first = result.rows[0];
  if (!first) throw new Error("unique violation on the utterance key, but no first copy found");
  return saved(first.conversation_id, first.id, first.sequence_number, true);
}

function saved(
  conversationId: string,
  transcriptionId: number,
  sequenceNumber: number,
  duplicate: boolean,
): SaveTranscriptionResult {
  return { kind: "saved", conversationId, transcriptionId, sequenceNumber, duplicate };
}
