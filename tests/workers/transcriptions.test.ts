import { describe, expect, it } from "vitest";
import { insertTestCall, transcriptionRequest, transcriptRows, utterance } from "../support/calls";
import { testSql } from "../support/sql";
import { callWorker, neonControl, newScope, readError, statementsSent } from "../support/worker";

interface SavedBody {
  status: string;
  message: string;
  call_sid: string;
  conversation_id: string;
  transcription_id: number;
  sequence_number: number;
  duplicate: boolean;
}

async function deliver(body: unknown, options: { scope?: string } = {}) {
  const response = await callWorker(transcriptionRequest(body), options);
  return { status: response.status, body: (await response.json()) as SavedBody };
}

describe("POST /webhooks/elevenlabs/transcription", () => {
  it("accepts a call_sid and answers with the contract's 200 body", async () => {
    const call = await insertTestCall();
    const { status, body } = await deliver(utterance(call.callSid, 1));
    expect(status).toBe(200);
    expect(body).toEqual({
      status: "success",
      message: `Transcription saved for call_sid ${call.callSid}`,
      call_sid: call.callSid,
      conversation_id: call.conversationId,
      transcription_id: expect.any(Number),
      sequence_number: 1,
      duplicate: false,
    });
  });

  it("stores the row under the Call's conversation_id (two-step lookup)", async () => {
    const call = await insertTestCall();
    const { body } = await deliver(utterance(call.callSid, 1, "user"));
    const rows = await transcriptRows(call.conversationId ?? "");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id: body.transcription_id,
      conversation_id: call.conversationId,
      speaker: "user",
      message: "utterance 1",
      sequence_number: 1,
    });
  });

  it("numbers three utterances 1, 2, 3", async () => {
    const call = await insertTestCall();
    const numbers: number[] = [];
    for (const n of [1, 2, 3])
      numbers.push((await deliver(utterance(call.callSid, n))).body.sequence_number);
    expect(numbers).toEqual([1, 2, 3]);
    expect(
      (await transcriptRows(call.conversationId ?? "")).map((row) => row.sequence_number),
    ).toEqual([1, 2, 3]);
  });

  it("stores an offset timestamp as the same instant", async () => {
    const call = await insertTestCall();
    await deliver({ ...utterance(call.callSid, 1), timestamp: "2026-11-23T08:05:09.120-06:00" });
    const [row] = await transcriptRows(call.conversationId ?? "");
    expect(new Date(row?.timestamp ?? 0).toISOString()).toBe("2026-11-23T14:05:09.120Z");
  });

  it("answers 400 call_not_found for an unknown call_sid and writes nothing", async () => {
    const scope = newScope();
    const response = await callWorker(transcriptionRequest(utterance("EL_999_1", 1)), { scope });
    expect(response.status).toBe(400);
    const body = await readError(response);
    expect(body.error.code).toBe("call_not_found");
    expect(body.error.message).toContain("EL_999_1");
    expect(await statementsSent(scope)).toHaveLength(1);
  });

  it("answers 400 conversation_not_started for a Call with NULL conversation_id", async () => {
    const call = await insertTestCall({ started: false });
    const scope = newScope();
    const response = await callWorker(transcriptionRequest(utterance(call.callSid, 1)), { scope });
    expect(response.status).toBe(400);
    expect((await readError(response)).error.code).toBe("conversation_not_started");
    expect(await statementsSent(scope)).toHaveLength(1);
    const rows = await testSql.query("SELECT last_sequence_number FROM calls WHERE id = $1", [
      call.id,
    ]);
    expect(rows[0]).toEqual({ last_sequence_number: 0 });
  });

  it("sends exactly one SQL statement on the common path", async () => {
    const call = await insertTestCall();
    await deliver(utterance(call.callSid, 1));
    const scope = newScope();
    const { status } = await deliver(utterance(call.callSid, 2), { scope });
    expect(status).toBe(200);
    const statements = await statementsSent(scope);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^\s*WITH target AS/);
  });

  it("answers a redelivery with the first delivery's ids, duplicate: true, and no new row", async () => {
    const call = await insertTestCall();
    const first = await deliver(utterance(call.callSid, 1));
    const scope = newScope();
    const again = await deliver(utterance(call.callSid, 1), { scope });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({
      duplicate: true,
      transcription_id: first.body.transcription_id,
      sequence_number: first.body.sequence_number,
    });
    expect(await transcriptRows(call.conversationId ?? "")).toHaveLength(1);
    expect(await statementsSent(scope)).toHaveLength(1);
  });

  it("treats the same words from the other speaker, or at another instant, as new", async () => {
    const call = await insertTestCall();
    await deliver(utterance(call.callSid, 1, "agent"));
    const otherSpeaker = await deliver(utterance(call.callSid, 1, "user"));
    const otherInstant = await deliver({
      ...utterance(call.callSid, 1, "agent"),
      timestamp: "2026-11-23T15:00:00Z",
    });
    expect([otherSpeaker.body.sequence_number, otherInstant.body.sequence_number]).toEqual([2, 3]);
  });

  it("gives 50 concurrent deliveries for one call exactly 1..50, and 20 redeliveries add nothing", async () => {
    const call = await insertTestCall();
    const bodies = Array.from({ length: 50 }, (_, i) => utterance(call.callSid, i + 1));
    const results = await Promise.all(bodies.map((body) => deliver(body)));
    expect(results.every((result) => result.status === 200 && !result.body.duplicate)).toBe(true);
    const numbers = results.map((result) => result.body.sequence_number).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));

    const again = await Promise.all(bodies.slice(0, 20).map((body) => deliver(body)));
    again.forEach((result, i) => {
      expect(result.status).toBe(200);
      expect(result.body.duplicate).toBe(true);
      expect(result.body.transcription_id).toBe(results[i]?.body.transcription_id);
      expect(result.body.sequence_number).toBe(results[i]?.body.sequence_number);
    });
    const rows = await transcriptRows(call.conversationId ?? "");
    expect(rows.map((row) => row.sequence_number)).toEqual(numbers);
  });

  it("stores one row when the same utterance arrives many times at once", async () => {
    const call = await insertTestCall();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => deliver(utterance(call.callSid, 7))),
    );
    expect(results.every((result) => result.status === 200)).toBe(true);
    expect(results.filter((result) => !result.body.duplicate)).toHaveLength(1);
    expect(new Set(results.map((result) => result.body.transcription_id)).size).toBe(1);
    expect(await transcriptRows(call.conversationId ?? "")).toHaveLength(1);
    const [counter] = await testSql.query("SELECT last_sequence_number FROM calls WHERE id = $1", [
      call.id,
    ]);
    expect(counter).toEqual({ last_sequence_number: 1 });
  });

  it("keeps two calls' numbering apart when their deliveries interleave", async () => {
    const [a, b] = await Promise.all([insertTestCall(), insertTestCall()]);
    if (!a || !b) throw new Error("calls not created");
    const deliveries = Array.from({ length: 20 }, (_, i) =>
      deliver(utterance((i % 2 ? a : b).callSid, i + 1)),
    );
    await Promise.all(deliveries);
    for (const call of [a, b]) {
      const rows = await transcriptRows(call.conversationId ?? "");
      expect(rows.map((row) => row.sequence_number)).toEqual(
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
    }
  });

  it("saves the row exactly once when the endpoint fails the next request", async () => {
    const call = await insertTestCall();
    const scope = newScope();
    await neonControl({ scope, fail: { mode: "http_503", count: 1 } });
    const { status, body } = await deliver(utterance(call.callSid, 1), { scope });
    expect(status).toBe(200);
    expect(body.sequence_number).toBe(1);
    expect(await transcriptRows(call.conversationId ?? "")).toHaveLength(1);
  });

  it("saves the row exactly once when the statement runs but its answer is lost", async () => {
    const call = await insertTestCall();
    const scope = newScope();
    await neonControl({ scope, fail: { mode: "drop_after_commit", count: 1 } });
    const { status, body } = await deliver(utterance(call.callSid, 1), { scope });
    expect(status).toBe(200);
    expect(body.sequence_number).toBe(1);
    const rows = await transcriptRows(call.conversationId ?? "");
    expect(rows).toHaveLength(1);
    expect(rows[0]?.id).toBe(body.transcription_id);
    // The next utterance continues at 2: the lost answer left no gap.
    expect((await deliver(utterance(call.callSid, 2))).body.sequence_number).toBe(2);
  });

  it("answers 503 with Retry-After and writes nothing when the database stays down", async () => {
    const call = await insertTestCall();
    const scope = newScope();
    await neonControl({ scope, fail: { mode: "http_503", count: 100 } });
    const response = await callWorker(transcriptionRequest(utterance(call.callSid, 1)), { scope });
    await neonControl({ scope, reset: true });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    expect((await readError(response)).error.code).toBe("database_unavailable");
    expect(await transcriptRows(call.conversationId ?? "")).toHaveLength(0);
  });

  it("looks the Call up through an index on call_sid (EXPLAIN)", async () => {
    const call = await insertTestCall();
    // Planner statistics on a small test table can favour a seq scan; what matters is that
    // an index exists and is usable for this predicate.
    const [, plan] = await testSql.transaction([
      testSql.query("SET LOCAL enable_seqscan = off"),
      testSql.query("EXPLAIN SELECT id, conversation_id FROM calls WHERE call_sid = $1", [
        call.callSid,
      ]),
    ]);
    expect(JSON.stringify(plan)).toMatch(
      /Index (Only )?Scan using (uq_calls_call_sid|idx_calls_call_sid)/,
    );
  });
});
