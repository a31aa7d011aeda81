// The Worker entry point: the HTTP app; the dispatch queue's consumer; and the crons:
//   * * * * *    the dispatcher's safety net (next openings, due targets a lost message
//                left behind, finished campaigns), expired idempotency keys, and the
//                post-call inbox (events whose call became known, events 24 hours old)
//   */5 * * * *  the reconciler (calls whose post-call webhook never came)
//   17 3 * * *   the retention purge (transcripts and analyses after RETENTION_DAYS, audit
//                events after AUDIT_RETENTION_DAYS)
import { createApp, withDefaultDeps } from "./app";
import type { AppDeps } from "./app-env";
import { RECONCILER_CRON, RETENTION_CRON } from "./crons";
import { createDatabase, type Database } from "./db/client";
import { wakeDispatcher } from "./dispatch/queue";
import { runDispatch } from "./dispatch/run";
import type { ElevenLabsClient } from "./elevenlabs/client";
import { sweepInbox } from "./elevenlabs/inbox";
import {
  type Bindings,
  type Config,
  type DispatchMessage,
  type EventsMessage,
  INBOX_WAKE_REASON,
  readConfig,
} from "./env";
import { DELIVERY_TIMEOUT_MS, sendDueEvents } from "./events/deliver";
import { nudgeEventSender } from "./events/queue";
import { deleteExpiredIdempotencyKeys } from "./http/idempotency";
import { createLogger, describeError, type Logger } from "./http/log";
import { deleteOldSessions } from "./operators/sessions";
import { reconcileStuckCalls } from "./reconciler/reconcile";
import { runRetention } from "./retention/purge";

