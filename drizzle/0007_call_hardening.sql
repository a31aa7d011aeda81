-- 0007: what the hardening of the call lifecycle needs on `calls`. Written for a live
-- table that ElevenLabs' webhooks write to all the time:
-- - One ALTER TABLE, so the ACCESS EXCLUSIVE lock is taken once. Every column is nullable
--   or has a constant default, so Postgres (11+) changes only the catalog: no table
--   rewrite, no scan; the lock is held for milliseconds.
-- - lock_timeout: if a long transaction holds a lock on calls, give up after 3 s instead of
--   queueing, because every webhook would queue behind us. The deploy is retried then.
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
-- Catalog-only changes take milliseconds; anything slower is a surprise to stop.
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
ALTER TABLE "calls"
	-- failure_reason becomes a short code (`elevenlabs_timeout`, `busy`, ...); the sentence
	-- an operator reads goes here.
	ADD COLUMN "failure_detail" text,
	-- ElevenLabs' final transcript from post_call_transcription, in its own order: what a
	-- reader gets once the call is over. The live rows in call_transcriptions stay as they
	-- arrived.
	ADD COLUMN "final_transcript" jsonb,
	-- Reconciler bookkeeping: least recently checked first, and give up after 24 hours of
	-- failed lookups.
	-- squawk-ignore prefer-bigint-over-int
	ADD COLUMN "reconcile_checks" integer DEFAULT 0 NOT NULL, -- one check every 5 minutes for at most a day
	ADD COLUMN "last_reconciled_at" timestamp with time zone,
	ADD COLUMN "reconcile_failing_since" timestamp with time zone;
