-- 0015: events to the fleet's own systems (signed webhooks), written as an outbox.
--
-- - event_endpoints: where a fleet wants events (https URL, the types it wants, its
--   signing secret; after a rotation the previous secret keeps signing for 24 hours).
-- - events: one row per event, its body as it is sent ({"type","timestamp","data"}); its
--   id is the `webhook-id` every delivery and resend of it carries.
-- - event_deliveries: one per event and subscribed endpoint: pending until a 2xx, retried
--   on a schedule, then failed. event_delivery_attempts: the log of each attempt.
--
-- Events are written by triggers in the same transaction as the change they report (a
-- call leaving IN_PROGRESS or inserted FAILED, a campaign becoming COMPLETED, an opt-out
-- on the do-not-call list): an event exists if and only if its change committed, whatever
-- code path made the change. With no endpoint subscribed to a type, the trigger writes
-- nothing (one lookup in a table of a few rows).
--
-- New tables, and three triggers: CREATE TRIGGER takes a SHARE ROW EXCLUSIVE lock on calls,
-- campaigns and do_not_call for an instant (no rewrite, no scan); lock_timeout bounds the
-- wait behind a long transaction, and the migration can simply be run again.
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
CREATE TABLE "event_endpoints" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"url" text NOT NULL,
	"event_types" text[] NOT NULL,
	"secret" text NOT NULL,
	"previous_secret" text,
	"previous_secret_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	-- Since when every delivery attempt to it has failed (NULL after any success): five days
	-- of that disables it.
	"failing_since" timestamp with time zone,
	"disabled_at" timestamp with time zone,
	"deleted_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	-- Whose event it is, so that erasing a driver's data reaches these copies too.
	-- squawk-ignore prefer-bigint-over-int -- the same type as calls.driver_id
	"driver_id" integer,
	"created_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "idx_events_driver_id" ON "events" USING btree ("driver_id") WHERE "driver_id" IS NOT NULL;
--> statement-breakpoint
CREATE INDEX "idx_events_created_at" ON "events" USING btree ("created_at");
--> statement-breakpoint
CREATE TABLE "event_deliveries" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY NOT NULL,
	"event_id" text NOT NULL,
	"endpoint_id" uuid NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	-- squawk-ignore prefer-bigint-over-int -- at most 8 (the first and 7 retries) plus resends
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone,
	-- A sender holds a delivery while it sends (so two senders never send it at once); a
	-- sender that dies lets go when this passes.
	"leased_until" timestamp with time zone,
	"last_attempt_at" timestamp with time zone,
	-- squawk-ignore prefer-bigint-over-int -- an HTTP status code
	"last_status_code" integer,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	"delivered_at" timestamp with time zone,
	CONSTRAINT "event_deliveries_event_id_fkey" FOREIGN KEY ("event_id") REFERENCES "events"("id") ON DELETE CASCADE,
	CONSTRAINT "event_deliveries_endpoint_id_fkey" FOREIGN KEY ("endpoint_id") REFERENCES "event_endpoints"("id"),
	CONSTRAINT "event_deliveries_event_endpoint_key" UNIQUE ("event_id", "endpoint_id"),
	CONSTRAINT "event_deliveries_status_check" CHECK ("status" IN ('pending', 'delivered', 'failed'))
);
--> statement-breakpoint
-- The senders' work: pending deliveries by when they are due.
CREATE INDEX "idx_event_deliveries_due" ON "event_deliveries" USING btree ("next_attempt_at") WHERE "status" = 'pending';
--> statement-breakpoint
-- An endpoint's delivery log, newest first.
CREATE INDEX "idx_event_deliveries_endpoint" ON "event_deliveries" USING btree ("endpoint_id", "id" DESC);
--> statement-breakpoint
CREATE TABLE "event_delivery_attempts" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY NOT NULL,
	"delivery_id" bigint NOT NULL,
	"attempted_at" timestamp with time zone NOT NULL,
	-- squawk-ignore prefer-bigint-over-int -- an HTTP status code
	"status_code" integer,
	-- squawk-ignore prefer-bigint-over-int -- milliseconds of one attempt, at most the 10 s timeout
	"duration_ms" integer NOT NULL,
	"error" text,
	"next_attempt_at" timestamp with time zone,
	CONSTRAINT "event_delivery_attempts_delivery_id_fkey" FOREIGN KEY ("delivery_id") REFERENCES "event_deliveries"("id") ON DELETE CASCADE
);
--> statement-breakpoint
CREATE INDEX "idx_event_delivery_attempts_delivery_id" ON "event_delivery_attempts" USING btree ("delivery_id", "id");
--> statement-breakpoint
-- Writes an event and its deliveries for the endpoints that want its type; nothing when none does.
CREATE FUNCTION "enqueue_event"("event_type" text, "data" jsonb, "event_driver_id" integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	new_id text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM "event_endpoints" e WHERE e."deleted_at" IS NULL
	               AND e."disabled_at" IS NULL AND "event_type" = ANY (e."event_types")) THEN
		RETURN;
	END IF;
	new_id := 'msg_' || replace(gen_random_uuid()::text, '-', '');
	INSERT INTO "events" ("id", "type", "payload", "driver_id")
	VALUES (new_id, "event_type",
	        jsonb_build_object('type', "event_type",
	                           'timestamp', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
	                           'data', "data"),
	        "event_driver_id");
	INSERT INTO "event_deliveries" ("event_id", "endpoint_id", "next_attempt_at")
	SELECT new_id, e."id", clock_timestamp() FROM "event_endpoints" e
	WHERE e."deleted_at" IS NULL AND e."disabled_at" IS NULL AND "event_type" = ANY (e."event_types");
