-- squawk-ignore-file ban-drop-table
-- Rollback of 0014. The audit trail is the record a fleet answers for, so this refuses
-- while it holds any event; operators and sessions go with it (nobody can sign in to the
-- console after a rollback to 0013 except with the code of 0013, which used API_TOKEN).
DO $$
DECLARE
	recorded bigint;
BEGIN
	SELECT count(*) INTO recorded FROM "audit_events";
	IF recorded > 0 THEN
		RAISE EXCEPTION 'cannot roll back 0014: audit_events holds % events, and the rollback would delete the audit trail. Export it first (GET /audit, or pg_dump --table=audit_events), then empty it with the triggers disabled, and run the rollback again.', recorded;
	END IF;
END $$;
--> statement-breakpoint
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
DROP TABLE "audit_events";
--> statement-breakpoint
DROP FUNCTION "audit_events_append_only"();
--> statement-breakpoint
DROP TABLE "console_sessions";
--> statement-breakpoint
DROP TABLE "operators";
