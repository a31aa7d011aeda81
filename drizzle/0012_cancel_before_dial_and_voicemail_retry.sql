-- 0012: what follows a call's status change, amended (the function and trigger of 0008):
--   * a call FAILED `campaign_cancelled` (the campaign was cancelled between the claim and
--     the dial, so the dialer did not dial) moves its target to CANCELLED, not an attempt,
--     as a concurrency refusal does;
--   * a call that FAILED in a way that may have rung and is then reported answered by a
--     voicemail system goes FAILED -> FAILED `voicemail`: its status does not change, its
--     failure reason does, and that now moves its target too (a retry, as `retry` says,
--     reopening the campaign if that failure had completed it).
-- CREATE OR REPLACE keeps the function's identity; the trigger is replaced in place
-- (CREATE OR REPLACE TRIGGER, a brief SHARE ROW EXCLUSIVE lock on calls, bounded below).
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
	ELSIF NEW."status" = 'FAILED' AND ending IN ('elevenlabs_at_capacity', 'campaign_cancelled') THEN
		-- ElevenLabs refused for concurrency, or the campaign was cancelled between the claim
		-- and the dial (the dialer checks right before it dials): nothing rang, so not an
		-- attempt. While the campaign runs, wait a little for a slot (window_ends_at stays,
		-- and the claim checks it); once it is cancelled, the target is CANCELLED.
		UPDATE "campaign_targets" SET
			"status" = CASE WHEN campaign."status" = 'RUNNING' THEN 'QUEUED' ELSE 'CANCELLED' END,
			"wait_reason" = CASE WHEN campaign."status" = 'RUNNING' THEN 'slot' END,
			"next_attempt_at" = CASE WHEN campaign."status" = 'RUNNING' THEN coalesce(NEW."call_end_time", now()) + interval '30 seconds' END,
			"call_ids" = array_remove(target."call_ids", NEW."id"),
			"updated_at" = now()
		WHERE "id" = target."id";
	ELSIF NEW."status" = 'FAILED' AND campaign."status" IN ('RUNNING', 'COMPLETED') AND ending = ANY (campaign."retry_on")
			AND cardinality(target."call_ids") < campaign."retry_max_attempts" THEN
		UPDATE "campaign_targets" SET "status" = 'QUEUED', "wait_reason" = 'retry',
			"next_attempt_at" = coalesce(NEW."call_end_time", now()) + make_interval(mins => campaign."retry_backoff_minutes"),
			"window_ends_at" = NULL, "last_failure_reason" = ending, "updated_at" = now()
		WHERE "id" = target."id";
		-- A may-have-rung failure may have been its campaign's last active target, and
		-- completed it; the report that it reached voicemail comes later. The retry the
		-- campaign's rules promise reopens it (a cancelled campaign stays cancelled).
		IF campaign."status" = 'COMPLETED' THEN
			UPDATE "campaigns" SET "status" = 'RUNNING', "finished_at" = NULL, "updated_at" = now()
			WHERE "id" = campaign."id";
		END IF;
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
CREATE OR REPLACE TRIGGER "calls_status_changed" AFTER UPDATE OF "status", "failure_reason" ON "calls"
FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status" OR OLD."failure_reason" IS DISTINCT FROM NEW."failure_reason")
EXECUTE FUNCTION "call_status_follow_ups"();
