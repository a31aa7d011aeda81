// ElevenLabs' post-call webhook: what each event means for the Call. The reconciler reads
// ElevenLabs' GET conversation body with the same function (readConversation), because it
// has the shape of a post_call_transcription's `data`: one way to read a finished call.
//
// Read leniently, field by field, as ElevenLabs' SDK types them (serialization/types:
// every optional key may be absent, most may be null). ElevenLabs does not retry a refused
// delivery and disables an endpoint that keeps failing, so a signed event is never refused
// for one field: what is understood is applied, what is not falls back (the table in
// docs/ARCHITECTURE.md, "What the service reads of ElevenLabs").
import type { CallReference, CallReport } from "../calls/report";
import type { FinalTranscriptTurn } from "../db/schema";
import { asObject, readAnalysis, storable } from "./analysis";

// Bounds that keep every computed instant a valid timestamptz (and a valid JS Date): no
// call starts after the year 3000 or lasts longer than a week.
const MAX_UNIX_SECS = 32_503_680_000;
const MAX_CALL_SECS = 7 * 24 * 3600;
/** ids are varchar(255) columns. */
const MAX_ID_CHARS = 255;
/** A failure reason becomes failure_reason: a short code. */
const MAX_FAILURE_REASON_CHARS = 200;

export type PostCallInterpretation =
  | { kind: "ignore"; why: string }
  | { kind: "finish"; reference: CallReference; report: CallReport; cut: string[] };

/** A non-empty id that fits its column and that Postgres can store; null otherwise. */
function usableId(value: unknown): string | null {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_ID_CHARS) return null;
  return !value.includes("\u0000") && value.isWellFormed() ? value : null;
}

function numberWithin(value: unknown, max: number): number | null {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= max
    ? value
    : null;
}

/** Our call_sid, echoed by ElevenLabs among the dynamic variables. */
function callSidFrom(data: Record<string, unknown>): string | null {
  const clientData = asObject(data.conversation_initiation_client_data);
  return usableId(asObject(clientData?.dynamic_variables)?.call_sid);
}

/** The conversation_id of an event's `data`, when it has a usable one. */
export function conversationIdOf(data: unknown): string | null {
  return usableId(asObject(data)?.conversation_id);
}

/**
 * A finished conversation (a post_call_transcription's `data`, or ElevenLabs' GET
 * conversation body) as a report: the final transcript's spoken turns in ElevenLabs'
 * order, when the call ended, the analysis, voicemail and opt-out.
 * - start or duration missing: the call ended when we heard of it (`receivedAt`);
 * - a turn whose role is neither agent nor user, or without a message, is dropped (tool
 *   calls and results come as turns with a null message); a turn of any length is kept
 *   whole (the live webhook's 10,000-character limit is its own);
 * - a turn without a usable time_in_call_secs takes the previous turn's.
 */
export function readConversation(
  data: unknown,
  known: { conversationId: string; receivedAt: Date },
): Extract<PostCallInterpretation, { kind: "finish" }> {
  const conversation = asObject(data) ?? {};
  const metadata = asObject(conversation.metadata) ?? {};
  const startSecs = numberWithin(metadata.start_time_unix_secs, MAX_UNIX_SECS);
  const durationSecs = numberWithin(metadata.call_duration_secs, MAX_CALL_SECS);
  const receivedSecs = known.receivedAt.getTime() / 1000;

  const spoken: { role: "agent" | "user"; message: string; secs: number }[] = [];
  let previousSecs = 0;
  for (const item of Array.isArray(conversation.transcript) ? conversation.transcript : []) {
    const turn = asObject(item);
    const secs = numberWithin(turn?.time_in_call_secs, MAX_CALL_SECS) ?? previousSecs;
    previousSecs = secs;
    const role = turn?.role;
    if ((role !== "agent" && role !== "user") || typeof turn?.message !== "string") continue;
    // Only what Postgres cannot store is changed (NUL bytes, broken surrogates); never cut.
    const message = storable(turn.message, Number.MAX_SAFE_INTEGER).text;
    if (message.length > 0) spoken.push({ role, message, secs });
  }

  // Without a start time, the turns are placed back from when the report reached us.
  const lastTurnSecs = spoken.reduce((latest, turn) => Math.max(latest, turn.secs), 0);
  const start = startSecs ?? receivedSecs - (durationSecs ?? lastTurnSecs);
  const endedAt =
    startSecs !== null && durationSecs !== null
      ? new Date((startSecs + durationSecs) * 1000)
      : known.receivedAt;
  const transcript: FinalTranscriptTurn[] = spoken.map((turn) => ({
    role: turn.role,
    message: turn.message,
    time_in_call_secs: turn.secs,
    timestamp: new Date((start + turn.secs) * 1000).toISOString(),
  }));

  const reading = readAnalysis(conversation);
  return {
    kind: "finish",
    reference: {
      callSid: callSidFrom(conversation),
      conversationId: usableId(conversation.conversation_id) ?? known.conversationId,
    },
    report: {
      kind: "conversation",
      endedAt,
      transcript,
      analysis: reading.analysis,
      voicemail: reading.voicemail,
      optOut: reading.optOut,
    },
    cut: reading.cut,
  };
}

/**
 * Turns a verified post-call event (any JSON) into what should happen to the Call. Only
 * an event without a usable `data.conversation_id`, or of a type the service does not use
 * (post_call_audio, answering_machine_detection, types added later), is ignored.
 */
export function interpretPostCallEvent(event: unknown, receivedAt: Date): PostCallInterpretation {
  const body = asObject(event);
  const type = typeof body?.type === "string" ? body.type : null;
  if (type !== "post_call_transcription" && type !== "call_initiation_failure") {
    return { kind: "ignore", why: `event type ${type ?? "(none)"} is not used` };
  }
  const data = asObject(body?.data);
  const conversationId = conversationIdOf(data);
  if (data === undefined || conversationId === null) {
    return { kind: "ignore", why: "the event has no usable data.conversation_id" };
  }
  if (type === "post_call_transcription") {
    return readConversation(data, { conversationId, receivedAt });
  }
  // ElevenLabs' own words (busy, no-answer, unknown) are the reason codes.
  const reason =
    typeof data.failure_reason === "string" && data.failure_reason.trim() !== ""
      ? storable(data.failure_reason.trim(), MAX_FAILURE_REASON_CHARS).text
      : "unknown";
  return {
    kind: "finish",
    reference: { callSid: callSidFrom(data), conversationId },
    report: {
      kind: "failed",
      failureReason: reason,
      failureDetail: `ElevenLabs reported that the call could not be connected: ${reason}.`,
      endedAt: receivedAt,
    },
    cut: [],
  };
}
