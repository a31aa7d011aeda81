-- The legacy schema as it was before call_sid: calls are keyed by ElevenLabs'
-- conversation_id, which only exists once ElevenLabs accepted the call.
-- IF NOT EXISTS lets this migration adopt a legacy database that already has these
-- tables (it then only records 0000 as applied); on a fresh database it creates them.
CREATE TABLE IF NOT EXISTS "calls" (
	"id" serial PRIMARY KEY NOT NULL,
	"conversation_id" varchar(255) NOT NULL,
	"driver_id" integer,
	"status" varchar(20) DEFAULT 'IN_PROGRESS' NOT NULL,
	"call_start_time" timestamp with time zone,
	"call_end_time" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "calls_conversation_id_key" UNIQUE ("conversation_id")
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "call_transcriptions" (
	"id" serial PRIMARY KEY NOT NULL,
	"conversation_id" varchar(255) NOT NULL REFERENCES "calls" ("conversation_id"),
	"speaker" varchar(20) NOT NULL,
	"message" text NOT NULL,
	"timestamp" timestamp with time zone NOT NULL,
	"sequence_number" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "call_transcriptions_conversation_id_sequence_number_key" UNIQUE ("conversation_id", "sequence_number")
);
