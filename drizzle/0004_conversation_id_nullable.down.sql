-- Refuses, with a message an operator can act on, instead of failing on SET NOT NULL
-- with a bare "column contains null values". The rollback runs in one transaction, so a
-- refusal leaves the schema exactly as it was.
DO $$
DECLARE
	missing bigint;
BEGIN
	SELECT count(*) INTO missing FROM "calls" WHERE "conversation_id" IS NULL;
	IF missing > 0 THEN
		RAISE EXCEPTION 'cannot roll back 0004: % calls have a NULL conversation_id (calls that never reached ElevenLabs). Delete or archive them first, e.g. DELETE FROM calls WHERE conversation_id IS NULL; then run the rollback again.', missing;
	END IF;
END $$;
--> statement-breakpoint
ALTER TABLE "calls" ALTER COLUMN "conversation_id" SET NOT NULL;
