// The Worker entry point: the HTTP app, and the cron-triggered reconciler.
import { createApp, withDefaultDeps } from "./app";
import type { AppDeps } from "./app-env";
import { createDatabase } from "./db/client";
import { type Bindings, readConfig } from "./env";
import { createLogger, describeError } from "./http/log";
import { reconcileStuckCalls } from "./reconciler/reconcile";

export function createWorker(overrides: Partial<AppDeps> = {}) {
  const deps = withDefaultDeps(overrides);
  const app = createApp(deps);
  return {
    fetch: app.fetch,
    async scheduled(controller, env, ctx) {
      const log = createLogger({
        cron: controller.cron,
        scheduled_time: new Date(controller.scheduledTime).toISOString(),
      });
      const run = async () => {
        const config = readConfig(env);
        if (!config.DATABASE_URL) {
          log.error("reconciler_not_configured", { reason: "DATABASE_URL is not set" });
          return;
        }
        const report = await reconcileStuckCalls({
          db: createDatabase(config.DATABASE_URL, config.NEON_HTTP_ENDPOINT),
          elevenLabs: deps.elevenLabs(config),
          clock: deps.clock,
          log,
        });
        log.info("reconciler_run", { ...report });
      };
      ctx.waitUntil(
        run().catch((error: unknown) => log.error("reconciler_failed", describeError(error))),
      );
    },
  } satisfies ExportedHandler<Bindings>;
}

export default createWorker();
