// The events queue (binding EVENTS_QUEUE; the Worker is producer and consumer). Like the
// dispatch queue, a message is a nudge, "there may be events to send": the consumer claims
// due deliveries from the database (src/events/deliver.ts), so a message delivered twice,
// late or never does no harm; the minute cron sends whatever is due as well.
//
// Who sends one: whoever may have just written events (a call finished by the post-call
// webhook or the reconciler, a dispatch or batch run, a resend), and the sender itself,
// delayed until its earliest retry is due (Queues delay at most 12 hours; the cron covers
// anything later).
import type { EventsMessage } from "../env";
import type { Logger } from "../http/log";
import { describeError } from "../http/log";

const MAX_DELAY_SECONDS = 12 * 3600;

export async function nudgeEventSender(
  queue: Queue<EventsMessage> | undefined,
  log: Logger,
  options: { reason: string; delaySeconds?: number },
): Promise<void> {
  if (!queue) return; // The minute cron sends them.
  const delaySeconds = Math.min(
    MAX_DELAY_SECONDS,
    Math.max(0, Math.ceil(options.delaySeconds ?? 0)),
  );
  try {
    await queue.send(
      { kind: "events", reason: options.reason },
      delaySeconds > 0 ? { delaySeconds } : {},
    );
  } catch (error) {
    log.warn("events_queue_send_failed", { reason: options.reason, ...describeError(error) });
  }
}
