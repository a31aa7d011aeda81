-- Rollback of 0006: the batch id is bookkeeping only; dropping it loses no call data.
DROP INDEX IF EXISTS "idx_calls_batch_id";--> statement-breakpoint
ALTER TABLE "calls" DROP COLUMN IF EXISTS "batch_id";
