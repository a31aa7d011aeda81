import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_SIGNATURES, signElevenLabsPayload } from "../../src/elevenlabs/signature";
import { TEST_SECRETS } from "../setup/test-secrets";
import {
  insertTestCall,
  type TestCall,
  transcriptionRequest,
  transcriptRows,
} from "../support/calls";
import {
  initiationFailureEvent,
  signedPostCall,
  type Turn,
  transcriptionEvent,
} from "../support/post-call";
import { testSql } from "../support/sql";
import { callWorker, readError } from "../support/worker";

const START = 1_795_400_000; // 2026-11-23T00:53:20Z

const TURNS: Turn[] = [
  { role: "agent", message: "Hi, this is the safety team.", time_in_call_secs: 0 },
  { role: "user", message: "Hi.", time_in_call_secs: 3 },
  { role: "agent", message: "You exceeded the 11-hour limit on Friday.", time_in_call_secs: 5 },
  { role: "user", message: "OK.", time_in_call_secs: 9 },
  { role: "agent", message: "Thanks, drive safe.", time_in_call_secs: 12 },
];

async function callState(call: TestCall) {
  const [row] = (await testSql.query(
    `SELECT status, call_end_time, failure_reason, failure_detail, conversation_id, final_transcript,
            last_sequence_number, updated_at
     FROM calls WHERE id = $1`,
    [call.id],
  )) as {
    status: string;
    call_end_time: Date | null;
    failure_reason: string | null;
    failure_detail: string | null;
    conversation_id: string | null;
    final_transcript: unknown;
    last_sequence_number: number;
    updated_at: Date;
  }[];
  return row;
}

interface TranscriptEntry {
  sequence_number: number;
  speaker: string;
  message: string;
  timestamp: string;
}

/** The transcript GET /calls/{call_sid} answers with. */
async function readTranscript(call: TestCall): Promise<TranscriptEntry[]> {
  const response = await callWorker(
    new Request(`http://driver-calls.test/calls/${call.callSid}`, {
      headers: { authorization: `Bearer ${TEST_SECRETS.API_TOKEN}` },
    }),
  );
  expect(response.status).toBe(200);
  return ((await response.json()) as { transcript: TranscriptEntry[] }).transcript;
}

/** What GET /calls/{call_sid} must answer for `turns`, numbered 1..N in this order. */
function finalTranscript(turns: Turn[]): TranscriptEntry[] {
  return turns.map((turn, index) => ({
    sequence_number: index + 1,
    speaker: turn.role,
    message: turn.message,
    timestamp: new Date((START + turn.time_in_call_secs) * 1000).toISOString(),
  }));
}

afterEach(() => vi.restoreAllMocks());

/** The Worker's log lines (the real logger writes them to console.log), by event. */
function captureLogs() {
  const lines: Record<string, unknown>[] = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    lines.push(JSON.parse(String(line)) as Record<string, unknown>);
  });
  return { events: (name: string) => lines.filter((line) => line.event === name) };
}

