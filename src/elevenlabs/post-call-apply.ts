// Applying what a post-call event (or a waiting one from the inbox) says to its Call, the
// same way whichever path brought it: the status change, the log line that says what
// happened, and what the dispatcher must hear. Once the change is stored, nothing after it
// (waking the dispatcher, placing a retry) may fail the delivery: ElevenLabs does not send
// an event again, so a 5xx then would only count toward disabling our endpoint.
import { applyCallReport, type ReportResult } from "../calls/repository";
import { mayHaveRung } from "../calls/status-rules";
import type { Database } from "../db/client";
import { followUpFinishedCall } from "../dispatch/follow-up";
import type { DispatchMessage } from "../env";
import { describeError, type Logger } from "../http/log";
import type { PostCallInterpretation } from "./post-call";

export interface PostCallContext {
  db: Database;
  queue: Queue<DispatchMessage> | undefined;
  log: Logger;
  now: Date;
}

type Finish = Extract<PostCallInterpretation, { kind: "finish" }>;

/** Applies a finished call's report; `unknown_call` when no Call has its call_sid or conversation_id yet. */
export async function applyPostCallReport(
  context: PostCallContext,
  interpretation: Finish,
): Promise<ReportResult> {
  const { reference, report } = interpretation;
  const result = await applyCallReport(context.db, reference, report);
  if (result.kind === "unknown_call") return result;
  const log = context.log.with({ call_sid: result.callSid });
  if (interpretation.cut.length > 0) log.warn("analysis_cut", { fields: interpretation.cut });
  if (result.changed) {
    log.info("call_finished", {
      outcome:
        report.kind === "conversation"
          ? report.voicemail
            ? "voicemail"
            : "completed"
          : report.failureReason,
      previous_status: result.previousStatus,
      opted_out: result.optedOut,
    });
  } else if (result.previousStatus === "FAILED" && !mayHaveRung(result.previousFailureReason)) {
    // ElevenLabs reports on a call that failed in a way that proves nothing rang (a 4xx,
    // do_not_call, at_capacity): the rules keep it as it is, and someone should know.
    log.warn("post_call_for_call_that_never_rang", {
      failure_reason: result.previousFailureReason,
      report: report.kind,
    });
  } else {
    log.info("post_call_redelivered");
  }
  try {
    await followUpFinishedCall({ ...context, log, report, result });
  } catch (error) {
    // The change is stored; the minute cron places retries and dispatches what waits.
    log.warn("post_call_follow_up_failed", describeError(error));
  }
  return result;
}
