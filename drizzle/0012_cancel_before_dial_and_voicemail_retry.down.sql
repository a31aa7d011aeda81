-- Rollback of 0012: the function and trigger as 0008 made them. Calls FAILED
-- `campaign_cancelled` stay as they are (their targets are already CANCELLED).
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "call_status_follow_ups"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	campaign "campaigns"%ROWTYPE;
	target "campaign_targets"%ROWTYPE;
	ending text := split_part(coalesce(NEW."failure_reason", ''), ':', 1);
BEGIN
	IF OLD."status" = 'IN_PROGRESS' THEN
		DELETE FROM "live_call_slots" WHERE "call_id" = NEW."id";
	END IF;
	IF NEW."campaign_target_id" IS NULL THEN
		RETURN NULL;
	END IF;

	SELECT c.* INTO campaign FROM "campaigns" c
	WHERE c."id" = (SELECT t."campaign_id" FROM "campaign_targets" t WHERE t."id" = NEW."campaign_target_id")
	FOR UPDATE;
	SELECT t.* INTO target FROM "campaign_targets" t WHERE t."id" = NEW."campaign_target_id" FOR UPDATE;
	IF NOT FOUND OR target."call_ids"[cardinality(target."call_ids")] IS DISTINCT FROM NEW."id" THEN
		RETURN NULL;
	END IF;

	IF NEW."status" = 'COMPLETED' THEN
		UPDATE "campaign_targets" SET "status" = 'COMPLETED', "wait_reason" = NULL,
			"next_attempt_at" = NULL, "window_ends_at" = NULL, "last_failure_reason" = NULL, "updated_at" = now()
		WHERE "id" = target."id";
	ELSIF NEW."status" = 'FAILED' AND ending = 'elevenlabs_at_capacity' THEN
		-- ElevenLabs refused for concurrency: nothing rang, so not an attempt. Wait a little
		-- for a slot; window_ends_at stays, and the claim checks it.
		UPDATE "campaign_targets" SET
			"status" = CASE WHEN campaign."status" = 'RUNNING' THEN 'QUEUED' ELSE 'CANCELLED' END,
			"wait_reason" = CASE WHEN campaign."status" = 'RUNNING' THEN 'slot' END,
			"next_attempt_at" = CASE WHEN campaign."status" = 'RUNNING' THEN coalesce(NEW."call_end_time", now()) + interval '30 seconds' END,
			"call_ids" = array_remove(target."call_ids", NEW."id"),
			"updated_at" = now()
		WHERE "id" = target."id";
	ELSIF NEW."status" = 'FAILED' AND campaign."status" = 'RUNNING' AND ending = ANY (campaign."retry_on")
			AND cardinality(target."call_ids") < campaign."retry_max_attempts" THEN
		UPDATE "campaign_targets" SET "status" = 'QUEUED', "wait_reason" = 'retry',
			"next_attempt_at" = coalesce(NEW."call_end_time", now()) + make_interval(mins => campaign."retry_backoff_minutes"),
			"window_ends_at" = NULL, "last_failure_reason" = ending, "updated_at" = now()
		WHERE "id" = target."id";
	ELSIF NEW."status" = 'FAILED' THEN
		UPDATE "campaign_targets" SET "status" = 'FAILED', "wait_reason" = NULL,
			"next_attempt_at" = NULL, "window_ends_at" = NULL, "last_failure_reason" = ending, "updated_at" = now()
		WHERE "id" = target."id";
	END IF;

	IF campaign."status" = 'RUNNING' AND NOT EXISTS (
		SELECT 1 FROM "campaign_targets" t
		WHERE t."campaign_id" = campaign."id" AND t."status" IN ('QUEUED', 'CALLING')
	) THEN
		UPDATE "campaigns" SET "status" = 'COMPLETED', "finished_at" = now(), "updated_at" = now()
		WHERE "id" = campaign."id";
	END IF;
	RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE TRIGGER "calls_status_changed" AFTER UPDATE OF "status" ON "calls"
FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status")
EXECUTE FUNCTION "call_status_follow_ups"();
