-- Cannot fail after 0002: every row has a call_sid and 0002 never hands out a value twice.
ALTER TABLE "calls" ALTER COLUMN "call_sid" SET NOT NULL;
--> statement-breakpoint
ALTER TABLE "calls" ADD CONSTRAINT "uq_calls_call_sid" UNIQUE ("call_sid");
--> statement-breakpoint
CREATE INDEX "idx_calls_call_sid" ON "calls" USING btree ("call_sid");
--> statement-breakpoint
CREATE INDEX "idx_calls_call_sid_status" ON "calls" USING btree ("call_sid", "status");
