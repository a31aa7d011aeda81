// What ElevenLabs reports at the end of a call, in the service's own terms. The post-call
// webhook and the reconciler (which asks ElevenLabs when the webhook was lost) both turn
// what they receive into a CallReport, and applyCallReport (src/calls/repository.ts) applies it: one code
// path, whichever way the report came.
import type { FinalTranscriptTurn } from "../db/schema";

/** How the call is found: our call_sid (a dynamic variable ElevenLabs echoes), else its id. */
export interface CallReference {
  callSid: string | null;
  conversationId: string;
}

export type CallSuccessful = "success" | "failure" | "unknown";

export interface CallAnalysis {
  callSuccessful: CallSuccessful | null;
  summary: string | null;
  /** data_collection_results as {id: value}. */
  dataCollection: Record<string, unknown> | null;
  /** evaluation_criteria_results as {id: result}. */
  evaluation: Record<string, CallSuccessful> | null;
  terminationReason: string | null;
}

export type CallReport =
  | {
      /** The conversation happened (post_call_transcription, or a `done` conversation). */
      kind: "conversation";
      /** Start + duration as ElevenLabs reports them; when it did not, when we heard of it. */
      endedAt: Date;
      /** ElevenLabs' final transcript, spoken turns only, in its order. */
      transcript: FinalTranscriptTurn[];
      analysis: CallAnalysis;
      /** Answered by a voicemail system: the call is FAILED `voicemail` (transcript kept). */
      voicemail: boolean;
      /** The driver asked not to be called again: the number goes on the do-not-call list. */
      optOut: boolean;
    }
  | {
      kind: "failed";
      failureReason: string;
      failureDetail: string | null;
      /** When we learned of it: its call_end_time (a retry's backoff counts from it). */
      endedAt: Date;
    };
