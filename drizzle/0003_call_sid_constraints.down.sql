DROP INDEX "idx_calls_call_sid_status";
--> statement-breakpoint
DROP INDEX "idx_calls_call_sid";
--> statement-breakpoint
ALTER TABLE "calls" DROP CONSTRAINT "uq_calls_call_sid";
--> statement-breakpoint
ALTER TABLE "calls" ALTER COLUMN "call_sid" DROP NOT NULL;
