-- squawk-ignore-file ban-drop-column
-- squawk-ignore-file ban-drop-table
-- (A rollback exists to drop what 0007 added; the guard below keeps it from deleting data.)
-- Rollback of 0007. Dropping these columns loses the final transcripts ElevenLabs sent
-- (the live rows stay) and the failure details, so it refuses while any call holds one,
-- like the rollbacks of 0000 and 0004. Reconciler bookkeeping is disposable.
DO $$
DECLARE
	transcripts bigint;
	details bigint;
BEGIN
	SELECT count(*) FILTER (WHERE "final_transcript" IS NOT NULL),
	       count(*) FILTER (WHERE "failure_detail" IS NOT NULL)
	INTO transcripts, details FROM "calls";
	IF transcripts > 0 OR details > 0 THEN
		RAISE EXCEPTION 'cannot roll back 0007: % calls hold a final transcript and % a failure detail, which the rollback would delete. Export them first (COPY (SELECT id, call_sid, final_transcript, failure_detail FROM calls WHERE final_transcript IS NOT NULL OR failure_detail IS NOT NULL) TO ...), then clear them (UPDATE calls SET final_transcript = NULL, failure_detail = NULL) and run the rollback again.', transcripts, details;
	END IF;
END $$;
--> statement-breakpoint
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
ALTER TABLE "calls"
	DROP COLUMN "failure_detail",
	DROP COLUMN "final_transcript",
	DROP COLUMN "reconcile_checks",
	DROP COLUMN "last_reconciled_at",
	DROP COLUMN "reconcile_failing_since";
