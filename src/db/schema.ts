// The tables in their final state (after the last migration in drizzle/). The SQL in
// drizzle/ is what production runs; this file must describe the same schema.
import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  serial,
  smallint,
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
    /** A short code (`elevenlabs_timeout`, `busy`, `voicemail`, ...): see src/calls/status-rules.ts. */
    failureReason: text("failure_reason"),
    /** The sentence an operator reads about the failure. */
    failureDetail: text("failure_detail"),
    /** ElevenLabs' final transcript (post_call_transcription), in its own order. */
    finalTranscript: jsonb("final_transcript").$type<FinalTranscriptTurn[]>(),
    reconcileChecks: integer("reconcile_checks").notNull().default(0),
    lastReconciledAt: timestamptz("last_reconciled_at"),
    reconcileFailingSince: timestamptz("reconcile_failing_since"),
    /** The campaign target this call is an attempt for; NULL for /calls/batch calls. */
    campaignTargetId: bigint("campaign_target_id", { mode: "number" }),
    /** The number dialed (E.164): the do-not-call list and opt-outs need it. */
    phoneNumber: text("phone_number"),
    callSuccessful: text("call_successful"),
    transcriptSummary: text("transcript_summary"),
    dataCollection: jsonb("data_collection").$type<Record<string, unknown>>(),
    evaluation: jsonb("evaluation").$type<Record<string, string>>(),
    terminationReason: text("termination_reason"),
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
    /**
     * When the transcript, analysis and failure detail were removed: by the retention purge
     * (RETENTION_DAYS after the call ended) or by an erasure (src/retention/). A report that
     * comes later never writes them back.
     */
    dataPurgedAt: timestamptz("data_purged_at"),
    /** When the driver's data was erased from this call (its number too): src/retention/erase.ts. */
    erasedAt: timestamptz("erased_at"),
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
    // GET /calls?driver_id= (0013, built CONCURRENTLY): a driver's calls, newest first.
    index("idx_calls_driver_id_created_at_id").on(
      table.driverId,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    // The retention purge's queue (0016, built CONCURRENTLY): finished calls that still hold
    // their data, by when they ended (src/retention/purge.ts, CALL_ENDED_AT).
    index("idx_calls_to_purge")
      .on(sql`(coalesce(${table.callEndTime}, ${table.updatedAt}))`)
      .where(sql`${table.dataPurgedAt} IS NULL AND ${table.status} <> 'IN_PROGRESS'`),
    // One number, one live call (0011, built CONCURRENTLY): what holds it when claims race.
    uniqueIndex("uq_calls_live_phone_number")
      .on(table.phoneNumber)
      .where(sql`status = 'IN_PROGRESS'`),
    check("ck_calls_status", sql`${table.status} IN ('IN_PROGRESS', 'COMPLETED', 'FAILED')`),
    // NOT VALID in migration 0008 (no scan of the live table); drizzle cannot say so.
    foreignKey({
      name: "calls_campaign_target_id_fkey",
      columns: [table.campaignTargetId],
      foreignColumns: [campaignTargets.id],
    }),
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

export interface FinalTranscriptTurn {
  role: Speaker;
  message: string;
  time_in_call_secs: number;
  /** start_time_unix_secs + time_in_call_secs, ISO 8601 UTC. */
  timestamp: string;
}

export const CAMPAIGN_STATUSES = ["RUNNING", "COMPLETED", "CANCELLED"] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

export const TARGET_STATUSES = [
  "QUEUED",
  "CALLING",
  "COMPLETED",
  "FAILED",
  "SKIPPED",
  "CANCELLED",
] as const;
export type TargetStatus = (typeof TARGET_STATUSES)[number];

export const WAIT_REASONS = ["start_at", "calling_window", "retry", "slot"] as const;
export type WaitReason = (typeof WAIT_REASONS)[number];
/**
 * What a QUEUED target waits for, as the API says it: the stored wait reasons, plus what a
 * due target waits for, worked out when it is read (a free slot, or the end of the live
 * call its number is in).
 */
export const WAITING_FOR = [...WAIT_REASONS, "number_in_call"] as const;
export type WaitingFor = (typeof WAITING_FOR)[number];

export const RETRYABLE_ENDINGS = ["busy", "no-answer", "voicemail"] as const;
export type RetryableEnding = (typeof RETRYABLE_ENDINGS)[number];

export interface CallingWindowJson {
  start: string;
  end: string;
  days: string[] | null;
}

// Migration 0008. The trigger `calls_status_changed` (function call_status_follow_ups) keeps
// live_call_slots and campaign_targets in step with calls.status; see the migration.
export const campaigns = pgTable(
  "campaigns",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name"),
    status: text("status").$type<CampaignStatus>().notNull().default("RUNNING"),
    timeZone: text("time_zone"),
    callingWindow: jsonb("calling_window").$type<CallingWindowJson>().notNull(),
    startAt: timestamptz("start_at").notNull(),
    retryMaxAttempts: smallint("retry_max_attempts").notNull(),
    retryBackoffMinutes: integer("retry_backoff_minutes").notNull(),
    retryOn: text("retry_on").array().$type<RetryableEnding[]>().notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
    finishedAt: timestamptz("finished_at"),
  },
  (table) => [
    index("idx_campaigns_created_at_id").on(
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    check("ck_campaigns_name", sql`char_length(${table.name}) BETWEEN 1 AND 200`),
    check("ck_campaigns_status", sql`${table.status} IN ('RUNNING', 'COMPLETED', 'CANCELLED')`),
    check(
      "ck_campaigns_retry",
      sql`${table.retryMaxAttempts} BETWEEN 1 AND 5 AND ${table.retryBackoffMinutes} BETWEEN 1 AND 1440`,
    ),
  ],
);

export const campaignTargets = pgTable(
  "campaign_targets",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    campaignId: uuid("campaign_id")
      .notNull()
      .references(() => campaigns.id, { onDelete: "cascade" }),
    position: integer("position").notNull(),
    driverId: integer("driver_id").notNull(),
    /** NULL once the driver's data is erased (erasedAt), as phoneNumber. */
    driverName: text("driver_name"),
    phoneNumber: text("phone_number"),
    timeZone: text("time_zone").notNull(),
    violations: jsonb("violations").notNull(),
    status: text("status").$type<TargetStatus>().notNull().default("QUEUED"),
    waitReason: text("wait_reason").$type<WaitReason>(),
    nextAttemptAt: timestamptz("next_attempt_at"),
    windowEndsAt: timestamptz("window_ends_at"),
    callIds: integer("call_ids").array().notNull().default(sql`'{}'`),
    lastFailureReason: text("last_failure_reason"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
    /**
     * When the driver's data was erased (src/retention/erase.ts): name and number NULL,
     * violations `[]`; a target still QUEUED then was CANCELLED `driver_erased`.
     */
    erasedAt: timestamptz("erased_at"),
  },
  (table) => [
    unique("uq_campaign_targets_position").on(table.campaignId, table.position),
    unique("uq_campaign_targets_driver").on(table.campaignId, table.driverId),
    index("idx_campaign_targets_due")
      .on(table.nextAttemptAt, table.id)
      .where(sql`${table.status} = 'QUEUED'`),
    index("idx_campaign_targets_to_place")
      .on(sql`(coalesce(${table.windowEndsAt}, '-infinity'::timestamptz))`)
      .where(sql`${table.status} = 'QUEUED'`),
    index("idx_campaign_targets_campaign_status").on(table.campaignId, table.status),
    // A driver's targets, for erasure (0016, built CONCURRENTLY).
    index("idx_campaign_targets_driver_id").on(table.driverId),
    check(
      "ck_campaign_targets_status",
      sql`${table.status} IN ('QUEUED', 'CALLING', 'COMPLETED', 'FAILED', 'SKIPPED', 'CANCELLED')`,
    ),
    check(
      "ck_campaign_targets_wait_reason",
      sql`${table.waitReason} IN ('start_at', 'calling_window', 'retry', 'slot')`,
    ),
  ],
);

export const liveCallSlots = pgTable(
  "live_call_slots",
  {
    slot: smallint("slot").primaryKey(),
    callId: integer("call_id")
      .notNull()
      .references(() => calls.id, { onDelete: "cascade" }),
    takenAt: timestamptz("taken_at").notNull().defaultNow(),
  },
  (table) => [
    unique("uq_live_call_slots_call").on(table.callId),
    check("ck_live_call_slots_slot", sql`${table.slot} >= 1`),
  ],
);

export const doNotCall = pgTable(
  "do_not_call",
  {
    phoneNumber: text("phone_number").primaryKey(),
    reason: text("reason"),
    callSid: text("call_sid"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [
    index("idx_do_not_call_created_at").on(
      table.createdAt.desc().nullsFirst(),
      table.phoneNumber.desc().nullsFirst(),
    ),
  ],
);

export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    state: text("state").$type<"in_flight" | "done">().notNull(),
    responseStatus: smallint("response_status"),
    responseBody: text("response_body"),
    responseHeaders: jsonb("response_headers").$type<Record<string, string>>(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ name: "idempotency_keys_pkey", columns: [table.scope, table.key] }),
    index("idx_idempotency_keys_created_at").on(table.createdAt),
    check("ck_idempotency_keys_state", sql`${table.state} IN ('in_flight', 'done')`),
  ],
);

