-- Rollback of 0013. db:rollback runs in one transaction, so the index is dropped with a
-- plain DROP INDEX: a short ACCESS EXCLUSIVE lock on calls, bounded by lock_timeout.
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
-- squawk-ignore require-concurrent-index-deletion -- a rollback runs in one transaction; the lock is short and bounded by lock_timeout
DROP INDEX IF EXISTS "idx_calls_driver_id_created_at_id";
