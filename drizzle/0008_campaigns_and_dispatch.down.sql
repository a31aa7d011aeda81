-- squawk-ignore-file ban-drop-column
-- squawk-ignore-file ban-drop-table
-- (A rollback exists to drop what 0008 added; the guard below keeps it from deleting data.)
-- Rollback of 0008. It would delete campaigns (who was called, and what happened) and,
-- worse, the do-not-call list, whose loss means calling people who asked not to be
-- called. So it refuses while either holds a row, like the rollbacks of 0000 and 0004.
DO $$
DECLARE
	campaign_count bigint;
	blocked_count bigint;
BEGIN
	SELECT count(*) INTO campaign_count FROM "campaigns";
	SELECT count(*) INTO blocked_count FROM "do_not_call";
	IF campaign_count > 0 OR blocked_count > 0 THEN
		RAISE EXCEPTION 'cannot roll back 0008: it would delete % campaigns and % do-not-call entries. Export them first (COPY do_not_call TO ..., and the campaigns with their targets), delete them (TRUNCATE do_not_call; UPDATE calls SET campaign_target_id = NULL; TRUNCATE campaigns CASCADE), then run the rollback again.', campaign_count, blocked_count;
	END IF;
END $$;
--> statement-breakpoint
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
DROP TRIGGER "calls_status_changed" ON "calls";
--> statement-breakpoint
DROP FUNCTION "call_status_follow_ups"();
--> statement-breakpoint
ALTER TABLE "calls" DROP CONSTRAINT "calls_campaign_target_id_fkey";
--> statement-breakpoint
ALTER TABLE "calls" DROP COLUMN "campaign_target_id", DROP COLUMN "phone_number";
--> statement-breakpoint
DROP TABLE "idempotency_keys";
--> statement-breakpoint
DROP TABLE "do_not_call";
--> statement-breakpoint
DROP TABLE "live_call_slots";
--> statement-breakpoint
DROP TABLE "campaign_targets";
--> statement-breakpoint
DROP TABLE "campaigns";
