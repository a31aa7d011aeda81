-- 0009: what ElevenLabs' post-call analysis found out, kept on the call. One ALTER TABLE
-- of nullable columns: catalog only (no rewrite, no scan), so the ACCESS EXCLUSIVE lock
-- lasts milliseconds; lock_timeout keeps it from queueing behind a long transaction while
-- webhooks queue behind it.
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
-- Catalog-only changes take milliseconds; anything slower is a surprise to stop.
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
ALTER TABLE "calls"
	-- analysis.call_successful: success, failure or unknown.
	ADD COLUMN "call_successful" text,
	-- analysis.transcript_summary, cut to a bounded length.
	ADD COLUMN "transcript_summary" text,
	-- analysis.data_collection_results as {id: value} (any JSON value, or null).
	ADD COLUMN "data_collection" jsonb,
	-- analysis.evaluation_criteria_results as {id: result}.
	ADD COLUMN "evaluation" jsonb,
	-- metadata.termination_reason, ElevenLabs' free text.
	ADD COLUMN "termination_reason" text;
