// Postgres stopped and started again in the middle of a stream of transcription
// deliveries, sent by a client that retries on 5xx and connection errors, as ElevenLabs'
// webhook tool would be configured to. Runs against a Postgres of its own (see
// tests/setup/workers-global-setup.ts) so that no other test file sees the outage.
import { neon } from "@neondatabase/serverless";
import { describe, expect, it } from "vitest";
import { transcriptionRequest } from "../support/calls";
import { callWorker, testEnv } from "../support/worker";

const CALLS = 10;
const UTTERANCES_PER_CALL = 50;
const SENDERS = 16;

const faultSql = () => neon(testEnv.FAULT_DATABASE_URL);

async function postgres(action: "stop" | "start") {
  const response = await fetch(`${testEnv.FAULT_CONTROL_URL}/${action}`, { method: "POST" });
  if (!response.ok) throw new Error(`could not ${action} Postgres: ${await response.text()}`);
}

/** Delivers one utterance until it gets a 2xx, retrying 5xx and connection errors. */
async function deliverWithRetries(body: unknown, stats: { retries: number }) {
  for (let attempt = 1; attempt <= 200; attempt++) {
    try {
      const response = await callWorker(transcriptionRequest(body), {
        env: { DATABASE_URL: testEnv.FAULT_DATABASE_URL },
      });
      await response.arrayBuffer();
      if (response.status === 200) return;
      if (response.status < 500) throw new Error(`refused with ${response.status}`);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith("refused")) throw error;
    }
    stats.retries += 1;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("gave up after 200 attempts");
}

describe("faults", () => {
  it("stores 500 utterances for 10 calls exactly once, 1..N per call, across a Postgres restart", async () => {
    const sql = faultSql();
    const runId = crypto.randomUUID().slice(0, 8);
    const calls = Array.from({ length: CALLS }, (_, i) => ({
      callSid: `EL_${500 + i}_${Math.floor(Date.now() / 1000)}_${runId}`,
      conversationId: `conv_fault_${runId}_${i}`,
    }));
    for (const call of calls) {
      await sql.query(
        "INSERT INTO calls (call_sid, driver_id, conversation_id, status, call_start_time) VALUES ($1, 1, $2, 'IN_PROGRESS', now())",
        [call.callSid, call.conversationId],
      );
    }
    const deliveries = calls.flatMap((call) =>
      Array.from({ length: UTTERANCES_PER_CALL }, (_, n) => ({
        call_sid: call.callSid,
        speaker: n % 2 ? "user" : "agent",
        message: `utterance ${n} of ${call.callSid}`,
        timestamp: new Date(Date.UTC(2026, 10, 23, 15, 0, n)).toISOString(),
      })),
    );

    const stats = { retries: 0, delivered: 0 };
    let next = 0;
    const outage = (async () => {
      while (stats.delivered < deliveries.length / 4) await new Promise((r) => setTimeout(r, 10));
      await postgres("stop");
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await postgres("start");
    })();
    await Promise.all(
      Array.from({ length: SENDERS }, async () => {
        while (next < deliveries.length) {
          const body = deliveries[next++];
          await deliverWithRetries(body, stats);
          stats.delivered += 1;
        }
      }),
    );
    await outage;

    // The outage really happened while deliveries were in flight.
    expect(stats.retries).toBeGreaterThan(0);
    const rows = (await faultSql().query(
      `SELECT c.call_sid, t.sequence_number, t.message FROM call_transcriptions t
       JOIN calls c ON c.conversation_id = t.conversation_id
       WHERE c.call_sid = ANY($1::text[]) ORDER BY c.call_sid, t.sequence_number`,
      [calls.map((call) => call.callSid)],
    )) as { call_sid: string; sequence_number: number; message: string }[];
    expect(rows).toHaveLength(CALLS * UTTERANCES_PER_CALL);
    for (const call of calls) {
      const own = rows.filter((row) => row.call_sid === call.callSid);
      expect(own.map((row) => row.sequence_number)).toEqual(
        Array.from({ length: UTTERANCES_PER_CALL }, (_, i) => i + 1),
      );
      expect(new Set(own.map((row) => row.message)).size).toBe(UTTERANCES_PER_CALL);
    }
  }, 120_000);
});
