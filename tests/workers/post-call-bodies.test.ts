// Body limits per route: ElevenLabs' post-call webhook takes up to 32 MiB (a whole call's
// audio as base64, a long call's transcript), every other route 64 KiB. ElevenLabs does not
// retry and disables an endpoint after 10 failures, so a refused event is a lost one.
import { describe, expect, it } from "vitest";
import { signElevenLabsPayload } from "../../src/elevenlabs/signature";
import { TEST_SECRETS } from "../setup/test-secrets";
import { insertTestCall, transcriptionRequest, transcriptRows } from "../support/calls";
import { type Turn, transcriptionEvent } from "../support/post-call";
import { testSql } from "../support/sql";
import { callWorker, jsonRequest, newScope, readError, statementsSent } from "../support/worker";

const KiB = 1024;
const MiB = 1024 * KiB;
const POST_CALL_URL = "http://driver-calls.test/webhooks/elevenlabs/post-call";
const encoder = new TextEncoder();
const nowSecs = () => Math.floor(Date.now() / 1000);

/**
 * `head` + `size - head - tail` filler bytes + `tail`, built in one allocation: a 33 MiB
 * body in a few milliseconds, where string concatenation in a loop would take seconds.
 */
function bigBody(head: string, size: number, tail: string, filler = "A"): Uint8Array {
  const headBytes = encoder.encode(head);
  const tailBytes = encoder.encode(tail);
  const body = new Uint8Array(size);
  body.set(headBytes);
  body.fill(filler.charCodeAt(0), headBytes.length, size - tailBytes.length);
  body.set(tailBytes, size - tailBytes.length);
  return body;
}

async function signedBytes(
  body: Uint8Array,
  options: { streamed?: boolean } = {},
): Promise<Request> {
  const signature = await signElevenLabsPayload(
    body,
    TEST_SECRETS.ELEVENLABS_WEBHOOK_SECRET,
    nowSecs(),
  );
  return new Request(POST_CALL_URL, {
    method: "POST",
    headers: { "content-type": "application/json", "elevenlabs-signature": signature },
    // A stream has no Content-Length: the limit must count the bytes as they arrive.
    body: options.streamed ? streamOf(body) : body,
  });
}

function streamOf(body: Uint8Array, chunkBytes = 1 * MiB): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= body.length) return controller.close();
      controller.enqueue(body.slice(offset, offset + chunkBytes));
      offset += chunkBytes;
    },
  });
}

async function callStatus(callId: number) {
  const [row] = (await testSql.query("SELECT status, updated_at FROM calls WHERE id = $1", [
    callId,
  ])) as { status: string; updated_at: Date }[];
  return row;
}