/**
 * Post-call events whose Call is not known yet (migration 0010): applied as soon as a Call
 * records the conversation_id, dropped after 24 hours (src/elevenlabs/inbox.ts).
 */
export const postCallInbox = pgTable(
  "post_call_inbox",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    conversationId: text("conversation_id").notNull(),
    eventType: text("event_type").notNull(),
    /** The event's JSON text as it arrived. */
    event: text("event").notNull(),
    receivedAt: timestamptz("received_at").notNull().defaultNow(),
  },
  (table) => [
    index("idx_post_call_inbox_conversation_id").on(table.conversationId),
    index("idx_post_call_inbox_received_at").on(table.receivedAt),
  ],
);

/**
 * People who run the console and the API (migration 0014): a token of their own (only its
 * SHA-256 is kept) or an identity asserted by Cloudflare Access (email). Revoked, never
 * deleted, so the audit trail keeps naming them.
 */
export const operators = pgTable(
  "operators",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    email: text("email"),
    tokenHash: text("token_hash"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    revokedAt: timestamptz("revoked_at"),
  },
  (table) => [
    uniqueIndex("uq_operators_email").on(table.email).where(sql`"email" IS NOT NULL`),
    uniqueIndex("uq_operators_token_hash").on(table.tokenHash).where(sql`"token_hash" IS NOT NULL`),
    check("operators_name_check", sql`length(${table.name}) BETWEEN 1 AND 200`),
    check("operators_email_check", sql`${table.email} = lower(${table.email})`),
  ],
);

