// ElevenLabs' post-call webhook: what each event means for the Call. The reconciler reads
// ElevenLabs' GET conversation body with the same function (readConversation), because it
// has the shape of a post_call_transcription's `data`: one way to read a finished call.
import { z } from "zod";
import type { CallReference, CallReport } from "../calls/report";
import { storableText } from "../http/schemas";
import { readAnalysis } from "./analysis";

// Bounds that keep every computed instant a valid timestamptz (and a valid JS Date): no
// call starts after the year 3000 or lasts longer than a week.
const MAX_UNIX_SECS = 32_503_680_000;
const MAX_CALL_SECS = 7 * 24 * 3600;

const dynamicVariablesSchema = z.object({ call_sid: z.unknown().optional() }).loose().nullish();

const clientDataSchema = z.object({ dynamic_variables: dynamicVariablesSchema }).loose().nullish();

export const postCallEventSchema = z.object({
  type: z.string(),
  event_timestamp: z.number().optional(),
  data: z.object({ conversation_id: storableText(1, 255) }).loose(),
});

// The parts of a conversation the service relies on are checked; everything else (the
// analysis above all) is read leniently by readAnalysis and never refuses a delivery.
const conversationDataSchema = z
  .object({
    conversation_id: storableText(1, 255),
    transcript: z
      .array(
        z
          .object({
            // Roles other than agent and user, should ElevenLabs add some, are dropped.
            role: z.string(),
            // Tool calls, tool results and silences come as turns with a null message.
            message: storableText(0, 10_000).nullish(),
            time_in_call_secs: z.number().min(0).max(MAX_CALL_SECS),
          })
          .loose(),
      )
      .nullish(),
    metadata: z
      .object({
        start_time_unix_secs: z.number().int().min(0).max(MAX_UNIX_SECS),
        call_duration_secs: z.number().min(0).max(MAX_CALL_SECS),
      })
      .loose(),
    conversation_initiation_client_data: clientDataSchema,
  })
  .loose();

const failureDataSchema = z
  .object({
    conversation_id: storableText(1, 255),
    failure_reason: storableText(0, 200).nullish(),
    conversation_initiation_client_data: clientDataSchema,
  })
  .loose();

export type PostCallInterpretation =
  | { kind: "ignore"; why: string }
  | { kind: "finish"; reference: CallReference; report: CallReport; cut: string[] }
  | { kind: "invalid"; issues: z.core.$ZodIssue[] };

function callSidFrom(clientData: z.infer<typeof clientDataSchema>): string | null {
  const callSid = clientData?.dynamic_variables?.call_sid;
  return typeof callSid === "string" && callSid.length > 0 && callSid.length <= 255
    ? callSid
    : null;
}

/**
 * A finished conversation (a post_call_transcription's `data`, or ElevenLabs' GET
 * conversation body) as a report: the final transcript's spoken turns in ElevenLabs'
 * order, the analysis, voicemail and opt-out.
 */
export function readConversation(
  data: unknown,
): Exclude<PostCallInterpretation, { kind: "ignore" }> {
  const parsed = conversationDataSchema.safeParse(data);
  if (!parsed.success) return { kind: "invalid", issues: parsed.error.issues };
  const conversation = parsed.data;
  const reading = readAnalysis(data);
  return {
    kind: "finish",
    reference: {
      callSid: callSidFrom(conversation.conversation_initiation_client_data),
      conversationId: conversation.conversation_id,
    },
    report: {
      kind: "conversation",
      startTimeUnixSecs: conversation.metadata.start_time_unix_secs,
      durationSecs: conversation.metadata.call_duration_secs,
      transcript: (conversation.transcript ?? []).flatMap((turn) =>
        (turn.role === "agent" || turn.role === "user") && turn.message
          ? [
              {
                role: turn.role,
                message: turn.message,
                time_in_call_secs: turn.time_in_call_secs,
                timestamp: new Date(
                  (conversation.metadata.start_time_unix_secs + turn.time_in_call_secs) * 1000,
                ).toISOString(),
              },
            ]
          : [],
      ),
      analysis: reading.analysis,
      voicemail: reading.voicemail,
      optOut: reading.optOut,
    },
    cut: reading.cut,
  };
}

/** Turns a verified post-call event into what should happen to the Call. */
export function interpretPostCallEvent(
  event: z.infer<typeof postCallEventSchema>,
  receivedAt: Date,
): PostCallInterpretation {
  if (event.type === "post_call_transcription") return readConversation(event.data);
  if (event.type === "call_initiation_failure") {
    const parsed = failureDataSchema.safeParse(event.data);
    if (!parsed.success) return { kind: "invalid", issues: parsed.error.issues };
    const reason = parsed.data.failure_reason || "unknown";
    return {
      kind: "finish",
      reference: {
        callSid: callSidFrom(parsed.data.conversation_initiation_client_data),
        conversationId: parsed.data.conversation_id,
      },
      report: {
        kind: "failed",
        // ElevenLabs' own words (busy, no-answer, unknown) are the reason codes.
        failureReason: reason,
        failureDetail: `ElevenLabs reported that the call could not be connected: ${reason}.`,
        endedAt: receivedAt,
      },
      cut: [],
    };
  }
  // post_call_audio and types added later: acknowledged, nothing to do.
  return { kind: "ignore", why: `event type ${event.type} is not used` };
}
