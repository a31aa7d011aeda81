// The cron schedules of wrangler.toml, as the scheduled handler tells them apart. (Not in
// src/index.ts: workerd takes every named export of the entry module for an entrypoint.)
/** The dispatcher's safety net and idempotency-key cleanup: every minute. */
export const DISPATCH_CRON = "* * * * *";
/** The reconciler: every 5 minutes. */
export const RECONCILER_CRON = "*/5 * * * *";
/** The retention purge (src/retention/purge.ts): daily at 03:17 UTC (off the hour, when many crons start). */
export const RETENTION_CRON = "17 3 * * *";
