-- Undoes 0000 by dropping the legacy tables. Because 0000 may have adopted a legacy
-- database that already held production data, this refuses while either table has
-- rows: a rollback must never be the way call history gets deleted.
DO $$
DECLARE
	call_count bigint;
	transcription_count bigint;
BEGIN
	SELECT count(*) INTO call_count FROM "calls";
	SELECT count(*) INTO transcription_count FROM "call_transcriptions";
	IF call_count > 0 OR transcription_count > 0 THEN
		RAISE EXCEPTION 'cannot roll back 0000: dropping the tables would delete % calls and % transcriptions. Export or delete the data first (e.g. TRUNCATE call_transcriptions, calls), then run the rollback again.', call_count, transcription_count;
	END IF;
END $$;
--> statement-breakpoint
DROP TABLE "call_transcriptions";
--> statement-breakpoint
DROP TABLE "calls";
