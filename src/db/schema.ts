// The tables in their final state (after the last migration in drizzle/). The SQL in
// drizzle/ is what production runs; this file must describe the same schema.
import { sql } from "drizzle-orm";
import {
  check,
  foreignKey,
  index,
  integer,
  pgTable,
  serial,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";

export const CALL_STATUSES = ["IN_PROGRESS", "COMPLETED", "FAILED"] as const;
export type CallStatus = (typeof CALL_STATUSES)[number];

export const SPEAKERS = ["agent", "user"] as const;
export type Speaker = (typeof SPEAKERS)[number];

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const calls = pgTable(
  "calls",
  {
    id: serial("id").primaryKey(),
    /** Our own id, `EL_{driver_id}_{unix_seconds}[_{n}]`, known before ElevenLabs is called. */
    callSid: varchar("call_sid", { length: 255 }).notNull(),
    driverId: integer("driver_id"),
    /** ElevenLabs' id; NULL until the outbound call is accepted (or forever, if it failed). */
    conversationId: varchar("conversation_id", { length: 255 }).unique("calls_conversation_id_key"),
    status: varchar("status", { length: 20 }).$type<CallStatus>().notNull().default("IN_PROGRESS"),
    callStartTime: timestamptz("call_start_time"),
    callEndTime: timestamptz("call_end_time"),
    failureReason: text("failure_reason"),
    /**
     * The highest sequence number handed out for this call's transcript. Bumped with
     * `UPDATE ... RETURNING` under the row lock, see src/transcriptions/save-transcription.ts.
     */
    lastSequenceNumber: integer("last_sequence_number").notNull().default(0),
    /**
     * The POST /calls/batch request that wrote the row: makes a retried batch INSERT after a
     * lost answer return the rows it already wrote instead of writing them twice.
     */
    batchId: uuid("batch_id"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    index("idx_calls_batch_id").on(table.batchId).where(sql`batch_id IS NOT NULL`),
    unique("uq_calls_call_sid").on(table.callSid),
    index("idx_calls_call_sid").on(table.callSid),
    index("idx_calls_call_sid_status").on(table.callSid, table.status),
    // Newest-first listing with keyset pagination (GET /calls) and the reconciler's scan.
    // Plain DESC (NULLS FIRST) as 0005 creates it: the planner uses it for ORDER BY ... DESC.
    index("idx_calls_created_at_id").on(
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index("idx_calls_status_created_at").on(table.status, table.createdAt),
    check("ck_calls_status", sql`${table.status} IN ('IN_PROGRESS', 'COMPLETED', 'FAILED')`),
  ],
);

export const callTranscriptions = pgTable(
  "call_transcriptions",
  {
    id: serial("id").primaryKey(),
    conversationId: varchar("conversation_id", { length: 255 }).notNull(),
    speaker: varchar("speaker", { length: 20 }).$type<Speaker>().notNull(),
    message: text("message").notNull(),
    timestamp: timestamptz("timestamp").notNull(),
    sequenceNumber: integer("sequence_number").notNull(),
    /**
     * md5 of (speaker, timestamp, message): makes a redelivered utterance a unique
     * violation instead of a second row. NULL for legacy rows written before 0005, which
     * may hold duplicates that must not make the migration fail.
     */
    utteranceKey: varchar("utterance_key", { length: 32 }),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [
    unique("call_transcriptions_conversation_id_sequence_number_key").on(
      table.conversationId,
      table.sequenceNumber,
    ),
    uniqueIndex("uq_call_transcriptions_utterance").on(table.conversationId, table.utteranceKey),
    // Postgres's default name, as the legacy schema (0000) created it.
    foreignKey({
      name: "call_transcriptions_conversation_id_fkey",
      columns: [table.conversationId],
      foreignColumns: [calls.conversationId],
    }),
  ],
);

export type Call = typeof calls.$inferSelect;
export type CallTranscription = typeof callTranscriptions.$inferSelect;
