-- squawk-ignore-file ban-drop-table
-- Rollback of 0015. A pending delivery is an event a fleet has not received yet, so this
-- refuses while any is pending.
DO $$
DECLARE
	pending bigint;
BEGIN
	SELECT count(*) INTO pending FROM "event_deliveries" WHERE "status" = 'pending';
	IF pending > 0 THEN
		RAISE EXCEPTION 'cannot roll back 0015: % event deliveries are still pending, and the rollback would drop them. Let them be delivered (or delete their endpoints), then run the rollback again.', pending;
	END IF;
END $$;
--> statement-breakpoint
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
DROP TRIGGER "do_not_call_events" ON "do_not_call";
--> statement-breakpoint
DROP TRIGGER "campaigns_events" ON "campaigns";
--> statement-breakpoint
DROP TRIGGER "calls_events_on_insert" ON "calls";
--> statement-breakpoint
DROP TRIGGER "calls_events_on_update" ON "calls";
--> statement-breakpoint
DROP FUNCTION "opt_out_events"();
--> statement-breakpoint
DROP FUNCTION "campaign_events"();
--> statement-breakpoint
DROP FUNCTION "call_events"();
--> statement-breakpoint
DROP FUNCTION "enqueue_event"(text, jsonb, integer);
--> statement-breakpoint
DROP TABLE "event_delivery_attempts";
--> statement-breakpoint
DROP TABLE "event_deliveries";
--> statement-breakpoint
DROP TABLE "events";
--> statement-breakpoint
DROP TABLE "event_endpoints";