/** Console sign-ins (migration 0014): the cookie holds a random id, this table its SHA-256. */
export const consoleSessions = pgTable(
  "console_sessions",
  {
    idHash: text("id_hash").primaryKey(),
    operatorId: uuid("operator_id")
      .notNull()
      .references(() => operators.id),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    expiresAt: timestamptz("expires_at").notNull(),
    endedAt: timestamptz("ended_at"),
  },
  (table) => [
    index("idx_console_sessions_operator_id").on(table.operatorId).where(sql`"ended_at" IS NULL`),
    index("idx_console_sessions_expires_at").on(table.expiresAt),
  ],
);

export const ACTOR_KINDS = ["operator", "api_token", "system"] as const;
export type ActorKind = (typeof ACTOR_KINDS)[number];

/**
 * Who did what (migration 0014). Append-only: a trigger refuses UPDATE, TRUNCATE and every
 * DELETE but the retention purge's (src/audit/).
 */
export const auditEvents = pgTable(
  "audit_events",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    at: timestamptz("at").notNull().defaultNow(),
    actorKind: text("actor_kind").$type<ActorKind>().notNull(),
    actorId: text("actor_id"),
    actorName: text("actor_name").notNull(),
    action: text("action").notNull(),
    subjectType: text("subject_type"),
    subjectId: text("subject_id"),
    detail: jsonb("detail").$type<Record<string, unknown>>().notNull().default({}),
    ip: text("ip"),
    requestId: text("request_id"),
  },
  (table) => [
    index("idx_audit_events_at_id").on(table.at.desc(), table.id.desc()),
    index("idx_audit_events_action_at_id").on(table.action, table.at.desc(), table.id.desc()),
    index("idx_audit_events_actor_id_at_id")
      .on(table.actorId, table.at.desc(), table.id.desc())
      .where(sql`"actor_id" IS NOT NULL`),
    check(
      "audit_events_actor_kind_check",
      sql`${table.actorKind} IN ('operator', 'api_token', 'system')`,
    ),
  ],
);

