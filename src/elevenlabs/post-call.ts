// ElevenLabs' post-call webhook: what each event type means for the Call.
import { z } from "zod";
import type { CallOutcome, CallReference } from "../calls/finish-call";
import { storableText } from "../http/schemas";

// Bounds that keep every computed instant a valid timestamptz (and a valid JS Date): no
// call starts after the year 3000 or lasts longer than a week.
const MAX_UNIX_SECS = 32_503_680_000;
const MAX_CALL_SECS = 7 * 24 * 3600;

const dynamicVariablesSchema = z.object({ call_sid: z.unknown().optional() }).loose().optional();

const clientDataSchema = z.object({ dynamic_variables: dynamicVariablesSchema }).loose().nullish();

export const postCallEventSchema = z.object({
  type: z.string(),
  event_timestamp: z.number().optional(),
  data: z.object({ conversation_id: storableText(1, 255) }).loose(),
});

const transcriptionDataSchema = z
  .object({
    conversation_id: storableText(1, 255),
    status: z.string().optional(),
    transcript: z
      .array(
        z
          .object({
            role: z.enum(["agent", "user"]),
            // Tool calls and silences come as turns with a null message: nothing to store.
            message: storableText(0, 10_000).nullish(),
            time_in_call_secs: z.number().min(0).max(MAX_CALL_SECS),
          })
          .loose(),
      )
      .default([]),
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
  | { kind: "finish"; reference: CallReference; outcome: CallOutcome }
  | { kind: "invalid"; issues: z.core.$ZodIssue[] };

function callSidFrom(clientData: z.infer<typeof clientDataSchema>): string | null {
  const callSid = clientData?.dynamic_variables?.call_sid;
  return typeof callSid === "string" && callSid.length > 0 && callSid.length <= 255
    ? callSid
    : null;
}

/** Turns a verified post-call event into what should happen to the Call. */
export function interpretPostCallEvent(
  event: z.infer<typeof postCallEventSchema>,
): PostCallInterpretation {
  if (event.type === "post_call_transcription") {
    const parsed = transcriptionDataSchema.safeParse(event.data);
    if (!parsed.success) return { kind: "invalid", issues: parsed.error.issues };
    const data = parsed.data;
    return {
      kind: "finish",
      reference: {
        callSid: callSidFrom(data.conversation_initiation_client_data),
        conversationId: data.conversation_id,
      },
      outcome: {
        kind: "completed",
        startTimeUnixSecs: data.metadata.start_time_unix_secs,
        durationSecs: data.metadata.call_duration_secs,
        transcript: data.transcript.flatMap((turn) =>
          turn.message
            ? [
                {
                  role: turn.role,
                  message: turn.message,
                  time_in_call_secs: turn.time_in_call_secs,
                },
              ]
            : [],
        ),
      },
    };
  }
  if (event.type === "call_initiation_failure") {
    const parsed = failureDataSchema.safeParse(event.data);
    if (!parsed.success) return { kind: "invalid", issues: parsed.error.issues };
    return {
      kind: "finish",
      reference: {
        callSid: callSidFrom(parsed.data.conversation_initiation_client_data),
        conversationId: parsed.data.conversation_id,
      },
      outcome: { kind: "failed", failureReason: parsed.data.failure_reason || "unknown" },
    };
  }
  // post_call_audio and types added later: acknowledged, nothing to do.
  return { kind: "ignore", why: `event type ${event.type} is not used` };
}