async function post(request: Request) {
  const response = await callWorker(request);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function deliverLive(call: TestCall, turn: Turn) {
  const response = await callWorker(
    transcriptionRequest({
      call_sid: call.callSid,
      speaker: turn.role,
      message: turn.message,
      timestamp: new Date((START + turn.time_in_call_secs) * 1000).toISOString(),
    }),
  );
  expect(response.status).toBe(200);
}

describe("post-call signature", () => {
  const SECRET = TEST_SECRETS.ELEVENLABS_WEBHOOK_SECRET;
  const nowSecs = () => Math.floor(Date.now() / 1000);
  /** A call_initiation_failure for a real Call: let through, it would fail that Call. */
  const bodyFor = (call: TestCall) =>
    JSON.stringify(initiationFailureEvent(call.conversationId ?? "", "busy"));

  it("accepts a valid signature: the same event, signed right, fails the Call", async () => {
    const call = await insertTestCall();
    const response = await callWorker(await signedPostCall(null, { rawBody: bodyFor(call) }));
    expect(response.status).toBe(200);
    expect(await callState(call)).toMatchObject({ status: "FAILED", failure_reason: "busy" });
  });

  // Each case sends the exact body it signed (tampering aside) to a real Call, and differs
  // from the valid request above in one thing only; the reason names the rule that refused.
  const rejected: {
    name: string;
    reason: string;
    request: (body: string) => Promise<Request>;
  }[] = [
    {
      name: "a wrong secret",
      reason: "mismatch",
      request: (body) => signedPostCall(null, { rawBody: body, secret: "not-the-secret" }),
    },
    {
      name: "a tampered body",
      reason: "mismatch",
      request: async (body) => {
        const signature = await signElevenLabsPayload(body, SECRET, nowSecs());
        const tampered = body.replace('"busy"', '"no-answer"');
        expect(tampered).not.toBe(body);
        return signedPostCall(null, { rawBody: tampered, signature });
      },
    },
    {
      name: "a stale timestamp (31 minutes old)",
      reason: "stale",
      request: (body) =>
        signedPostCall(null, { rawBody: body, timestampSecs: nowSecs() - 31 * 60 }),
    },
    {
      name: "a future timestamp (6 minutes ahead)",
      reason: "future",
      request: (body) => signedPostCall(null, { rawBody: body, timestampSecs: nowSecs() + 6 * 60 }),
    },
    {
      name: "no header",
      reason: "missing_header",
      request: (body) => signedPostCall(null, { rawBody: body, signature: null }),
    },
    {
      name: "a malformed header",
      reason: "malformed_header",
      request: (body) => signedPostCall(null, { rawBody: body, signature: "sha256=abc" }),
    },
    {
      name: "a header without v0",
      reason: "malformed_header",
      request: (body) => signedPostCall(null, { rawBody: body, signature: `t=${nowSecs()}` }),
    },
    {
      name: `more than ${MAX_SIGNATURES} v0 entries, the valid one among them`,
      reason: "malformed_header",
      request: async (body) => {
        const valid = await signElevenLabsPayload(body, SECRET, nowSecs());
        const wrong = `,v0=${"0".repeat(64)}`.repeat(MAX_SIGNATURES);
        return signedPostCall(null, { rawBody: body, signature: `${valid}${wrong}` });
      },
    },
  ];

  it.each(rejected)("rejects $name with 401 ($reason) and changes nothing", async (rule) => {
    const call = await insertTestCall();
    const logs = captureLogs();
    const response = await callWorker(await rule.request(bodyFor(call)));
    expect(response.status).toBe(401);
    const { error } = await readError(response);
    expect(error.code).toBe("unauthorized");
    expect(error.message).toBe(`Missing or invalid signature (${rule.reason}).`);
    expect(logs.events("post_call_signature_rejected")).toEqual([
      expect.objectContaining({ reason: rule.reason }),
    ]);
    expect((await callState(call))?.status).toBe("IN_PROGRESS");
  });

  it("refuses a header with 1,000 v0 entries as malformed", async () => {
    const call = await insertTestCall();
    const body = bodyFor(call);
    const valid = await signElevenLabsPayload(body, SECRET, nowSecs());
    const header = `${valid}${`,v0=${"a".repeat(64)}`.repeat(999)}`;
    const response = await callWorker(
      await signedPostCall(null, { rawBody: body, signature: header }),
    );
    expect(response.status).toBe(401);
    expect((await readError(response)).error.message).toBe(
      "Missing or invalid signature (malformed_header).",
    );
    expect((await callState(call))?.status).toBe("IN_PROGRESS");
  });

  it("accepts two v0 values when one of them is valid (secret rotation)", async () => {
    const call = await insertTestCall();
    const body = JSON.stringify(initiationFailureEvent(call.conversationId ?? ""));
    const t = Math.floor(Date.now() / 1000);
    const valid = await signElevenLabsPayload(body, TEST_SECRETS.ELEVENLABS_WEBHOOK_SECRET, t);
    const other = await signElevenLabsPayload(body, "old-secret", t);
    const header = `${other},v0=${valid.split("v0=")[1]}`;
    const response = await callWorker(
      await signedPostCall(null, { rawBody: body, signature: header }),
    );
    expect(response.status).toBe(200);
    expect((await callState(call))?.status).toBe("FAILED");
  });

  it("refuses every event when ELEVENLABS_WEBHOOK_SECRET is not configured", async () => {
    const call = await insertTestCall();
    const logs = captureLogs();
    const response = await callWorker(await signedPostCall(null, { rawBody: bodyFor(call) }), {
      env: { ELEVENLABS_WEBHOOK_SECRET: "" },
    });
    expect(response.status).toBe(401);
    expect(logs.events("auth_not_configured")).toHaveLength(1);
    expect((await callState(call))?.status).toBe("IN_PROGRESS");
  });
});

describe("post_call_transcription", () => {
  it("completes the call found by the call_sid dynamic variable, with end = start + duration", async () => {
    const call = await insertTestCall();
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: START,
      durationSecs: 75,
      transcript: TURNS,
    });
    const { status, body } = await post(await signedPostCall(event));
    expect(status).toBe(200);
    expect(body).toEqual({ status: "processed" });
    const state = await callState(call);
    expect(state?.status).toBe("COMPLETED");
    expect(new Date(state?.call_end_time ?? 0).toISOString()).toBe(
      new Date((START + 75) * 1000).toISOString(),
    );
  });

  it("finds the call by conversation_id when there is no call_sid", async () => {
    const call = await insertTestCall();
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: null,
      startTimeUnixSecs: START,
      transcript: TURNS.slice(0, 2),
    });
    expect((await post(await signedPostCall(event))).status).toBe(200);
    expect((await callState(call))?.status).toBe("COMPLETED");
  });

  it("stores the conversation_id of a call the batch could not update (found by call_sid)", async () => {
    const call = await insertTestCall({ started: false });
    const conversationId = `conv_late_${crypto.randomUUID()}`;
    const event = transcriptionEvent({
      conversationId,
      callSid: call.callSid,
      startTimeUnixSecs: START,
      transcript: TURNS.slice(0, 2),
    });
    expect((await post(await signedPostCall(event))).status).toBe(200);
    expect(await callState(call)).toMatchObject({
      status: "COMPLETED",
      conversation_id: conversationId,
    });
    expect(await readTranscript(call)).toEqual(finalTranscript(TURNS.slice(0, 2)));
    // The report's turns are not live rows: call_transcriptions holds none for this call.
    expect(await transcriptRows(conversationId)).toHaveLength(0);
  });

  it("shows ElevenLabs' final 5 turns numbered 1..5 when the live webhook stored 2, and keeps those 2 rows as they were", async () => {
    const call = await insertTestCall();
    await deliverLive(call, TURNS[0] as Turn);
    await deliverLive(call, TURNS[2] as Turn);
    const liveBefore = await transcriptRows(call.conversationId ?? "");
    // Before the report: the live rows, in the order they arrived.
    expect(await readTranscript(call)).toEqual(finalTranscript([TURNS[0], TURNS[2]] as Turn[]));
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: START,
      transcript: TURNS,
    });
    expect((await post(await signedPostCall(event))).status).toBe(200);
    // The reader gets ElevenLabs' order (1, 2, 3, 4, 5), not the live order (1, 3).
    expect(await readTranscript(call)).toEqual(finalTranscript(TURNS));
    // The live rows are neither renumbered nor completed: exactly the 2 that arrived.
    expect(await transcriptRows(call.conversationId ?? "")).toEqual(liveBefore);
    expect((await callState(call))?.last_sequence_number).toBe(2);
  });

  it("shows a repeated word as often as ElevenLabs' final transcript has it", async () => {
    const call = await insertTestCall();
    const turns: Turn[] = [
      { role: "user", message: "OK.", time_in_call_secs: 1 },
      { role: "user", message: "OK.", time_in_call_secs: 4 },
      { role: "user", message: "OK.", time_in_call_secs: 8 },
    ];
    await deliverLive(call, turns[0] as Turn);
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: START,
      transcript: turns,
    });
    expect((await post(await signedPostCall(event))).status).toBe(200);
    expect(await readTranscript(call)).toEqual(finalTranscript(turns));
    expect(await transcriptRows(call.conversationId ?? "")).toHaveLength(1);
  });

  it("changes nothing when the same event is delivered again", async () => {
    const call = await insertTestCall();
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: START,
      transcript: TURNS,
    });
    await post(await signedPostCall(event));
    const before = await callState(call);
    const rowsBefore = await transcriptRows(call.conversationId ?? "");
    const { status, body } = await post(await signedPostCall(event));
    expect(status).toBe(200);
    expect(body).toEqual({ status: "unchanged" });
    expect(await callState(call)).toEqual(before);
    expect(await transcriptRows(call.conversationId ?? "")).toEqual(rowsBefore);
  });

  it("still stores a late live utterance after COMPLETED, numbered after the live rows; the status and the transcript shown stay as the report left them", async () => {
    const call = await insertTestCall();
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: START,
      transcript: TURNS.slice(0, 2),
    });
    await deliverLive(call, TURNS[0] as Turn);
    await deliverLive(call, TURNS[1] as Turn);
    await post(await signedPostCall(event));
    await deliverLive(call, { role: "agent", message: "One more thing.", time_in_call_secs: 30 });
    expect((await callState(call))?.status).toBe("COMPLETED");
    // Stored, numbered after the live rows before it...
    const rows = await transcriptRows(call.conversationId ?? "");
    expect(rows.map((row) => [row.sequence_number, row.message])).toEqual([
      [1, TURNS[0]?.message],
      [2, TURNS[1]?.message],
      [3, "One more thing."],
    ]);
    // ...but the reader keeps getting ElevenLabs' final transcript.
    expect(await readTranscript(call)).toEqual(finalTranscript(TURNS.slice(0, 2)));
  });

  // Failures that prove nothing rang; a row written before migration 0007 holds
  // "code: sentence" in failure_reason.
  it.each([
    "elevenlabs_http_error",
    "elevenlabs_rejected",
    "elevenlabs_at_capacity",
    "do_not_call",
    "at_capacity",
    "elevenlabs_http_error: ElevenLabs answered HTTP 422: invalid phone number (call to ***0042).",
  ])(
    "never reopens or completes a call FAILED %s (nothing rang): 200 unchanged",
    async (reason) => {
      const call = await insertTestCall({ status: "FAILED" });
      await testSql.query("UPDATE calls SET failure_reason = $2 WHERE id = $1", [call.id, reason]);
      const before = await callState(call);
      const event = transcriptionEvent({
        conversationId: call.conversationId ?? "",
        callSid: call.callSid,
        startTimeUnixSecs: START,
        transcript: TURNS,
      });
      expect(await post(await signedPostCall(event))).toEqual({
        status: 200,
        body: { status: "unchanged" },
      });
      expect(await callState(call)).toEqual(before);
      expect(before).toMatchObject({
        status: "FAILED",
        failure_reason: reason,
        call_end_time: null,
        final_transcript: null,
      });
      expect(await readTranscript(call)).toEqual([]);
    },
  );

  it("keeps an event for a call not known yet (200 kept): no call or transcript is written", async () => {
    const conversationId = `conv_unknown_${crypto.randomUUID()}`;
    const event = transcriptionEvent({
      conversationId,
      callSid: "EL_0_0_unknown",
      startTimeUnixSecs: START,
      transcript: TURNS,
    });
    const { status, body } = await post(await signedPostCall(event));
    expect(status).toBe(200);
    expect(body).toEqual({ status: "kept" });
    expect(await transcriptRows(conversationId)).toHaveLength(0);
    const kept = (await testSql.query(
      "SELECT event_type, event FROM post_call_inbox WHERE conversation_id = $1",
      [conversationId],
    )) as { event_type: string; event: string }[];
    expect(kept).toEqual([{ event_type: "post_call_transcription", event: JSON.stringify(event) }]);
    const calls = (await testSql.query("SELECT 1 FROM calls WHERE conversation_id = $1", [
      conversationId,
    ])) as unknown[];
    expect(calls).toHaveLength(0);
  });

  it("applies a transcription event with an unreadable start time: COMPLETED, ended when it arrived", async () => {
    const call = await insertTestCall();
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: START,
      transcript: TURNS,
    });
    (event.data.metadata as Record<string, unknown>).start_time_unix_secs = "yesterday";
    const before = Date.now();
    const { status, body } = await post(await signedPostCall(event));
    expect(status).toBe(200);
    expect(body).toEqual({ status: "processed" });
    const state = await callState(call);
    expect(state?.status).toBe("COMPLETED");
    const endedAt = new Date(state?.call_end_time ?? 0).getTime();
    expect(endedAt).toBeGreaterThanOrEqual(before - 1000);
    expect(endedAt).toBeLessThanOrEqual(Date.now() + 1000);
    expect((state?.final_transcript as { message: string }[]).map((turn) => turn.message)).toEqual(
      TURNS.map((turn) => turn.message),
    );
  });
});

