-- migrate: no-transaction
-- 0016: personal data kept only as long as needed (the retention purge) and erased when a
-- driver asks (POST /drivers/{driver_id}/erase). See src/retention/.
--   calls.data_purged_at         when the call's transcript, analysis and failure detail
--                                were removed (the purge, or an erasure); NULL while kept
--   calls.erased_at              when the driver's data was erased from the call (its
--                                number too)
--   campaign_targets.erased_at   the same for a campaign target, whose driver_name and
--                                phone_number are then NULL (so NOT NULL goes)
--   idx_calls_to_purge           the purge's queue: finished calls still holding their
--                                data, by when they ended
--   idx_campaign_targets_driver_id  a driver's targets, for erasure (the unique index on
--                                (campaign_id, driver_id) cannot serve driver_id alone)
--
-- Outside a transaction (the runner runs a file marked as above on its own, statement by
-- statement) because the two indexes are built CONCURRENTLY on live tables. Each statement
-- autocommits with its own short lock, and each can run again (IF NOT EXISTS; dropping a
-- NOT NULL twice is a no-op), so a run that failed half-way is simply run again.
SET lock_timeout = '3s';
--> statement-breakpoint
SET statement_timeout = '15s';
--> statement-breakpoint
-- ACCESS EXCLUSIVE on calls for a catalog change (nullable columns, no default, no
-- rewrite): milliseconds, or a lock timeout after 3 s and nothing changed.
ALTER TABLE "calls"
	ADD COLUMN IF NOT EXISTS "data_purged_at" timestamp with time zone,
	ADD COLUMN IF NOT EXISTS "erased_at" timestamp with time zone;
--> statement-breakpoint
-- ACCESS EXCLUSIVE on campaign_targets for catalog changes: a nullable column, and NOT NULL
-- dropped (no scan, no rewrite): milliseconds, bounded by the lock timeout as above.
-- An erased target has no name or number. Every reader copes with NULL (the API says
-- `null`, the CSV an empty cell, the console "erased"), and the claim never reads an erased
-- target: erasure cancels its QUEUED targets in the same statement.
-- squawk-ignore ban-drop-not-null,prefer-robust-stmts -- erasure needs NULL here (see above); dropping a NOT NULL again is a no-op, so the file can be run again
ALTER TABLE "campaign_targets" ADD COLUMN IF NOT EXISTS "erased_at" timestamp with time zone, ALTER COLUMN "driver_name" DROP NOT NULL, ALTER COLUMN "phone_number" DROP NOT NULL;
--> statement-breakpoint
-- The builds wait for transactions that predate them; they must not wait for ever.
SET statement_timeout = '30min';
--> statement-breakpoint
-- The expression is the purge's "ended at" (src/retention/purge.ts, CALL_ENDED_AT): a call
-- that failed before it rang may have no call_end_time, and its last change is its end.
-- Purged calls leave the index, so the purge's cost follows what is left to purge, not the
-- size of the table.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_calls_to_purge" ON "calls" USING btree ((coalesce("call_end_time", "updated_at"))) WHERE "data_purged_at" IS NULL AND "status" <> 'IN_PROGRESS';
--> statement-breakpoint
CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_campaign_targets_driver_id" ON "campaign_targets" USING btree ("driver_id");
