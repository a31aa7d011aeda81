-- Dropping failure_reason deletes why calls failed, which nothing can recompute, so this
-- refuses while any call holds one, like the rollbacks of 0000 and 0004 (the rollback runs
-- in one transaction: a refusal changes nothing). The sequence counter and the utterance
-- keys can be recomputed from the rows and are dropped without a guard.
DO $$
DECLARE
	reasons bigint;
BEGIN
	SELECT count(*) INTO reasons FROM "calls" WHERE "failure_reason" IS NOT NULL;
	IF reasons > 0 THEN
		RAISE EXCEPTION 'cannot roll back 0005: % calls hold a failure_reason, which the rollback would delete. Export them first (COPY (SELECT id, call_sid, failure_reason FROM calls WHERE failure_reason IS NOT NULL) TO ...), then clear them (UPDATE calls SET failure_reason = NULL) and run the rollback again.', reasons;
	END IF;
END $$;
--> statement-breakpoint
DROP INDEX "uq_call_transcriptions_utterance";
--> statement-breakpoint
ALTER TABLE "call_transcriptions" DROP COLUMN "utterance_key";
--> statement-breakpoint
DROP INDEX "idx_calls_status_created_at";
--> statement-breakpoint
DROP INDEX "idx_calls_created_at_id";
--> statement-breakpoint
ALTER TABLE "calls" DROP CONSTRAINT "ck_calls_status";
--> statement-breakpoint
ALTER TABLE "calls" DROP COLUMN "last_sequence_number";
--> statement-breakpoint
ALTER TABLE "calls" DROP COLUMN "failure_reason";
