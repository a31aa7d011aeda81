// The cron schedules of wrangler.toml, as the scheduled handler tells them apart. (Not in
// src/index.ts: workerd takes every named export of the entry module for an entrypoint.)
/** The dispatcher's safety net and idempotency-key cleanup: every minute. */
export const DISPATCH_CRON = "* * * * *";
/** The reconciler: every 5 minutes. */
export const RECONCILER_CRON = "*/5 * * * *";
