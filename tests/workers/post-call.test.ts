import { describe, expect, it } from "vitest";
import { signElevenLabsPayload } from "../../src/elevenlabs/signature";
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
    "SELECT status, call_end_time, failure_reason, conversation_id, updated_at FROM calls WHERE id = $1",
    [call.id],
  )) as {
    status: string;
    call_end_time: Date | null;
    failure_reason: string | null;
    conversation_id: string | null;
    updated_at: Date;
  }[];
  return row;
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
  const event = () => initiationFailureEvent("conv_nobody_signature_probe");

  it("accepts a valid signature", async () => {
    const { status } = await post(await signedPostCall(event()));
    expect(status).toBe(200);
  });

  const rejected: [string, () => Promise<Request>][] = [
    ["a wrong secret", () => signedPostCall(event(), { secret: "not-the-secret" })],
    [
      "a tampered body",
      async () => {
        const body = JSON.stringify(event());
        const signature = await signElevenLabsPayload(
          body,
          TEST_SECRETS.ELEVENLABS_WEBHOOK_SECRET,
          Math.floor(Date.now() / 1000),
        );
        return signedPostCall(null, { rawBody: body.replace("busy", "no-answer"), signature });
      },
    ],
    [
      "a stale timestamp (31 minutes old)",
      () => signedPostCall(event(), { timestampSecs: Math.floor(Date.now() / 1000) - 31 * 60 }),
    ],
    [
      "a future timestamp (6 minutes ahead)",
      () => signedPostCall(event(), { timestampSecs: Math.floor(Date.now() / 1000) + 6 * 60 }),
    ],
    ["no header", () => signedPostCall(event(), { signature: null })],
    ["a malformed header", () => signedPostCall(event(), { signature: "sha256=abc" })],
    [
      "a header without v0",
      () => signedPostCall(event(), { signature: `t=${Math.floor(Date.now() / 1000)}` }),
    ],
  ];

  it.each(rejected)("rejects %s with 401 and changes nothing", async (_name, makeRequest) => {
    const call = await insertTestCall();
    const request = await makeRequest();
    // Aim the rejected event at a real call: if it got through, the call would change.
    const body = (await request.text()).replaceAll(
      "conv_nobody_signature_probe",
      call.conversationId ?? "",
    );
    const resigned = new Request(request.url, { method: "POST", headers: request.headers, body });
    const response = await callWorker(resigned);
    expect(response.status).toBe(401);
    expect((await readError(response)).error.code).toBe("unauthorized");
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
    const response = await callWorker(await signedPostCall(event()), {
      env: { ELEVENLABS_WEBHOOK_SECRET: "" },
    });
    expect(response.status).toBe(401);
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
    expect(await transcriptRows(conversationId)).toHaveLength(2);
  });

  it("appends the turns the live webhook missed: 2 of 5 stored ends with 5, numbered 1..5", async () => {
    const call = await insertTestCall();
    await deliverLive(call, TURNS[0] as Turn);
    await deliverLive(call, TURNS[2] as Turn);
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: START,
      transcript: TURNS,
    });
    expect((await post(await signedPostCall(event))).status).toBe(200);
    const rows = await transcriptRows(call.conversationId ?? "");
    expect(rows.map((row) => row.sequence_number)).toEqual([1, 2, 3, 4, 5]);
    // Stored ones first (as they were), then the missing ones in transcript order.
    expect(rows.map((row) => row.message)).toEqual(
      [TURNS[0], TURNS[2], TURNS[1], TURNS[3], TURNS[4]].map((t) => t?.message),
    );
    expect(new Date(rows[2]?.timestamp ?? 0).toISOString()).toBe(
      new Date((START + 3) * 1000).toISOString(),
    );
    const [counter] = await testSql.query("SELECT last_sequence_number FROM calls WHERE id = $1", [
      call.id,
    ]);
    expect(counter).toEqual({ last_sequence_number: 5 });
  });

  it("matches repeated words occurrence by occurrence", async () => {
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
    await post(await signedPostCall(event));
    expect(await transcriptRows(call.conversationId ?? "")).toHaveLength(3);
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

  it("still stores a late live utterance after COMPLETED, and the status stays COMPLETED", async () => {
    const call = await insertTestCall();
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: START,
      transcript: TURNS.slice(0, 2),
    });
    await post(await signedPostCall(event));
    await deliverLive(call, { role: "agent", message: "One more thing.", time_in_call_secs: 30 });
    expect((await callState(call))?.status).toBe("COMPLETED");
    expect(
      (await transcriptRows(call.conversationId ?? "")).map((row) => row.sequence_number),
    ).toEqual([1, 2, 3]);
  });

  it("never reopens a FAILED call, and does not complete it", async () => {
    const call = await insertTestCall({ status: "FAILED" });
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: START,
      transcript: [],
    });
    await post(await signedPostCall(event));
    expect((await callState(call))?.status).toBe("FAILED");
  });

  it("answers 200 ignored for an unknown call and writes nothing", async () => {
    const conversationId = `conv_unknown_${crypto.randomUUID()}`;
    const event = transcriptionEvent({
      conversationId,
      callSid: "EL_0_0_unknown",
      startTimeUnixSecs: START,
      transcript: TURNS,
    });
    const { status, body } = await post(await signedPostCall(event));
    expect(status).toBe(200);
    expect(body).toEqual({ status: "ignored" });
    expect(await transcriptRows(conversationId)).toHaveLength(0);
  });

  it("answers 400 for a signed but malformed transcription event", async () => {
    const call = await insertTestCall();
    const event = transcriptionEvent({
      conversationId: call.conversationId ?? "",
      callSid: call.callSid,
      startTimeUnixSecs: START,
      transcript: TURNS,
    });
    (event.data.metadata as Record<string, unknown>).start_time_unix_secs = "yesterday";
    const response = await callWorker(await signedPostCall(event));
    expect(response.status).toBe(400);
    expect((await readError(response)).error.code).toBe("invalid_request");
    expect((await callState(call))?.status).toBe("IN_PROGRESS");
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
