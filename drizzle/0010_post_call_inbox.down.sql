-- squawk-ignore-file ban-drop-table
-- (A rollback exists to drop what 0010 added; the guard below keeps it from deleting data.)
-- Rollback of 0010. An event in the inbox is one ElevenLabs will not send again, so this
-- refuses while the inbox holds any.
DO $$
DECLARE
	waiting bigint;
BEGIN
	SELECT count(*) INTO waiting FROM "post_call_inbox";
	IF waiting > 0 THEN
		RAISE EXCEPTION 'cannot roll back 0010: % post-call events wait in post_call_inbox for their call, and the rollback would delete them. Wait for the minute cron to apply them (or to drop them after 24 hours), then run the rollback again.', waiting;
	END IF;
END $$;
--> statement-breakpoint
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
DROP TABLE "post_call_inbox";
