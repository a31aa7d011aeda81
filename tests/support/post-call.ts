// Building ElevenLabs post-call events as ElevenLabs sends them, signed.
import { signElevenLabsPayload } from "../../src/elevenlabs/signature";
import { TEST_SECRETS } from "../setup/test-secrets";

export interface Turn {
  role: "agent" | "user";
  message: string;
  time_in_call_secs: number;
}

export function transcriptionEvent(options: {
  conversationId: string;
  callSid?: string | null;
  startTimeUnixSecs: number;
  durationSecs?: number;
  transcript: Turn[];
}) {
  return {
    type: "post_call_transcription",
    event_timestamp: options.startTimeUnixSecs + (options.durationSecs ?? 60),
    data: {
      agent_id: "agent_test",
      conversation_id: options.conversationId,
      status: "done",
      transcript: options.transcript,
      metadata: {
        start_time_unix_secs: options.startTimeUnixSecs,
        call_duration_secs: options.durationSecs ?? 60,
        termination_reason: "Call ended by remote party",
      },
      conversation_initiation_client_data: {
        dynamic_variables: options.callSid === null ? {} : { call_sid: options.callSid },
      },
    },
  };
}

export function initiationFailureEvent(conversationId: string, failureReason = "busy") {
  return {
    type: "call_initiation_failure",
    event_timestamp: Math.floor(Date.now() / 1000),
    data: {
      agent_id: "agent_test",
      conversation_id: conversationId,
      failure_reason: failureReason,
      metadata: { type: "twilio", body: { CallStatus: failureReason } },
    },
  };
}

export async function signedPostCall(
  event: unknown,
  options: {
    secret?: string;
    timestampSecs?: number;
    signature?: string | null;
    rawBody?: string;
  } = {},
): Promise<Request> {
  const rawBody = options.rawBody ?? JSON.stringify(event);
  const signature =
    options.signature === undefined
      ? await signElevenLabsPayload(
          rawBody,
          options.secret ?? TEST_SECRETS.ELEVENLABS_WEBHOOK_SECRET,
          options.timestampSecs ?? Math.floor(Date.now() / 1000),
        )
      : options.signature;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (signature !== null) headers["elevenlabs-signature"] = signature;
  return new Request("http://driver-calls.test/webhooks/elevenlabs/post-call", {
    method: "POST",
    headers,
    body: rawBody,
  });
}