describe("POST /webhooks/elevenlabs/post-call: big bodies", () => {
  it("answers a signed 10 MiB post_call_audio 200 ignored, without a single statement", async () => {
    const call = await insertTestCall();
    const before = await callStatus(call.id);
    const body = bigBody(
      `{"type":"post_call_audio","event_timestamp":${nowSecs()},"data":{"agent_id":"agent_test","conversation_id":"${call.conversationId}","full_audio":"`,
      10 * MiB,
      '"}}',
    );
    const scope = newScope();
    const response = await callWorker(await signedBytes(body), { scope });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ignored" });
    expect(await statementsSent(scope)).toEqual([]);
    expect(await callStatus(call.id)).toEqual(before);
    expect(await transcriptRows(call.conversationId ?? "")).toEqual([]);
  });

  it("reads a post_call_audio's type from its first bytes and never parses the rest", async () => {
    // Cut off inside the audio: not JSON, so a parse would answer 400 invalid_json.
    const body = bigBody('{"type":"post_call_audio","data":{"full_audio":"', 2 * MiB, "");
    const response = await callWorker(await signedBytes(body));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ignored" });
  });

  it("also ignores a post_call_audio whose type is not the first key (parsed to find out)", async () => {
    const call = await insertTestCall();
    const body = bigBody(
      `{"event_timestamp":${nowSecs()},"data":{"conversation_id":"${call.conversationId}","full_audio":"`,
      1 * MiB,
      '"},"type":"post_call_audio"}',
    );
    const scope = newScope();
    const response = await callWorker(await signedBytes(body), { scope });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ignored" });
    expect(await statementsSent(scope)).toEqual([]);
    expect((await callStatus(call.id))?.status).toBe("IN_PROGRESS");
  });

  it("completes a known call from a 1 MiB post_call_transcription of 2,000 turns, all read back in order", async () => {
    const call = await insertTestCall();
    const turns: Turn[] = Array.from({ length: 2_000 }, (_, i) => ({
      role: i % 2 === 0 ? "agent" : "user",
      message: `Turn ${i + 1}. ${"The load was late and I kept driving. ".repeat(13)}`,
      time_in_call_secs: i,
    }));
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: 1_795_400_000,
      durationSecs: 2_100,
      transcript: turns,
    });
    const body = encoder.encode(JSON.stringify(event));
    expect(body.length).toBeGreaterThanOrEqual(1 * MiB);
    expect(body.length).toBeLessThan(2 * MiB);

    const response = await callWorker(await signedBytes(body));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "processed" });

    const read = await callWorker(
      new Request(`http://driver-calls.test/calls/${call.callSid}`, {
        headers: { authorization: `Bearer ${TEST_SECRETS.API_TOKEN}` },
      }),
    );
    expect(read.status).toBe(200);
    const { call: stored, transcript } = (await read.json()) as {
      call: { status: string };
      transcript: { sequence_number: number; speaker: string; message: string }[];
    };
    expect(stored.status).toBe("COMPLETED");
    expect(transcript).toHaveLength(2_000);
    expect(transcript.map((turn) => turn.sequence_number)).toEqual(turns.map((_, i) => i + 1));
    expect(transcript.map((turn) => [turn.speaker, turn.message])).toEqual(
      turns.map((turn) => [turn.role, turn.message]),
    );
  }, 60_000);

  it.each([
    ["with a Content-Length", false],
    ["streamed, without a Content-Length", true],
  ])("refuses a signed 33 MiB event %s: 413, nothing read or stored", async (_name, streamed) => {
    const call = await insertTestCall();
    const before = await callStatus(call.id);
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: 1_795_400_000,
      transcript: [{ role: "agent", message: "Hello.", time_in_call_secs: 0 }],
    });
    // The same event with a padding field that takes it to 33 MiB.
    const json = JSON.stringify(event);
    const body = bigBody(`${json.slice(0, -1)},"padding":"`, 33 * MiB, '"}', "x");
    const scope = newScope();
    const response = await callWorker(await signedBytes(body, { streamed }), { scope });
    expect(response.status).toBe(413);
    const { error } = await readError(response);
    expect(error).toMatchObject({
      code: "payload_too_large",
      message: "The request body is larger than 32 MiB, this route's limit.",
      details: { max_bytes: 32 * MiB },
    });
    expect(await statementsSent(scope)).toEqual([]);
    expect(await callStatus(call.id)).toEqual(before);
  });
});

describe("other routes keep 64 KiB", () => {
  const tooBig = { padding: "x".repeat(100 * KiB) };

  it("refuses a 100 KiB transcription webhook with 413 and the route's own limit", async () => {
    const scope = newScope();
    const response = await callWorker(transcriptionRequest(tooBig), { scope });
    expect(response.status).toBe(413);
    expect((await readError(response)).error).toMatchObject({
      code: "payload_too_large",
      message: "The request body is larger than 64 KiB, this route's limit.",
      details: { max_bytes: 64 * KiB },
    });
    expect(await statementsSent(scope)).toEqual([]);
  });

  it("refuses a 100 KiB /calls/batch with 413", async () => {
    const response = await callWorker(
      jsonRequest("POST", "/calls/batch", tooBig, {
        authorization: `Bearer ${TEST_SECRETS.API_TOKEN}`,
      }),
    );
    expect(response.status).toBe(413);
    expect((await readError(response)).error.details).toEqual({ max_bytes: 64 * KiB });
  });
});
