-- 0014: operators with names, their console sessions, and the audit trail.
--
-- - operators: each person signs in with a token of their own (only its SHA-256 is kept)
--   or through Cloudflare Access (by email, no token). Revoked, never deleted: the audit
--   trail names them.
-- - console_sessions: a console sign-in. The cookie holds a random id; only its SHA-256 is
--   kept here, so a copy of this table opens no session. Sign-out and revocation end a
--   session at once (ended_at); every session ends at expires_at (12 hours) regardless.
-- - audit_events: who did what. Append-only: the trigger below refuses every UPDATE, and
--   every DELETE except the retention purge's (rows older than the cutoff the purge sets
--   for its own transaction in driver_calls.audit_purge_before), and TRUNCATE.
--
-- New, empty tables: no lock on any table in use.
SET LOCAL lock_timeout = '3s';
--> statement-breakpoint
SET LOCAL statement_timeout = '15s';
--> statement-breakpoint
CREATE TABLE "operators" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	-- Lower-cased; the identity Cloudflare Access asserts, or given with `operator add --email`.
	"email" text,
	-- Hex SHA-256 of the operator's token (`dco_` + 32 random bytes): the token itself is
	-- shown once and never stored. NULL for operators known only through Access.
	"token_hash" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "operators_name_check" CHECK (length("name") BETWEEN 1 AND 200),
	CONSTRAINT "operators_email_check" CHECK ("email" = lower("email"))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "uq_operators_email" ON "operators" USING btree ("email") WHERE "email" IS NOT NULL;
--> statement-breakpoint
CREATE UNIQUE INDEX "uq_operators_token_hash" ON "operators" USING btree ("token_hash") WHERE "token_hash" IS NOT NULL;
--> statement-breakpoint
CREATE TABLE "console_sessions" (
	-- Hex SHA-256 of the session id the cookie carries.
	"id_hash" text PRIMARY KEY NOT NULL,
	"operator_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	CONSTRAINT "console_sessions_operator_id_fkey" FOREIGN KEY ("operator_id") REFERENCES "operators"("id")
);
--> statement-breakpoint
-- Revocation ends an operator's open sessions; the cron deletes sessions long over.
CREATE INDEX "idx_console_sessions_operator_id" ON "console_sessions" USING btree ("operator_id") WHERE "ended_at" IS NULL;
--> statement-breakpoint
CREATE INDEX "idx_console_sessions_expires_at" ON "console_sessions" USING btree ("expires_at");
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor_kind" text NOT NULL,
	-- The operator's id; NULL for api_token and system.
	"actor_id" text,
	-- The name at the time (an operator renamed later keeps what they did under this name).
	"actor_name" text NOT NULL,
	"action" text NOT NULL,
	"subject_type" text,
	"subject_id" text,
	"detail" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"ip" text,
	"request_id" text,
	CONSTRAINT "audit_events_actor_kind_check" CHECK ("actor_kind" IN ('operator', 'api_token', 'system'))
);
--> statement-breakpoint
-- GET /audit: newest first, optionally by action or by actor.
CREATE INDEX "idx_audit_events_at_id" ON "audit_events" USING btree ("at" DESC, "id" DESC);
--> statement-breakpoint
CREATE INDEX "idx_audit_events_action_at_id" ON "audit_events" USING btree ("action", "at" DESC, "id" DESC);
--> statement-breakpoint
CREATE INDEX "idx_audit_events_actor_id_at_id" ON "audit_events" USING btree ("actor_id", "at" DESC, "id" DESC) WHERE "actor_id" IS NOT NULL;
--> statement-breakpoint
CREATE FUNCTION "audit_events_append_only"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	purge_before text := current_setting('driver_calls.audit_purge_before', true);
BEGIN
	IF TG_OP = 'DELETE' AND purge_before IS NOT NULL AND purge_before <> ''
	   AND OLD."at" < purge_before::timestamptz THEN
		RETURN OLD;
	END IF;
	RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
		USING ERRCODE = 'insufficient_privilege',
		      HINT = 'Only the retention purge deletes audit events older than AUDIT_RETENTION_DAYS.';
END
$$;
--> statement-breakpoint
CREATE TRIGGER "audit_events_append_only_rows" BEFORE UPDATE OR DELETE ON "audit_events"
	FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();
--> statement-breakpoint
CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "audit_events"
	FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_append_only"();
