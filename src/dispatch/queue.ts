// The dispatch queue (Cloudflare Queues, binding DISPATCH_QUEUE; the Worker is producer and
// consumer). A message is a nudge, "there may be work", never a decision: the consumer
// re-reads the database and claims in one statement, so a message delivered twice, late
// or never does no harm (the cron safety net runs the same dispatch every minute).
//
// Who sends one:
//   - POST /campaigns, once its targets are stored (none is dialed inside that request);
//   - whoever frees a live-call slot: a finished call (post-call webhook, reconciler), a
//     dial that failed, a batch whose calls failed; so a waiting target gets the slot
//     within seconds, not at the next cron tick;
//   - a scheduled retry, delayed until it is due (Queues delay at most 12 hours; the cron
//     covers anything later, and anything a lost message left behind).
import type { DispatchMessage } from "../env";
import type { Logger } from "../http/log";
import { describeError } from "../http/log";

/** Cloudflare Queues' longest delivery delay. */
const MAX_DELAY_SECONDS = 12 * 3600;

export async function wakeDispatcher(
  queue: Queue<DispatchMessage> | undefined,
  log: Logger,
  options: { reason: string; at?: Date; now?: Date },
): Promise<void> {
  if (!queue) {
    // Not fatal: the cron's run picks the work up within a minute.
    log.warn("dispatch_queue_not_configured", { reason: options.reason });
    return;
  }
  const delaySeconds =
    options.at && options.now
      ? Math.min(
          MAX_DELAY_SECONDS,
          Math.max(0, Math.ceil((options.at.getTime() - options.now.getTime()) / 1000)),
        )
      : 0;
  try {
    await queue.send(
      { kind: "dispatch", reason: options.reason },
      delaySeconds > 0 ? { delaySeconds } : {},
    );
  } catch (error) {
    // The work stays in the database; the cron finds it.
    log.warn("dispatch_wake_failed", { reason: options.reason, ...describeError(error) });
  }
}
