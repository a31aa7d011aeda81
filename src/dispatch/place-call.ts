// Dial and record: what follows a claim, the same for a batch driver and a campaign
// target. ElevenLabs is asked once (never retried: a retry can ring the driver twice), and
// its answer is stored at once: the conversation_id, or FAILED with the reason. Each step
// holds at most one connection at a time, so a caller running N of these at once stays
// within a Worker's 6 simultaneous connections when N <= 6.
import {
  failIfCampaignStopped,
  updateConversationId,
  updateStatusByCallSid,
} from "../calls/repository";
import type { Database } from "../db/client";
import {
  type ElevenLabsClient,
  type OutboundCallFailureCode,
  violationsSummary,
} from "../elevenlabs/client";
import { applyWaitingEvents } from "../elevenlabs/inbox";
import type { DispatchMessage } from "../env";
import { describeError, type Logger, maskPhoneNumber } from "../http/log";

export interface CallToPlace {
  callSid: string;
  driverId: number;
  driverName: string;
  phoneNumber: string;
  violations: { code: string; description: string; occurred_at: string }[];
  /** Set for a campaign's call: its campaign is checked again right before the dial. */
  campaignTargetId?: number | null;
}

export type PlacedCall =
  | { ok: true; conversationId: string }
  | { ok: false; code: OutboundCallFailureCode; message: string }
  /** The campaign was cancelled after the claim: not dialed (FAILED campaign_cancelled). */
  | { ok: false; code: "campaign_cancelled"; message: string };

const FAILURE_MESSAGES: Record<OutboundCallFailureCode, string> = {
  elevenlabs_http_error: "ElevenLabs refused the outbound call.",
  elevenlabs_server_error: "ElevenLabs failed on its side; the call may or may not ring.",
  elevenlabs_at_capacity: "ElevenLabs refused the call: the plan's concurrent calls are in use.",
  elevenlabs_rejected: "ElevenLabs did not place the call.",
  elevenlabs_bad_response:
    "ElevenLabs answered with something we could not read; the call may or may not ring.",
  elevenlabs_timeout: "ElevenLabs did not answer in time; the call may or may not ring.",
  elevenlabs_unreachable: "ElevenLabs could not be reached; the call may or may not ring.",
};

export async function placeClaimedCall(options: {
  db: Database;
  elevenLabs: ElevenLabsClient;
  call: CallToPlace;
  /** Sent as a `secret__` dynamic variable: ElevenLabs puts it in the webhook tool's header. */
  transcriptionWebhookToken?: string;
  log: Logger;
  /** The clock, for when the call failed (its call_end_time). */
  now: () => Date;
  /** To wake the dispatcher when an event that outran the answer frees the slot at once. */
  queue?: Queue<DispatchMessage> | undefined;
}): Promise<PlacedCall> {
  const { db, call } = options;
  const log = options.log.with({
    call_sid: call.callSid,
    driver_id: call.driverId,
    to: maskPhoneNumber(call.phoneNumber),
  });
  // Once cancel has answered, no new dial of that campaign starts: a driver claimed just
  // before the cancel is checked again here, right before its dial.
  if (
    call.campaignTargetId != null &&
    (await failIfCampaignStopped(db, call.callSid, options.now()))
  ) {
    log.info("call_not_dialed", { reason: "campaign_cancelled" });
    return {
      ok: false,
      code: "campaign_cancelled",
      message: "The campaign was cancelled before this driver was dialed.",
    };
  }
  const outcome = await options.elevenLabs.placeOutboundCall({
    toNumber: call.phoneNumber,
    dynamicVariables: {
      call_sid: call.callSid,
      driver_id: call.driverId,
      driver_name: call.driverName,
      violations_summary: violationsSummary(call.violations),
      // `secret__` variables go only into tool headers, never to the LLM or its transcript.
      ...(options.transcriptionWebhookToken
        ? { secret__transcription_webhook_token: `Bearer ${options.transcriptionWebhookToken}` }
        : {}),
    },
  });
  if (outcome.ok) {
    const stored = await updateConversationId(db, call.callSid, outcome.conversationId).catch(
      (error: unknown) => {
        // The phone is ringing; the post-call webhook (found by call_sid) still completes
        // the call, so report the conversation and log loudly rather than fail the driver.
        log.error("call_conversation_id_not_saved", {
          conversation_id: outcome.conversationId,
          ...describeError(error),
        });
        return null;
      },
    );
    log.info("call_started", { conversation_id: outcome.conversationId });
    if (stored?.eventsWaiting) {
      // A failure ElevenLabs sent before its answer reached us (a busy line) waits in the
      // inbox for this conversation_id: apply it now, so its slot is freed in seconds.
      await applyWaitingEvents(
        { db, queue: options.queue, log, now: options.now() },
        outcome.conversationId,
      ).catch((error: unknown) => log.warn("post_call_inbox_not_applied", describeError(error)));
    }
    return { ok: true, conversationId: outcome.conversationId };
  }
  await updateStatusByCallSid(db, call.callSid, "FAILED", {
    failureReason: outcome.code,
    failureDetail: outcome.reason,
    callEndTime: options.now(),
  }).catch((error: unknown) => {
    // Left IN_PROGRESS without a conversation_id: the reconciler fails it later
    // (initiation_interrupted), and it holds its live-call slot until then.
    log.error("call_failure_not_saved", describeError(error));
  });
  log.warn("call_failed", { reason: outcome.code, detail: outcome.reason });
  return {
    ok: false,
    code: outcome.code,
    message: `${FAILURE_MESSAGES[outcome.code]} ${outcome.reason}`,
  };
}
