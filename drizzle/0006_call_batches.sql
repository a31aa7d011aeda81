-- 0006: which POST /calls/batch request wrote a Call. A batch INSERT retried after its
-- answer was lost finds the rows it already wrote by this id instead of writing them twice.
ALTER TABLE "calls" ADD COLUMN "batch_id" uuid;--> statement-breakpoint
CREATE INDEX "idx_calls_batch_id" ON "calls" USING btree ("batch_id") WHERE batch_id IS NOT NULL;
