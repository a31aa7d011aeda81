-- Rollback of 0016, in db:rollback's transaction. What the purge and erasures removed stays
-- removed (there is nothing to restore); only the markers and indexes go.
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
SET LOCAL statement_timeout = '60s';
--> statement-breakpoint
-- The code before 0016 needs a name and a number on every target: erased targets get
-- placeholders (never dialed: an erased target is never QUEUED).
UPDATE "campaign_targets" SET "driver_name" = coalesce("driver_name", '(erased)'), "phone_number" = coalesce("phone_number", '')
WHERE "driver_name" IS NULL OR "phone_number" IS NULL;
--> statement-breakpoint
-- squawk-ignore adding-not-nullable-field -- a rollback: the check scans campaign_targets under ACCESS EXCLUSIVE, about a second a million rows, bounded by statement_timeout
ALTER TABLE "campaign_targets" ALTER COLUMN "driver_name" SET NOT NULL, ALTER COLUMN "phone_number" SET NOT NULL;
--> statement-breakpoint
-- squawk-ignore ban-drop-column -- a rollback: the column is 0016's own, and no code before 0016 reads it
ALTER TABLE "campaign_targets" DROP COLUMN "erased_at";
--> statement-breakpoint
-- squawk-ignore require-concurrent-index-deletion -- a rollback runs in one transaction; the lock is short and bounded by lock_timeout
DROP INDEX IF EXISTS "idx_campaign_targets_driver_id";
--> statement-breakpoint
-- squawk-ignore require-concurrent-index-deletion -- a rollback runs in one transaction; the lock is short and bounded by lock_timeout
DROP INDEX IF EXISTS "idx_calls_to_purge";
--> statement-breakpoint
-- squawk-ignore ban-drop-column -- a rollback: the columns are 0016's own, and no code before 0016 reads them
ALTER TABLE "calls" DROP COLUMN "erased_at", DROP COLUMN "data_purged_at";
