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