END
$$;
--> statement-breakpoint
CREATE FUNCTION "call_events"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	campaign_id uuid;
	times jsonb;
BEGIN
	IF NEW."campaign_target_id" IS NOT NULL THEN
		SELECT t."campaign_id" INTO campaign_id FROM "campaign_targets" t WHERE t."id" = NEW."campaign_target_id";
	END IF;
	times := jsonb_build_object(
		'call_sid', NEW."call_sid", 'driver_id', NEW."driver_id", 'campaign_id', campaign_id,
		'conversation_id', NEW."conversation_id", 'status', NEW."status",
		'started_at', to_char(NEW."call_start_time" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
		'ended_at', to_char(NEW."call_end_time" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
	IF NEW."status" = 'COMPLETED' THEN
		PERFORM "enqueue_event"('call.completed', times || jsonb_build_object(
			'analysis', jsonb_build_object(
				'call_successful', NEW."call_successful", 'summary', NEW."transcript_summary",
				'data_collection', NEW."data_collection", 'evaluation', NEW."evaluation",
				'termination_reason', NEW."termination_reason")), NEW."driver_id");
	ELSE
		PERFORM "enqueue_event"('call.failed', times || jsonb_build_object(
			'failure_reason', NEW."failure_reason", 'failure_detail', NEW."failure_detail"), NEW."driver_id");
	END IF;
	RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "calls_events_on_update" AFTER UPDATE OF "status" ON "calls"
	FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status" AND NEW."status" IN ('COMPLETED', 'FAILED'))
	EXECUTE FUNCTION "call_events"();
--> statement-breakpoint
-- A batch driver who is never dialed (on the do-not-call list, number in a call) is a Call
-- inserted FAILED.
CREATE TRIGGER "calls_events_on_insert" AFTER INSERT ON "calls"
	FOR EACH ROW WHEN (NEW."status" = 'FAILED')
	EXECUTE FUNCTION "call_events"();
--> statement-breakpoint
CREATE FUNCTION "campaign_events"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM "enqueue_event"('campaign.completed', jsonb_build_object(
		'campaign_id', NEW."id", 'name', NEW."name",
		'finished_at', to_char(coalesce(NEW."finished_at", now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
		'counts', (SELECT jsonb_build_object(
			'total', count(*),
			'completed', count(*) FILTER (WHERE t."status" = 'COMPLETED'),
			'failed', count(*) FILTER (WHERE t."status" = 'FAILED'),
			'skipped', count(*) FILTER (WHERE t."status" = 'SKIPPED'),
			'cancelled', count(*) FILTER (WHERE t."status" = 'CANCELLED'))
			FROM "campaign_targets" t WHERE t."campaign_id" = NEW."id")), NULL);
	RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "campaigns_events" AFTER INSERT OR UPDATE OF "status" ON "campaigns"
	FOR EACH ROW WHEN (NEW."status" = 'COMPLETED')
	EXECUTE FUNCTION "campaign_events"();
--> statement-breakpoint
CREATE FUNCTION "opt_out_events"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	caller integer;
BEGIN
	SELECT c."driver_id" INTO caller FROM "calls" c WHERE c."call_sid" = NEW."call_sid" LIMIT 1;
	PERFORM "enqueue_event"('driver.opted_out', jsonb_build_object(
		'driver_id', caller, 'phone_number', NEW."phone_number", 'call_sid', NEW."call_sid"), caller);
	RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "do_not_call_events" AFTER INSERT ON "do_not_call"
	FOR EACH ROW WHEN (NEW."reason" = 'opt_out')
	EXECUTE FUNCTION "opt_out_events"();
