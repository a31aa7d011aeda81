-- migrate: no-transaction
-- 0011: one number, one live call. A phone number that has a live call (IN_PROGRESS),
-- from any campaign or batch, is not dialed again until that call ends. The claims skip
-- such numbers (src/dispatch/claim.ts); this unique index is what holds the promise when
-- claims race: two live calls to one number cannot both be written, whatever the
-- snapshots of the statements that race. It also makes "is this number in a call?" one
-- index probe. (Legacy calls have no phone_number: NULLs never conflict.)
--
-- Built CONCURRENTLY on the live calls table, so outside a transaction (the runner runs a
-- file marked as above on its own, statement by statement): writes go on while it builds.
-- A build that fails (for example because two live calls to one number exist right now)
-- leaves an invalid index; the runner then stops and says so, and the deploy can be
-- retried once those calls have ended (IF NOT EXISTS, after dropping the invalid index).
SET lock_timeout = '3s';
--> statement-breakpoint
-- The build waits for transactions that predate it; it must not wait for ever.
SET statement_timeout = '30min';
--> statement-breakpoint
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "uq_calls_live_phone_number" ON "calls" USING btree ("phone_number") WHERE "status" = 'IN_PROGRESS';
