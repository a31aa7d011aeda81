-- squawk-ignore-file ban-drop-column
-- squawk-ignore-file ban-drop-table
-- (A rollback exists to drop what 0009 added; the guard below keeps it from deleting data.)
-- Rollback of 0009. The analysis cannot be asked of ElevenLabs again for every call (it
-- keeps conversations for a limited time), so this refuses while any call holds one.
DO $$
DECLARE
	analysed bigint;
BEGIN
	SELECT count(*) INTO analysed FROM "calls"
	WHERE "call_successful" IS NOT NULL OR "transcript_summary" IS NOT NULL
	   OR "data_collection" IS NOT NULL OR "evaluation" IS NOT NULL OR "termination_reason" IS NOT NULL;
	IF analysed > 0 THEN
		RAISE EXCEPTION 'cannot roll back 0009: % calls hold a post-call analysis, which the rollback would delete. Export it first (COPY (SELECT id, call_sid, call_successful, transcript_summary, data_collection, evaluation, termination_reason FROM calls WHERE call_successful IS NOT NULL OR termination_reason IS NOT NULL) TO ...), clear it (UPDATE calls SET call_successful = NULL, transcript_summary = NULL, data_collection = NULL, evaluation = NULL, termination_reason = NULL), then run the rollback again.', analysed;
	END IF;
END $$;
--> statement-breakpoint
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
ALTER TABLE "calls"
	DROP COLUMN "call_successful",
	DROP COLUMN "transcript_summary",
	DROP COLUMN "data_collection",
	DROP COLUMN "evaluation",
	DROP COLUMN "termination_reason";
