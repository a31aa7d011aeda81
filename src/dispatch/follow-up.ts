// What the dispatcher must hear after a call finished (post-call webhook or reconciler):
// a freed live-call slot goes to a waiting campaign target within seconds (a queue
// message, not the next cron tick), and a retry the database trigger just scheduled gets
// its next opening computed now and a message delayed until it is due.
import type { CallReport } from "../calls/report";
import type { ReportResult } from "../calls/repository";
import type { Database } from "../db/client";
import type { DispatchMessage } from "../env";
import type { Logger } from "../http/log";
import { wakeDispatcher } from "./queue";
import { placeWaitingTargets } from "./targets";

/** Endings the trigger may turn into a retry (the campaign's `retry.on` decides). */
function mayBeRetried(report: CallReport): boolean {
  return report.kind === "conversation"
    ? report.voicemail
    : ["busy", "no-answer"].includes(report.failureReason);
}

export async function followUpFinishedCall(options: {
  db: Database;
  queue: Queue<DispatchMessage> | undefined;
  log: Logger;
  now: Date;
  report: CallReport;
  result: Extract<ReportResult, { kind: "applied" }>;
}): Promise<void> {
  const { result, log } = options;
  if (!result.changed) return;
  if (result.campaignTargetId !== null && mayBeRetried(options.report)) {
    const placed = await placeWaitingTargets(options.db, {
      now: options.now,
      targetIds: [result.campaignTargetId],
    });
    for (const placement of placed) {
      await wakeDispatcher(options.queue, log, {
        reason: "retry_due",
        at: placement.nextAttemptAt,
        now: options.now,
      });
    }
  }
  if (result.previousStatus === "IN_PROGRESS" && result.campaignWorkWaiting) {
    await wakeDispatcher(options.queue, log, { reason: "slot_freed" });
  }
}
