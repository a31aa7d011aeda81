-- What the service needs beyond the contract's 0004 schema.
ALTER TABLE "calls" ADD COLUMN "failure_reason" text;
--> statement-breakpoint
-- The per-call sequence counter, bumped under the row lock when a transcription is
-- saved; it must start at the highest sequence number already stored.
ALTER TABLE "calls" ADD COLUMN "last_sequence_number" integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
UPDATE "calls" c
SET "last_sequence_number" = t.max_sequence
FROM (
	SELECT "conversation_id", max("sequence_number") AS max_sequence
	FROM "call_transcriptions"
	GROUP BY "conversation_id"
) t
WHERE c."conversation_id" = t."conversation_id";
--> statement-breakpoint
-- The legacy column accepted any text: name the offending values instead of letting the
-- CHECK fail with only the constraint name.
DO $$
DECLARE
	bad text;
BEGIN
	SELECT string_agg(DISTINCT quote_literal("status"), ', ') INTO bad
	FROM "calls"
	WHERE "status" NOT IN ('IN_PROGRESS', 'COMPLETED', 'FAILED');
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'cannot apply 0005: calls.status holds values outside IN_PROGRESS, COMPLETED, FAILED: %. Map them to one of those (UPDATE calls SET status = ... WHERE status = ...), then migrate again.', bad;
	END IF;
END $$;
--> statement-breakpoint
ALTER TABLE "calls" ADD CONSTRAINT "ck_calls_status" CHECK ("calls"."status" IN ('IN_PROGRESS', 'COMPLETED', 'FAILED'));
--> statement-breakpoint
CREATE INDEX "idx_calls_created_at_id" ON "calls" USING btree ("created_at" DESC, "id" DESC);
--> statement-breakpoint
CREATE INDEX "idx_calls_status_created_at" ON "calls" USING btree ("status", "created_at");
--> statement-breakpoint
-- md5 of (speaker, timestamp, message), written by the service. Legacy rows keep NULL on
-- purpose: they may hold duplicates, and NULLs never collide in a unique index.
ALTER TABLE "call_transcriptions" ADD COLUMN "utterance_key" varchar(32);
--> statement-breakpoint
CREATE UNIQUE INDEX "uq_call_transcriptions_utterance" ON "call_transcriptions" USING btree ("conversation_id", "utterance_key");