export const EVENT_TYPES = [
  "call.completed",
  "call.failed",
  "campaign.completed",
  "driver.opted_out",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** Where a fleet wants events (migration 0015; src/events/). */
export const eventEndpoints = pgTable("event_endpoints", {
  id: uuid("id").primaryKey().defaultRandom(),
  url: text("url").notNull(),
  eventTypes: text("event_types").array().$type<EventType[]>().notNull(),
  secret: text("secret").notNull(),
  previousSecret: text("previous_secret"),
  previousSecretUntil: timestamptz("previous_secret_until"),
  createdAt: timestamptz("created_at").notNull().defaultNow(),
  failingSince: timestamptz("failing_since"),
  disabledAt: timestamptz("disabled_at"),
  deletedAt: timestamptz("deleted_at"),
});

/** The outbox: written by triggers in the transaction of the change they report. */
export const events = pgTable(
  "events",
  {
    id: text("id").primaryKey(),
    type: text("type").$type<EventType>().notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    driverId: integer("driver_id"),
    createdAt: timestamptz("created_at").notNull().default(sql`clock_timestamp()`),
  },
  (table) => [
    index("idx_events_driver_id").on(table.driverId).where(sql`"driver_id" IS NOT NULL`),
    index("idx_events_created_at").on(table.createdAt),
  ],
);

export const eventDeliveries = pgTable(
  "event_deliveries",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    endpointId: uuid("endpoint_id")
      .notNull()
      .references(() => eventEndpoints.id),
    status: text("status").$type<DeliveryStatus>().notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamptz("next_attempt_at"),
    leasedUntil: timestamptz("leased_until"),
    lastAttemptAt: timestamptz("last_attempt_at"),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    createdAt: timestamptz("created_at").notNull().default(sql`clock_timestamp()`),
    deliveredAt: timestamptz("delivered_at"),
  },
  (table) => [
    unique("event_deliveries_event_endpoint_key").on(table.eventId, table.endpointId),
    index("idx_event_deliveries_due").on(table.nextAttemptAt).where(sql`"status" = 'pending'`),
    index("idx_event_deliveries_endpoint").on(table.endpointId, table.id.desc()),
    check(
      "event_deliveries_status_check",
      sql`${table.status} IN ('pending', 'delivered', 'failed')`,
    ),
  ],
);

export const eventDeliveryAttempts = pgTable(
  "event_delivery_attempts",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    deliveryId: bigint("delivery_id", { mode: "number" })
      .notNull()
      .references(() => eventDeliveries.id, { onDelete: "cascade" }),
    attemptedAt: timestamptz("attempted_at").notNull(),
    statusCode: integer("status_code"),
    durationMs: integer("duration_ms").notNull(),
    error: text("error"),
    nextAttemptAt: timestamptz("next_attempt_at"),
  },
  (table) => [index("idx_event_delivery_attempts_delivery_id").on(table.deliveryId, table.id)],
);

export type Call = typeof calls.$inferSelect;
export type CallTranscription = typeof callTranscriptions.$inferSelect;
