// Test data: each test makes its own calls with fresh ids instead of sharing seed rows.

import { TEST_SECRETS } from "../setup/test-secrets";
import { testSql } from "./sql";
import { jsonRequest } from "./worker";

let counter = 0;

export function freshDriverId(): number {
  // Random, but far from the small ids that hand-written tests use.
  return 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
}

export function freshCallSid(driverId = freshDriverId()): string {
  counter += 1;
  return `EL_${driverId}_${Math.floor(Date.now() / 1000) + counter}`;
}

export interface TestCall {
  id: number;
  callSid: string;
  driverId: number;
  conversationId: string | null;
}

/** Inserts a Call as the batch route would leave it: started (with conversation_id) or not. */
export async function insertTestCall(
  options: { started?: boolean; status?: string; createdAt?: Date } = {},
): Promise<TestCall> {
  const driverId = freshDriverId();
  const callSid = freshCallSid(driverId);
  const conversationId = options.started === false ? null : `conv_test_${crypto.randomUUID()}`;
  const rows = await testSql.query(
    `INSERT INTO calls (call_sid, driver_id, conversation_id, status, call_start_time, created_at, updated_at)
     VALUES ($1, $2, $3, $4, now(), $5, $5) RETURNING id`,
    [
      callSid,
      driverId,
      conversationId,
      options.status ?? "IN_PROGRESS",
      (options.createdAt ?? new Date()).toISOString(),
    ],
  );
  return { id: (rows[0] as { id: number }).id, callSid, driverId, conversationId };
}

export interface TranscriptionBody {
  call_sid: unknown;
  speaker?: unknown;
  message?: unknown;
  timestamp?: unknown;
  [key: string]: unknown;
}

export function transcriptionRequest(
  body: unknown,
  token: string = TEST_SECRETS.TRANSCRIPTION_WEBHOOK_TOKEN,
): Request {
  return jsonRequest("POST", "/webhooks/elevenlabs/transcription", body, {
    authorization: `Bearer ${token}`,
  });
}

export function utterance(
  callSid: string,
  n: number,
  speaker: "agent" | "user" = n % 2 ? "agent" : "user",
) {
  return {
    call_sid: callSid,
    speaker,
    message: `utterance ${n}`,
    timestamp: new Date(Date.UTC(2026, 10, 23, 14, 0, 0) + n * 1000).toISOString(),
  };
}

export async function transcriptRows(conversationId: string) {
  return (await testSql.query(
    `SELECT id, conversation_id, speaker, message, "timestamp", sequence_number
     FROM call_transcriptions WHERE conversation_id = $1 ORDER BY sequence_number`,
    [conversationId],
  )) as {
    id: number;
    conversation_id: string;
    speaker: string;
    message: string;
    timestamp: Date;
    sequence_number: number;
  }[];
}

export async function countTranscriptionRows(): Promise<number> {
  const rows = (await testSql.query("SELECT count(*)::int AS n FROM call_transcriptions")) as {
    n: number;
  }[];
  return rows[0]?.n ?? 0;
}
