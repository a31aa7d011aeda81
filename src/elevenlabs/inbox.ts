// The inbox of post-call events whose Call is not known yet. ElevenLabs may send
// call_initiation_failure (a busy line, no answer) before its answer to our dial has
// reached us: no Call has that conversation_id yet, and the event carries no call_sid. It
// is kept here (answered 200) and applied as soon as a Call records the conversation_id.
//
// Two sides race: the dial stores the conversation_id and, in the same statement, looks in
// the inbox (src/calls/repository.ts, updateConversationId); the webhook stores the event,
// then looks for its Call again. Each statement has its own snapshot, so in the rare case
// where both statements run in the same few milliseconds neither sees the other: for that,
// a kept event also sends a dispatch message delayed a few seconds (INBOX_WAKE_REASON),
// whose consumer applies what waits in the inbox before it dispatches. Both sides may
// apply the same event: applying a report twice changes nothing the second time. The
// minute cron sweeps up whatever a crash left behind, and drops what no Call claimed in
// 24 hours, with a log line.
import { and, asc, eq, exists, inArray, lt, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";
import { calls, postCallInbox } from "../db/schema";
import { wakeDispatcher } from "../dispatch/queue";
import { INBOX_WAKE_REASON } from "../env";
import { describeError } from "../http/log";
import { interpretPostCallEvent } from "./post-call";
import { applyPostCallReport, type PostCallContext } from "./post-call-apply";

export const INBOX_LIMITS = {
  /** An event no Call claims within this is dropped. */
  keepHours: 24,
  /** Conversations applied, and events dropped, per sweep. */
  perSweep: 50,
  /** When the queue consumer looks again at a kept event (the dial's answer is due by then). */
  lookAgainAfterSeconds: 3,
} as const;

/** Keeps an event for later, then applies it at once if its Call became known meanwhile. */
export async function keepForLater(
  context: PostCallContext,
  event: { conversationId: string; eventType: string; text: string },
): Promise<{ appliedNow: boolean }> {
  await withDbRetry(() =>
    context.db.insert(postCallInbox).values({
      conversationId: event.conversationId,
      eventType: event.eventType,
      event: event.text,
      receivedAt: context.now,
    }),
  );
  context.log.info("post_call_event_kept", {
    why: "no call has this conversation_id yet",
    conversation_id: event.conversationId,
  });
  // Stored: from here on the delivery is answered 200 whatever happens (the cron retries).
  try {
    if ((await applyWaitingEvents(context, event.conversationId)) > 0) return { appliedNow: true };
  } catch (error) {
    context.log.warn("post_call_inbox_not_applied", describeError(error));
  }
  await wakeDispatcher(context.queue, context.log, {
    reason: INBOX_WAKE_REASON,
    at: new Date(context.now.getTime() + INBOX_LIMITS.lookAgainAfterSeconds * 1000),
    now: context.now,
  });
  return { appliedNow: false };
}

/**
 * Applies the events waiting for `conversationId` once a Call has it, oldest first, then
 * removes them; returns how many were applied. Called right after a dial stores its
 * conversation_id, after an event is kept, and by the cron's sweep.
 */
export async function applyWaitingEvents(
  context: PostCallContext,
  conversationId: string,
): Promise<number> {
  const { db } = context;
  const waiting = await withDbRetry(() =>
    db
      .select({
        id: postCallInbox.id,
        event: postCallInbox.event,
        receivedAt: postCallInbox.receivedAt,
      })
      .from(postCallInbox)
      .where(
        and(
          eq(postCallInbox.conversationId, conversationId),
          exists(
            db.select({ one: sql`1` }).from(calls).where(eq(calls.conversationId, conversationId)),
          ),
        ),
      )
      .orderBy(asc(postCallInbox.id)),
  );
  if (waiting.length === 0) return 0;
  for (const row of waiting) {
    const interpretation = interpretPostCallEvent(parseStored(row.event), row.receivedAt);
    if (interpretation.kind !== "finish") continue;
    const result = await applyPostCallReport(
      { ...context, log: context.log.with({ conversation_id: conversationId, via: "inbox" }) },
      interpretation,
    );
    if (result.kind === "unknown_call") return 0;
  }
  await withDbRetry(() =>
    db.delete(postCallInbox).where(
      inArray(
        postCallInbox.id,
        waiting.map((row) => row.id),
      ),
    ),
  );
  return waiting.length;
}

/**
 * Applies events whose Call is known now (the queue consumer after a kept event; the
 * minute cron for anything a crash left), and, unless `applyOnly`, drops those older than
 * 24 hours.
 */
export async function sweepInbox(
  context: PostCallContext,
  options: { applyOnly?: boolean } = {},
): Promise<{ applied: number; dropped: number }> {
  const { db, log } = context;
  const claimable = await withDbRetry(() =>
    db
      .selectDistinct({ conversationId: postCallInbox.conversationId })
      .from(postCallInbox)
      .innerJoin(calls, eq(calls.conversationId, postCallInbox.conversationId))
      .limit(INBOX_LIMITS.perSweep),
  );
  let applied = 0;
  for (const { conversationId } of claimable) {
    applied += await applyWaitingEvents(context, conversationId);
  }
  if (options.applyOnly) return { applied, dropped: 0 };
  const cutoff = new Date(context.now.getTime() - INBOX_LIMITS.keepHours * 3_600_000);
  const dropped = await withDbRetry(() =>
    db
      .delete(postCallInbox)
      .where(
        inArray(
          postCallInbox.id,
          db
            .select({ id: postCallInbox.id })
            .from(postCallInbox)
            .where(lt(postCallInbox.receivedAt, cutoff))
            .orderBy(asc(postCallInbox.receivedAt))
            .limit(INBOX_LIMITS.perSweep),
        ),
      )
      .returning({
        conversationId: postCallInbox.conversationId,
        eventType: postCallInbox.eventType,
        receivedAt: postCallInbox.receivedAt,
      }),
  );
  for (const event of dropped) {
    log.warn("post_call_event_dropped", {
      why: `no call claimed it within ${INBOX_LIMITS.keepHours} hours`,
      conversation_id: event.conversationId,
      event_type: event.eventType,
      received_at: event.receivedAt.toISOString(),
    });
  }
  return { applied, dropped: dropped.length };
}

function parseStored(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