export function createWorker(overrides: Partial<AppDeps> = {}) {
  const deps = withDefaultDeps(overrides);
  const app = createApp(deps);

  /** The database and ElevenLabs client of a background run; null when unusable (logged). */
  function backgroundDeps(env: Bindings, log: Logger) {
    const config = readConfig(env);
    if (!config.DATABASE_URL) {
      log.error("background_not_configured", { reason: "DATABASE_URL is not set" });
      return null;
    }
    const db = createDatabase(config.DATABASE_URL, config.NEON_HTTP_ENDPOINT);
    let elevenLabs: ElevenLabsClient | null = null;
    try {
      elevenLabs = deps.elevenLabs(config);
    } catch (error) {
      log.error("elevenlabs_not_configured", describeError(error));
    }
    return { config, db, elevenLabs };
  }

  async function dispatch(
    env: Bindings,
    background: { config: Config; db: Database; elevenLabs: ElevenLabsClient | null },
    log: Logger,
    housekeeping: boolean,
  ) {
    const { config, db, elevenLabs } = background;
    if (!elevenLabs) return;
    const report = await runDispatch({
      db,
      elevenLabs,
      clock: deps.clock,
      log,
      maxLiveCalls: config.MAX_LIVE_CALLS,
      lanes: config.CALL_CONCURRENCY,
      transcriptionWebhookToken: config.TRANSCRIPTION_WEBHOOK_TOKEN,
      housekeeping,
      queue: env.DISPATCH_QUEUE,
    });
    log.info("dispatch_run", { ...report });
    if (report.unfinished) {
      await wakeDispatcher(env.DISPATCH_QUEUE, log, { reason: "run_unfinished" });
    }
    if (report.failedToDial > 0) {
      await nudgeEventSender(env.EVENTS_QUEUE, log, { reason: "dial_failed" });
    }
    if (report.failedToDial + report.cancelledBeforeDial > 0) {
      // Failed dials freed their slots; should this run have stopped before handing them
      // on, the next one does, within seconds.
      await wakeDispatcher(env.DISPATCH_QUEUE, log, { reason: "dial_failed" });
    }
    if (report.refusedForConcurrency > 0) {
      // Those targets wait 30 seconds for ElevenLabs to free a line (the database trigger).
      const now = deps.clock.now();
      await wakeDispatcher(env.DISPATCH_QUEUE, log, {
        reason: "elevenlabs_at_capacity",
        at: new Date(now.getTime() + 31_000),
        now,
      });
    }
  }

  /** Sends due event deliveries; asks the queue to come back when the next retry is due. */
  async function sendEvents(env: Bindings, db: Database, log: Logger) {
    const report = await sendDueEvents({
      db,
      now: () => deps.clock.now(),
      log,
      timeoutMs: deps.eventDeliveryTimeoutMs ?? DELIVERY_TIMEOUT_MS,
    });
    if (report.sent > 0) log.info("events_sent", { ...report });
    if (report.next_due_in_seconds !== null) {
      await nudgeEventSender(env.EVENTS_QUEUE, log, {
        reason: "retry_due",
        delaySeconds: report.next_due_in_seconds,
      });
    }
  }

  return {
    fetch: app.fetch,

    async queue(batch, env) {
      const log = createLogger({ queue: batch.queue, messages: batch.messages.length });
      const background = backgroundDeps(env, log);
      if (!background) return;
      if (batch.messages.some((message) => message.body?.kind === "events")) {
        await sendEvents(env, background.db, log);
        return;
      }
      if (batch.messages.some((message) => message.body?.reason === INBOX_WAKE_REASON)) {
        // A post-call event was kept for a Call not known yet: apply it if the Call is
        // known now, so the busy line it reports frees its slot before we dispatch.
        const inbox = await sweepInbox(
          { db: background.db, queue: env.DISPATCH_QUEUE, log, now: deps.clock.now() },
          { applyOnly: true },
        ).catch((error: unknown) => {
          log.warn("post_call_inbox_not_applied", describeError(error));
          return null;
        });
        if (inbox && inbox.applied > 0) log.info("post_call_inbox_swept", { ...inbox });
      }
      // One run however many messages: each only says "there may be work".
      await dispatch(env, background, log, false);
    },

    async scheduled(controller, env, ctx) {
      const log = createLogger({
        cron: controller.cron,
        scheduled_time: new Date(controller.scheduledTime).toISOString(),
      });
      const run = async () => {
        const background = backgroundDeps(env, log);
        if (!background) return;
        if (controller.cron === RECONCILER_CRON) {
          const report = await reconcileStuckCalls({
            db: background.db,
            elevenLabs: background.elevenLabs,
            clock: deps.clock,
            log,
            queue: env.DISPATCH_QUEUE,
          });
          log.info("reconciler_run", { ...report });
          const freed =
            report.interrupted + report.gaveUp + report.stale + report.completed + report.failed;
          if (freed > 0) {
            await wakeDispatcher(env.DISPATCH_QUEUE, log, { reason: "reconciler_freed_slots" });
            await nudgeEventSender(env.EVENTS_QUEUE, log, { reason: "reconciler_finished_calls" });
          }
          return;
        }
        if (controller.cron === RETENTION_CRON) {
          const report = await runRetention({
            db: background.db,
            now: deps.clock.now(),
            retentionDays: background.config.RETENTION_DAYS,
            auditRetentionDays: background.config.AUDIT_RETENTION_DAYS,
            log,
          });
          log.info("retention_run", {
            calls_purged: report.calls,
            transcript_turns_deleted: report.transcriptTurns,
            audit_events_deleted: report.auditEvents,
            batches: report.batches,
            longest_batch_ms: report.longestBatchMs,
            unfinished: report.unfinished,
            events_deleted: report.events,
          });
          // Console sessions a day past their end are of no use to anyone.
          const sessions = await deleteOldSessions(background.db, deps.clock.now());
          if (sessions > 0) log.info("console_sessions_deleted", { count: sessions });
          return;
        }
        const expired = await deleteExpiredIdempotencyKeys(background.db);
        if (expired > 0) log.info("idempotency_keys_expired", { count: expired });
        const inbox = await sweepInbox({
          db: background.db,
          queue: env.DISPATCH_QUEUE,
          log,
          now: deps.clock.now(),
        });
        if (inbox.applied + inbox.dropped > 0) log.info("post_call_inbox_swept", { ...inbox });
        await dispatch(env, background, log, true);
        // The safety net of event deliveries: whatever is due and no message brought.
        await sendEvents(env, background.db, log);
      };
      ctx.waitUntil(
        run().catch((error: unknown) => log.error("cron_failed", describeError(error))),
      );
    },
  } satisfies ExportedHandler<Bindings, DispatchMessage | EventsMessage>;
}

export default createWorker();
