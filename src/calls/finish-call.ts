// Finishing a call from what ElevenLabs reports at its end. One code path for both ways
// that report reaches us: the signed post-call webhook, and the reconciler asking
// ElevenLabs about a call whose webhook was lost.
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";
import type { TranscriptTurn } from "../elevenlabs/client";
import { utteranceKeySql } from "../transcriptions/save-transcription";

/** How the call is found: our call_sid (a dynamic variable ElevenLabs echoes), else its id. */
export interface CallReference {
  callSid: string | null;
  conversationId: string;
}

export type CallOutcome =
  | {
      kind: "completed";
      startTimeUnixSecs: number;
      durationSecs: number;
      transcript: TranscriptTurn[];
    }
  | { kind: "failed"; failureReason: string };

export type FinishResult =
  | { kind: "unknown_call" }
  | {
      kind: "finished";
      callSid: string;
      /** Whether this report changed the status (false for a redelivery). */
      statusChanged: boolean;
      turnsAppended: number;
    };

interface FinishRow extends Record<string, unknown> {
  call_sid: string | null;
  status_changed: boolean;
  turns_appended: number;
}

// Which statuses a report may move a call out of. IN_PROGRESS, obviously; and a call the
// reconciler gave up on as `initiation_interrupted` (our Worker died before it stored the
// conversation_id) that ElevenLabs then reports as having happened. A finished call never
// goes back to IN_PROGRESS, and a second report of the same end changes nothing.
const OPEN_CALL = sql`(calls.status = 'IN_PROGRESS' OR (calls.status = 'FAILED' AND calls.failure_reason = 'initiation_interrupted'))`;

function findCall(reference: CallReference) {
  return reference.callSid
    ? sql`(calls.call_sid = ${reference.callSid} OR calls.conversation_id = ${reference.conversationId})`
    : sql`calls.conversation_id = ${reference.conversationId}`;
}

export async function finishCall(
  db: Database,
  reference: CallReference,
  outcome: CallOutcome,
): Promise<FinishResult> {
  const row =
    outcome.kind === "completed"
      ? await completeCall(db, reference, outcome)
      : await failCall(db, reference, outcome.failureReason);
  if (!row?.call_sid) return { kind: "unknown_call" };
  return {
    kind: "finished",
    callSid: row.call_sid,
    statusChanged: row.status_changed,
    turnsAppended: Number(row.turns_appended),
  };
}

async function failCall(db: Database, reference: CallReference, failureReason: string) {
  const result = await withDbRetry(() =>
    db.execute<FinishRow>(sql`
      WITH target AS (
        SELECT id, call_sid FROM calls WHERE ${findCall(reference)} ORDER BY id LIMIT 1
      ),
      updated AS (
        UPDATE calls
        SET status = 'FAILED', failure_reason = ${failureReason},
            conversation_id = coalesce(calls.conversation_id, ${reference.conversationId}),
            updated_at = now()
        FROM target
        WHERE calls.id = target.id AND calls.status = 'IN_PROGRESS'
        RETURNING calls.id
      )
      SELECT (SELECT call_sid FROM target) AS call_sid,
             EXISTS (SELECT 1 FROM updated) AS status_changed,
             0 AS turns_appended
    `),
  );
  return result.rows[0];
}

/**
 * COMPLETED with call_end_time = start + duration, and the transcript turns the live
 * webhook missed appended after the stored ones with the next sequence numbers.
 *
 * A turn counts as stored when a stored row has the same speaker and message; repeated
 * words are matched occurrence by occurrence ("OK" said three times, stored once: two are
 * appended). Runs as a batch (one HTTP request, one transaction): the first statement locks
 * the Call row (an UPDATE), so live transcription webhooks for this call wait (they bump the same row's
 * counter), and the second statement, which takes a fresh snapshot after the lock, sees
 * every row they committed before it. Nothing is appended twice, and numbering stays 1..N.
 */
async function completeCall(
  db: Database,
  reference: CallReference,
  outcome: Extract<CallOutcome, { kind: "completed" }>,
) {
  const endTime = new Date((outcome.startTimeUnixSecs + outcome.durationSecs) * 1000);
  const turns = outcome.transcript.map((turn, index) => ({
    ord: index + 1,
    speaker: turn.role,
    message: turn.message,
    ts: new Date((outcome.startTimeUnixSecs + turn.time_in_call_secs) * 1000).toISOString(),
  }));
  const [, finished] = await withDbRetry(() =>
    db.batch([
      // Locks the Call, and stores the conversation_id when the batch could not (the report
      // carries it). Its own statement: the insert below must see it for the foreign key.
      db.execute(sql`
        UPDATE calls SET conversation_id = coalesce(calls.conversation_id, ${reference.conversationId})
        WHERE calls.id = (SELECT id FROM calls WHERE ${findCall(reference)} ORDER BY id LIMIT 1)
        RETURNING calls.id
      `),
      db.execute<FinishRow>(sql`
        WITH target AS (
          SELECT id, call_sid, conversation_id, ${OPEN_CALL} AS was_open
          FROM calls WHERE ${findCall(reference)} ORDER BY id LIMIT 1
        ),
        turns AS (
          SELECT t.ord, t.speaker, t.message, t.ts,
                 row_number() OVER (PARTITION BY t.speaker, t.message ORDER BY t.ord) AS occurrence
          FROM jsonb_to_recordset(${JSON.stringify(turns)}::jsonb)
               AS t(ord int, speaker text, message text, ts timestamptz)
        ),
        stored AS (
          SELECT ct.speaker, ct.message, count(*) AS n
          FROM call_transcriptions ct JOIN target ON ct.conversation_id = target.conversation_id
          GROUP BY ct.speaker, ct.message
        ),
        missing AS (
          SELECT turns.*, row_number() OVER (ORDER BY turns.ord) AS position
          FROM turns LEFT JOIN stored ON stored.speaker = turns.speaker AND stored.message = turns.message
          WHERE turns.occurrence > coalesce(stored.n, 0)
        ),
        bumped AS (
          UPDATE calls
          SET last_sequence_number = calls.last_sequence_number + (SELECT count(*) FROM missing),
              status = CASE WHEN ${OPEN_CALL} THEN 'COMPLETED' ELSE calls.status END,
              call_end_time = CASE WHEN ${OPEN_CALL} THEN ${endTime.toISOString()}::timestamptz ELSE calls.call_end_time END,
              failure_reason = CASE WHEN ${OPEN_CALL} THEN NULL ELSE calls.failure_reason END,
              updated_at = now()
          FROM target
          WHERE calls.id = target.id
            AND (${OPEN_CALL} OR EXISTS (SELECT 1 FROM missing))
          RETURNING calls.last_sequence_number AS last, target.was_open
        ),
        appended AS (
          INSERT INTO call_transcriptions
            (conversation_id, speaker, message, "timestamp", sequence_number, utterance_key)
          SELECT target.conversation_id, missing.speaker, missing.message, missing.ts,
                 bumped.last - (SELECT count(*) FROM missing) + missing.position,
                 ${utteranceKeySql(sql`missing.speaker`, sql`missing.ts`, sql`missing.message`)}
          FROM missing, bumped, target
          RETURNING id
        )
        SELECT (SELECT call_sid FROM target) AS call_sid,
               coalesce((SELECT was_open FROM bumped), false) AS status_changed,
               (SELECT count(*) FROM appended)::int AS turns_appended
      `),
    ]),
  );
  return finished.rows[0];
}