describe("call_initiation_failure and other events", () => {
  it("marks the call FAILED with the failure reason, found by conversation_id", async () => {
    const call = await insertTestCall();
    const { status, body } = await post(
      await signedPostCall(initiationFailureEvent(call.conversationId ?? "", "no-answer")),
    );
    expect(status).toBe(200);
    expect(body).toEqual({ status: "processed" });
    expect(await callState(call)).toMatchObject({ status: "FAILED", failure_reason: "no-answer" });
  });

  it("changes nothing on redelivery, and never turns a COMPLETED call into FAILED", async () => {
    const call = await insertTestCall({ status: "COMPLETED" });
    const { body } = await post(
      await signedPostCall(initiationFailureEvent(call.conversationId ?? "")),
    );
    expect(body).toEqual({ status: "unchanged" });
    expect((await callState(call))?.status).toBe("COMPLETED");
  });

  it.each(["post_call_audio", "some_future_event"])(
    "acknowledges %s with 200 ignored and changes nothing",
    async (type) => {
      const call = await insertTestCall();
      const event = {
        type,
        event_timestamp: START,
        data: { conversation_id: call.conversationId, full_audio: "AAAA" },
      };
      const { status, body } = await post(await signedPostCall(event));
      expect(status).toBe(200);
      expect(body).toEqual({ status: "ignored" });
      expect((await callState(call))?.status).toBe("IN_PROGRESS");
    },
  );
});
