// The local ElevenLabs simulator, in Node: its answers, endings (0601 to 0608 included),
// chaos, in-flight counting, plan concurrency, call length, stats and the webhooks it plays,
// checked against our own signature verifier and outbound-call client. Its shapes are also held by ElevenLabs' SDK
// in elevenlabs-sdk-shapes.test.ts.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type ChaosDelivery,
  type OutgoingWebhook,
  postgresCallRowProbe,
  type RunningSimulator,
  type SimulatorOptions,
  type SimulatorStats,
  startElevenLabsSimulator,
} from "../../scripts/lib/elevenlabs-simulator.ts";
import { startPostgres } from "../../scripts/lib/embedded-postgres.ts";
import { applyMigrations } from "../../scripts/lib/migrations.ts";
import { createElevenLabsClient, ElevenLabsUnavailableError } from "../../src/elevenlabs/client.ts";
import { verifyElevenLabsSignature } from "../../src/elevenlabs/signature.ts";

const TOKEN = "sim-test-token";
const SECRET = "sim-test-secret";
const API_KEY = "sim-test-key";

const running: RunningSimulator[] = [];

async function simulator(options: Partial<SimulatorOptions> = {}): Promise<RunningSimulator> {
  const started = await startElevenLabsSimulator({
    transcriptionToken: TOKEN,
    webhookSecret: SECRET,
    playbackDelayMs: 10,
    ...options,
  });
  running.push(started);
  return started;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((started) => started.stop()));
});

let sequence = 0;
function freshCallSid(): string {
  sequence += 1;
  return `EL_${1_000_000 + sequence}_${Math.floor(Date.now() / 1000)}`;
}

function outboundBody(toNumber: string, dynamicVariables: Record<string, unknown> = {}) {
  return {
    agent_id: "agent_sim",
    agent_phone_number_id: "phnum_sim",
    to_number: toNumber,
    conversation_initiation_client_data: { dynamic_variables: dynamicVariables },
  };
}

function placeCall(
  sim: RunningSimulator,
  toNumber: string,
  dynamicVariables: Record<string, unknown> = {},
  init: RequestInit = {},
): Promise<Response> {
  return fetch(`${sim.url}/v1/convai/twilio/outbound-call`, {
    method: "POST",
    headers: { "content-type": "application/json", "xi-api-key": API_KEY },
    body: JSON.stringify(outboundBody(toNumber, dynamicVariables)),
    ...init,
  });
}

function clientFor(sim: RunningSimulator, timeoutMs = 2_000) {
  return createElevenLabsClient({
    apiKey: API_KEY,
    baseUrl: sim.url,
    agentId: "agent_sim",
    agentPhoneNumberId: "phnum_sim",
    timeoutMs,
  });
}

async function verify(webhook: OutgoingWebhook) {
  return verifyElevenLabsSignature({
    header: webhook.headers["ElevenLabs-Signature"],
    rawBody: webhook.body,
    secret: SECRET,
    now: new Date(),
  });
}

interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  at: number;
}

/** A stand-in Worker: records each webhook, and calls `onRequest` as it arrives. */
async function receiver(
  status: (path: string) => number = () => 200,
  onRequest: (path: string) => void = () => {},
) {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const path = request.url ?? "/";
      onRequest(path);
      received.push({
        path,
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: Date.now(),
      });
      response.writeHead(status(path), { "content-type": "application/json" });
      response.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function getConversationRaw(sim: RunningSimulator, conversationId: string) {
  const response = await fetch(`${sim.url}/v1/convai/conversations/${conversationId}`, {
    headers: { "xi-api-key": API_KEY },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as any;
}

async function stats(sim: RunningSimulator): Promise<SimulatorStats> {
  const response = await fetch(`${sim.url}/simulator/stats`);
  expect(response.status).toBe(200);
  return (await response.json()) as SimulatorStats;
}

/** The simulator's webhooks for a call: live utterances, and the final post-call event. */
function splitWebhooks(webhooks: OutgoingWebhook[]) {
  const live = webhooks
    .filter((webhook) => webhook.kind === "transcription")
    .map((webhook) => JSON.parse(webhook.body) as Record<string, string>);
  const finals = webhooks.filter((webhook) => webhook.kind === "post_call");
  expect(finals).toHaveLength(1);
  const final = finals[0] as OutgoingWebhook;
  return { live, final, event: JSON.parse(final.body) as any };
}

describe("POST /v1/convai/twilio/outbound-call", () => {
  it("answers like ElevenLabs and records the request", async () => {
    const sim = await simulator();
    const callSid = freshCallSid();
    const response = await placeCall(sim, "+15551230042", { call_sid: callSid, driver_id: 42 });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      success: true,
      message: "Success",
      conversation_id: expect.stringMatching(/^conv_sim_[0-9a-f]+$/),
      callSid: expect.stringMatching(/^CA[0-9a-f]{32}$/),
    });
    expect(sim.records()).toEqual([
      {
        at: expect.any(Number),
        toNumberLast4: "0042",
        callSid,
        dynamicVariables: { call_sid: callSid, driver_id: 42 },
        inFlightAtArrival: 1,
        callRowExisted: null,
        conversationIdWasNull: null,
        outcome: "success",
        conversationId: body.conversation_id,
        chaosBehaviour: null,
        chaosDelivery: null,
      },
    ]);
  });

  it("answers 401 without the configured xi-api-key", async () => {
    const sim = await simulator({ apiKey: API_KEY });
    const response = await placeCall(
      sim,
      "+15551230042",
      {},
      { headers: { "xi-api-key": "wrong" } },
    );
    expect(response.status).toBe(401);
    expect(sim.records()).toEqual([]);
  });

  it("answers 422 in FastAPI's shape when a required field is missing", async () => {
    const sim = await simulator();
    const response = await fetch(`${sim.url}/v1/convai/twilio/outbound-call`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to_number: "+15551230042" }),
    });
    expect(response.status).toBe(422);
    const body = (await response.json()) as { detail: { loc: string[] }[] };
    expect(body.detail.map((item) => item.loc[1])).toEqual(["agent_id", "agent_phone_number_id"]);
  });

  it("answers HTTP 500 for numbers ending in 0500", async () => {
    const sim = await simulator();
    const response = await placeCall(sim, "+15551230500");
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ detail: "Internal server error" });
  });

  it("answers 422 with a detail list for numbers ending in 0422", async () => {
    const sim = await simulator();
    const response = await placeCall(sim, "+15551230422");
    expect(response.status).toBe(422);
    expect(await response.json()).toEqual({
      detail: [{ loc: ["body", "to_number"], msg: "invalid phone number", type: "value_error" }],
    });
  });

  it("answers success:false for numbers ending in 0200", async () => {
    const sim = await simulator();
    const response = await placeCall(sim, "+15551230200");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      success: false,
      message: "Call could not be placed",
      conversation_id: null,
      callSid: null,
    });
  });

  it("answers a non-JSON 200 body for numbers ending in 0299", async () => {
    const sim = await simulator();
    const response = await placeCall(sim, "+15551230299");
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("<html>oops</html>");
  });

  it("never answers numbers ending in 0408, until the client gives up", async () => {
    const sim = await simulator();
    const startedAt = Date.now();
    await expect(
      placeCall(sim, "+15551230408", {}, { signal: AbortSignal.timeout(150) }),
    ).rejects.toMatchObject({ name: "TimeoutError" });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(140);
    expect(sim.records()[0]).toMatchObject({ toNumberLast4: "0408", outcome: "no_answer" });
    // The held request no longer counts once the client closed it.
    const next = await placeCall(sim, "+15551230001");
    expect(next.status).toBe(200);
    expect(sim.records()[1]?.inFlightAtArrival).toBe(1);
  });

  it("stop() ends a held 0408 request instead of hanging", async () => {
    const sim = await startElevenLabsSimulator({
      transcriptionToken: TOKEN,
      webhookSecret: SECRET,
    });
    const held = placeCall(sim, "+15551230408");
    await waitFor(() => sim.records().length === 1);
    await sim.stop();
    await expect(held).rejects.toThrow();
  });

  it("counts the requests in flight when each one arrives", async () => {
    const sim = await simulator({ latencyMs: 200 });
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, index) => placeCall(sim, `+1555123010${index}`)),
    );
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(sim.maxInFlight()).toBe(6);
    expect(
      sim
        .records()
        .map((record) => record.inFlightAtArrival)
        .sort(),
    ).toEqual([1, 2, 3, 4, 5, 6]);

    sim.reset();
    sim.setLatency(20);
    for (const index of [1, 2, 3]) await placeCall(sim, `+1555123020${index}`);
    expect(sim.maxInFlight()).toBe(1);
    expect(sim.records().map((record) => record.inFlightAtArrival)).toEqual([1, 1, 1]);
  });

  it("waits latencyMs before answering", async () => {
    const sim = await simulator({ latencyMs: 150 });
    const startedAt = Date.now();
    await placeCall(sim, "+15551230042");
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(140);
  });

  it("asks callRowProbe about our call_sid when the request arrives", async () => {
    const asked: string[] = [];
    const sim = await simulator({
      callRowProbe: async (callSid) => {
        asked.push(callSid);
        if (callSid.startsWith("EL_broken")) throw new Error("database down");
        return { exists: true, conversationIdIsNull: true };
      },
      log: () => {},
    });
    const callSid = freshCallSid();
    await placeCall(sim, "+15551230042", { call_sid: callSid });
    await placeCall(sim, "+15551230043", { call_sid: "EL_broken_1" });
    await placeCall(sim, "+15551230044");
    expect(asked).toEqual([callSid, "EL_broken_1"]);
    expect(
      sim.records().map((record) => [record.callRowExisted, record.conversationIdWasNull]),
    ).toEqual([
      [true, true],
      [null, null],
      [null, null],
    ]);
  });
});

describe("our outbound-call client against the simulator", () => {
  it("maps every mode to its result", async () => {
    const sim = await simulator({ apiKey: API_KEY });
    const client = clientFor(sim, 300);
    const place = (toNumber: string) =>
      client.placeOutboundCall({ toNumber, dynamicVariables: { call_sid: freshCallSid() } });

    expect(await place("+15551230042")).toEqual({
      ok: true,
      conversationId: expect.stringMatching(/^conv_sim_/),
      twilioCallSid: expect.stringMatching(/^CA/),
    });
    expect(await place("+15551230500")).toMatchObject({ ok: false, httpStatus: 500 });
    expect(await place("+15551230422")).toMatchObject({
      ok: false,
      code: "elevenlabs_http_error",
      httpStatus: 422,
      reason: expect.stringContaining("invalid phone number"),
    });
    expect(await place("+15551230200")).toMatchObject({
      ok: false,
      code: "elevenlabs_rejected",
      reason: expect.stringContaining("Call could not be placed"),
    });
    expect(await place("+15551230299")).toMatchObject({
      ok: false,
      code: "elevenlabs_bad_response",
    });
    expect(await place("+15551230408")).toMatchObject({ ok: false, code: "elevenlabs_timeout" });
    const busy = await place("+15551230486");
    expect(busy.ok).toBe(true);
  });

  it("reports elevenlabs_unreachable when nothing listens", async () => {
    const sim = await simulator();
    const url = sim.url;
    await sim.stop();
    running.splice(running.indexOf(sim), 1);
    const client = createElevenLabsClient({
      apiKey: API_KEY,
      baseUrl: url,
      agentId: "a",
      agentPhoneNumberId: "p",
    });
    expect(
      await client.placeOutboundCall({ toNumber: "+15551230042", dynamicVariables: {} }),
    ).toMatchObject({ ok: false, code: "elevenlabs_unreachable" });
  });
});

describe("playing a call into the outbox", () => {
  it("queues the utterances, then a signed post_call_transcription with the same turns, one reworded", async () => {
    const sim = await simulator();
    const callSid = freshCallSid();
    const dynamicVariables = {
      call_sid: callSid,
      driver_id: 7,
      driver_name: "Ana Ruiz",
      urgent: true,
      note: null,
    };
    const answer = (await (await placeCall(sim, "+15551230042", dynamicVariables)).json()) as {
      conversation_id: string;
    };
    await sim.played();

    const webhooks = sim.outbox(callSid);
    expect(webhooks.map((webhook) => [webhook.kind, webhook.url])).toEqual([
      ["transcription", "/webhooks/elevenlabs/transcription"],
      ["transcription", "/webhooks/elevenlabs/transcription"],
      ["transcription", "/webhooks/elevenlabs/transcription"],
      ["post_call", "/webhooks/elevenlabs/post-call"],
    ]);
    expect(sim.outbox(callSid)).toEqual([]);

    const utterances = webhooks.slice(0, 3).map((webhook) => {
      expect(webhook.headers.Authorization).toBe(`Bearer ${TOKEN}`);
      expect(webhook.conversationId).toBe(answer.conversation_id);
      return JSON.parse(webhook.body) as Record<string, string>;
    });
    expect(utterances.map((utterance) => utterance.speaker)).toEqual(["agent", "user", "agent"]);
    for (const utterance of utterances) {
      expect(Object.keys(utterance).sort()).toEqual([
        "call_sid",
        "message",
        "speaker",
        "timestamp",
      ]);
      expect(utterance.call_sid).toBe(callSid);
      expect(utterance.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }

    const postCall = webhooks[3] as OutgoingWebhook;
    expect(await verify(postCall)).toEqual({ ok: true, timestamp: expect.any(Number) });
    const event = JSON.parse(postCall.body);
    expect(event).toMatchObject({
      type: "post_call_transcription",
      event_timestamp: expect.any(Number),
      data: {
        agent_id: "agent_sim",
        conversation_id: answer.conversation_id,
        status: "done",
        metadata: {
          start_time_unix_secs: expect.any(Number),
          call_duration_secs: expect.any(Number),
          termination_reason: expect.any(String),
        },
        conversation_initiation_client_data: { dynamic_variables: dynamicVariables },
      },
    });
    // Both webhooks place each turn at the same instant: timestamp = start +
    // time_in_call_secs. The words match too, except the first agent turn: the webhook
    // tool's message is written by the agent's LLM, not copied from the transcript.
    const start = event.data.metadata.start_time_unix_secs as number;
    const fromTranscript = event.data.transcript.map(
      (turn: { role: string; message: string; time_in_call_secs: number }) => ({
        speaker: turn.role,
        message: turn.message,
        timestamp: new Date((start + turn.time_in_call_secs) * 1000).toISOString(),
        call_sid: callSid,
      }),
    );
    expect(fromTranscript[0]?.message).toBe(
      "Hi Ana Ruiz, this is the fleet safety team calling about recent violations on your record. Do you have a minute?",
    );
    expect(utterances[0]?.message).toBe(
      "Hi Ana Ruiz, this is the fleet safety team, calling about some recent violations on your record. Do you have a minute?",
    );
    expect(utterances).toEqual([
      { ...fromTranscript[0], message: utterances[0]?.message },
      fromTranscript[1],
      fromTranscript[2],
    ]);
    expect(event.data.metadata.call_duration_secs).toBeGreaterThan(
      event.data.transcript.at(-1).time_in_call_secs,
    );
  });

  it("plays the whole call within about two seconds at the default pace", async () => {
    const sim = await simulator({ playbackDelayMs: undefined });
    const callSid = freshCallSid();
    const startedAt = Date.now();
    await placeCall(sim, "+15551230042", { call_sid: callSid });
    await sim.played();
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(sim.outbox(callSid)).toHaveLength(4);
  });

  it("keeps calls apart in the outbox and returns everything without a call_sid filter", async () => {
    const sim = await simulator();
    const [first, second] = [freshCallSid(), freshCallSid()];
    await Promise.all([
      placeCall(sim, "+15551230042", { call_sid: first }),
      placeCall(sim, "+15551230043", { call_sid: second }),
    ]);
    await sim.played();
    expect(sim.outbox(first).every((webhook) => webhook.callSid === first)).toBe(true);
    const rest = sim.outbox();
    expect(rest).toHaveLength(4);
    expect(rest.every((webhook) => webhook.callSid === second)).toBe(true);
    expect(sim.outbox()).toEqual([]);
  });

  it("sends a signed call_initiation_failure (busy) for numbers ending in 0486", async () => {
    const sim = await simulator();
    const callSid = freshCallSid();
    const answer = (await (await placeCall(sim, "+15551230486", { call_sid: callSid })).json()) as {
      success: boolean;
      conversation_id: string;
    };
    expect(answer.success).toBe(true);
    await sim.played();

    const webhooks = sim.outbox(callSid);
    expect(webhooks.map((webhook) => webhook.kind)).toEqual(["post_call"]);
    const webhook = webhooks[0] as OutgoingWebhook;
    expect(webhook.conversationId).toBe(answer.conversation_id);
    expect(await verify(webhook)).toMatchObject({ ok: true });
    expect(JSON.parse(webhook.body)).toMatchObject({
      type: "call_initiation_failure",
      event_timestamp: expect.any(Number),
      data: {
        agent_id: "agent_sim",
        conversation_id: answer.conversation_id,
        failure_reason: "busy",
        metadata: { type: "twilio", body: { CallStatus: "busy" } },
      },
    });
    expect(
      await verifyElevenLabsSignature({
        header: webhook.headers["ElevenLabs-Signature"],
        rawBody: webhook.body,
        secret: "another-secret",
        now: new Date(),
      }),
    ).toEqual({ ok: false, reason: "mismatch" });
  });

  it("sends no webhooks for calls ElevenLabs refused", async () => {
    const sim = await simulator();
    for (const suffix of ["0500", "0422", "0200", "0299"]) {
      await placeCall(sim, `+1555123${suffix}`, { call_sid: freshCallSid() });
    }
    await sim.played();
    expect(sim.outbox()).toEqual([]);
  });
});

describe("GET /v1/convai/conversations/{id}", () => {
  it("describes a call in progress, then done with its transcript and analysis", async () => {
    const sim = await simulator({ playbackDelayMs: 100, apiKey: API_KEY });
    const client = clientFor(sim);
    const callSid = freshCallSid();
    const placed = await client.placeOutboundCall({
      toNumber: "+15551230042",
      dynamicVariables: { call_sid: callSid, driver_id: 9 },
    });
    if (!placed.ok) throw new Error(placed.reason);

    expect(await client.getConversation(placed.conversationId)).toMatchObject({
      status: "in-progress",
    });
    const during = await getConversationRaw(sim, placed.conversationId);
    expect(during).toMatchObject({
      conversation_id: placed.conversationId,
      status: "in-progress",
      analysis: null,
      has_audio: false,
      metadata: {
        call_duration_secs: 0,
        termination_reason: "",
        phone_call: { call_result: null, external_number: "+15551230042" },
      },
    });

    await sim.played();
    expect(await client.getConversation(placed.conversationId)).toMatchObject({ status: "done" });
    const after = await getConversationRaw(sim, placed.conversationId);
    expect(after).toMatchObject({
      agent_id: "agent_sim",
      conversation_id: placed.conversationId,
      status: "done",
      has_audio: true,
      has_user_audio: true,
      has_response_audio: true,
      has_auxiliary_audio: false,
      metadata: {
        start_time_unix_secs: expect.any(Number),
        call_duration_secs: expect.any(Number),
        termination_reason: "end_call tool was called.",
        phone_call: {
          type: "twilio",
          direction: "outbound",
          phone_number_id: "phnum_sim",
          agent_number: "+15550000000",
          external_number: "+15551230042",
          call_result: "answered",
          stream_sid: expect.stringMatching(/^MZ[0-9a-f]{32}$/),
          call_sid: placed.twilioCallSid,
        },
        features_usage: { voicemail_detection: { enabled: true, used: false } },
      },
      conversation_initiation_client_data: {
        dynamic_variables: { call_sid: callSid, driver_id: 9 },
      },
    });
    expect(
      after.transcript.map((turn: { role: string; tool_calls: unknown[] }) => [
        turn.role,
        turn.tool_calls,
      ]),
    ).toEqual([
      ["agent", []],
      ["user", []],
      ["agent", []],
    ]);
    // The analysis the post-call webhook carried, word for word.
    const { event } = splitWebhooks(sim.outbox(callSid));
    expect(after.analysis).toEqual(event.data.analysis);
    expect(after.analysis.call_successful).toBe("success");
  });

  it("answers 404 conversation_not_found for an unknown id and 503 for conv_down_ ids", async () => {
    const sim = await simulator();
    const unknown = await fetch(`${sim.url}/v1/convai/conversations/conv_nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ detail: { status: "conversation_not_found" } });
    const down = await fetch(`${sim.url}/v1/convai/conversations/conv_down_1`);
    expect(down.status).toBe(503);

    const client = clientFor(sim);
    expect(await client.getConversation("conv_nope")).toBeNull();
    await expect(client.getConversation("conv_down_1")).rejects.toBeInstanceOf(
      ElevenLabsUnavailableError,
    );
  });
});

describe("control endpoints over HTTP", () => {
  it("sets latency, lists records, drains the outbox and resets", async () => {
    const sim = await simulator();
    const latency = await fetch(`${sim.url}/__sim/latency`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ms: 120 }),
    });
    expect(latency.status).toBe(200);
    const callSid = freshCallSid();
    const startedAt = Date.now();
    await placeCall(sim, "+15551230042", { call_sid: callSid });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(110);

    const records = (await (await fetch(`${sim.url}/__sim/records`)).json()) as {
      records: { callSid: string }[];
      max_in_flight: number;
    };
    expect(records.records.map((record) => record.callSid)).toEqual([callSid]);
    expect(records.max_in_flight).toBe(1);

    expect((await fetch(`${sim.url}/__sim/played`)).status).toBe(200);
    const outbox = (await (await fetch(`${sim.url}/__sim/outbox?call_sid=${callSid}`)).json()) as {
      webhooks: OutgoingWebhook[];
    };
    expect(outbox.webhooks.map((webhook) => webhook.kind)).toEqual([
      "transcription",
      "transcription",
      "transcription",
      "post_call",
    ]);
    expect(await verify(outbox.webhooks[3] as OutgoingWebhook)).toMatchObject({ ok: true });

    expect((await fetch(`${sim.url}/__sim/reset`, { method: "POST" })).status).toBe(200);
    expect(await (await fetch(`${sim.url}/__sim/records`)).json()).toEqual({
      records: [],
      max_in_flight: 0,
    });
    const bad = await fetch(`${sim.url}/__sim/latency`, { method: "POST", body: "{}" });
    expect(bad.status).toBe(400);
  });
});

describe("delivering to a webhookBaseUrl", () => {
  it("POSTs the utterances and the signed post-call webhook to the Worker, in order", async () => {
    const worker = await receiver(() => 200);
    try {
      const sim = await simulator({ webhookBaseUrl: `${worker.url}/` });
      const callSid = freshCallSid();
      await placeCall(sim, "+15551230042", { call_sid: callSid });
      await sim.played();

      expect(sim.outbox()).toEqual([]);
      expect(worker.received.map((request) => request.path)).toEqual([
        "/webhooks/elevenlabs/transcription",
        "/webhooks/elevenlabs/transcription",
        "/webhooks/elevenlabs/transcription",
        "/webhooks/elevenlabs/post-call",
      ]);
      for (const request of worker.received.slice(0, 3)) {
        expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
        expect(request.headers["content-type"]).toBe("application/json");
        expect(JSON.parse(request.body)).toMatchObject({ call_sid: callSid });
      }
      const postCall = worker.received[3] as Received;
      expect(
        await verifyElevenLabsSignature({
          header: postCall.headers["elevenlabs-signature"] as string,
          rawBody: postCall.body,
          secret: SECRET,
          now: new Date(),
        }),
      ).toMatchObject({ ok: true });
    } finally {
      await worker.close();
    }
  });

  it("logs a webhook the Worker refuses instead of throwing", async () => {
    const worker = await receiver((path) => (path.endsWith("post-call") ? 500 : 200));
    const lines: string[] = [];
    try {
      const sim = await simulator({ webhookBaseUrl: worker.url, log: (line) => lines.push(line) });
      await placeCall(sim, "+15551230042", { call_sid: freshCallSid() });
      await sim.played();
      expect(worker.received).toHaveLength(4);
      expect(
        lines.some((line) => line.includes("post_call webhook") && line.includes("HTTP 500")),
      ).toBe(true);
    } finally {
      await worker.close();
    }
  });

  it("logs an unreachable Worker instead of throwing", async () => {
    const lines: string[] = [];
    const sim = await simulator({
      webhookBaseUrl: "http://127.0.0.1:9",
      log: (line) => lines.push(line),
    });
    await placeCall(sim, "+15551230042", { call_sid: freshCallSid() });
    await sim.played();
    expect(
      lines.filter((line) => line.includes("webhook") && line.includes("failed")),
    ).toHaveLength(4);
  });
});

describe("the live transcription messages", () => {
  it("match the final transcript word for word with verbatimLiveMessages", async () => {
    const sim = await simulator({ verbatimLiveMessages: true });
    const callSid = freshCallSid();
    await placeCall(sim, "+15551230042", { call_sid: callSid, driver_name: "Ana Ruiz" });
    await sim.played();
    const { live, event } = splitWebhooks(sim.outbox(callSid));
    expect(live.map((utterance) => utterance.message)).toEqual(
      event.data.transcript.map((turn: { message: string }) => turn.message),
    );
  });
});

describe("endings by the last four digits", () => {
  it("0487: accepted, then a signed call_initiation_failure no-answer", async () => {
    const sim = await simulator();
    const callSid = freshCallSid();
    const answer = (await (await placeCall(sim, "+15551230487", { call_sid: callSid })).json()) as {
      success: boolean;
      conversation_id: string;
      callSid: string;
    };
    expect(answer.success).toBe(true);
    await sim.played();
    const webhooks = sim.outbox(callSid);
    expect(webhooks.map((webhook) => webhook.kind)).toEqual(["post_call"]);
    const webhook = webhooks[0] as OutgoingWebhook;
    expect(await verify(webhook)).toMatchObject({ ok: true });
    expect(JSON.parse(webhook.body)).toEqual({
      type: "call_initiation_failure",
      event_timestamp: expect.any(Number),
      data: {
        agent_id: "agent_sim",
        conversation_id: answer.conversation_id,
        failure_reason: "no-answer",
        metadata: {
          type: "twilio",
          body: {
            AccountSid: expect.stringMatching(/^AC[0-9a-f]{32}$/),
            ApiVersion: "2010-04-01",
            CallSid: answer.callSid,
            CallStatus: "no-answer",
            Direction: "outbound-api",
            From: "+15550000000",
            SipResponseCode: "487",
            To: "+15551230487",
          },
        },
      },
    });
    expect(await getConversationRaw(sim, answer.conversation_id)).toMatchObject({
      status: "failed",
      transcript: [],
      analysis: null,
      has_audio: false,
      metadata: {
        call_duration_secs: 0,
        termination_reason: "no-answer",
        phone_call: { call_result: "no_answer" },
      },
    });
    expect(sim.records()[0]).toMatchObject({ outcome: "no_answer_failure" });
  });

  it("0486 is still busy, now with the conversation's call_result", async () => {
    const sim = await simulator();
    const answer = (await (await placeCall(sim, "+15551230486")).json()) as {
      conversation_id: string;
    };
    await sim.played();
    expect(await getConversationRaw(sim, answer.conversation_id)).toMatchObject({
      status: "failed",
      metadata: { termination_reason: "busy", phone_call: { call_result: "busy" } },
    });
  });

  it("0488: voicemail, with the voicemail_detection tool call and result in the transcript", async () => {
    const sim = await simulator();
    const callSid = freshCallSid();
    const answer = (await (
      await placeCall(sim, "+15551230488", { call_sid: callSid, driver_name: "Ana Ruiz" })
    ).json()) as { conversation_id: string };
    await sim.played();
    const webhooks = sim.outbox(callSid);
    // Tool-call turns (message null) are not posted live.
    expect(webhooks.map((webhook) => webhook.kind)).toEqual([
      "transcription",
      "transcription",
      "post_call",
    ]);
    const { live, final, event } = splitWebhooks(webhooks);
    expect(await verify(final)).toMatchObject({ ok: true });
    const voicemailMessage =
      "Hi Ana Ruiz, this is the fleet safety team calling about recent violations on your record. Please call us back when you can. Drive safe.";
    expect(live.map((utterance) => [utterance.speaker, utterance.message])).toEqual([
      [
        "user",
        "Hi, you've reached my voicemail. I can't take your call right now, please leave a message after the tone.",
      ],
      [
        "agent",
        "Hi Ana Ruiz, this is the fleet safety team, calling about some recent violations on your record. Please call us back when you can. Drive safe.",
      ],
    ]);

    expect(event.type).toBe("post_call_transcription");
    expect(event.data.conversation_id).toBe(answer.conversation_id);
    expect(event.data.status).toBe("done");
    const transcript = event.data.transcript as {
      role: string;
      message: string | null;
      tool_calls: Record<string, unknown>[];
      tool_results: Record<string, unknown>[];
    }[];
    expect(transcript.map((turn) => [turn.role, turn.message])).toEqual([
      ["user", expect.stringContaining("leave a message after the tone")],
      ["agent", null],
      ["agent", null],
      ["agent", voicemailMessage],
    ]);
    const reason = "The call was answered by a voicemail greeting asking to leave a message.";
    const requestId = transcript[1]?.tool_calls[0]?.request_id;
    expect(requestId).toMatch(/^voicemail_detection_[0-9a-f]{16}$/);
    expect(transcript[1]?.tool_calls).toEqual([
      {
        type: "system",
        request_id: requestId,
        tool_name: "voicemail_detection",
        params_as_json: JSON.stringify({ reason }),
        tool_has_been_called: true,
        tool_details: null,
      },
    ]);
    expect(transcript[1]?.tool_results).toEqual([]);
    expect(transcript[2]?.tool_calls).toEqual([]);
    const result = {
      result_type: "voicemail_detection_success",
      status: "success",
      voicemail_message: voicemailMessage,
      reason,
    };
    expect(transcript[2]?.tool_results).toEqual([
      {
        type: "system",
        request_id: requestId,
        tool_name: "voicemail_detection",
        result_value: JSON.stringify(result),
        is_error: false,
        tool_has_been_called: true,
        tool_latency_secs: 0.02,
        dynamic_variable_updates: [],
        result,
      },
    ]);
    expect(event.data.metadata).toMatchObject({
      termination_reason: "voicemail_detection tool was called.",
      features_usage: { voicemail_detection: { enabled: true, used: true } },
      phone_call: { call_result: "voicemail" },
    });
    const rationale = "The call reached voicemail; the driver was not spoken to.";
    expect(event.data.analysis).toEqual({
      call_successful: "failure",
      transcript_summary:
        "The call reached the driver's voicemail. The agent left a message asking the driver to call back.",
      call_summary_title: "Voicemail left",
      evaluation_criteria_results: {
        violations_reviewed: { criteria_id: "violations_reviewed", result: "failure", rationale },
      },
      data_collection_results: {
        acknowledged_violation: {
          data_collection_id: "acknowledged_violation",
          value: null,
          json_schema: {
            type: "boolean",
            description: "Whether the driver acknowledged the violations on their record.",
          },
          rationale,
        },
        disputes_violation: {
          data_collection_id: "disputes_violation",
          value: null,
          json_schema: {
            type: "boolean",
            description: "Whether the driver disputed any of the violations.",
          },
          rationale,
        },
        opt_out: {
          data_collection_id: "opt_out",
          value: null,
          json_schema: {
            type: "boolean",
            description: "Whether the driver asked not to be called again.",
          },
          rationale,
        },
      },
    });
    expect(sim.records()[0]).toMatchObject({ outcome: "voicemail" });
  });

  it("0499: the driver asks for no more calls, and the analysis says opt_out", async () => {
    const sim = await simulator();
    const callSid = freshCallSid();
    await placeCall(sim, "+15551230499", { call_sid: callSid, driver_name: "Ana Ruiz" });
    await sim.played();
    const { live, final, event } = splitWebhooks(sim.outbox(callSid));
    expect(await verify(final)).toMatchObject({ ok: true });
    expect(live.map((utterance) => utterance.speaker)).toEqual(["agent", "user", "agent"]);
    expect(live[1]?.message).toBe("No. Please take me off your list, I don't want any more calls.");
    expect(event.data.metadata.termination_reason).toBe("end_call tool was called.");
    const analysis = event.data.analysis;
    expect(analysis.call_successful).toBe("failure");
    expect(analysis.call_summary_title).toBe("Driver opted out");
    expect(
      Object.fromEntries(
        Object.entries(analysis.data_collection_results as Record<string, { value: unknown }>).map(
          ([id, result]) => [id, result.value],
        ),
      ),
    ).toEqual({ acknowledged_violation: null, disputes_violation: null, opt_out: true });
    expect(analysis.data_collection_results.opt_out).toEqual({
      data_collection_id: "opt_out",
      value: true,
      json_schema: {
        type: "boolean",
        description: "Whether the driver asked not to be called again.",
      },
      rationale: "The driver asked to be taken off the call list.",
    });
    expect(sim.records()[0]).toMatchObject({ outcome: "opt_out" });
  });

  it("ordinary calls: a successful analysis, acknowledged and not disputed", async () => {
    const sim = await simulator();
    const callSid = freshCallSid();
    await placeCall(sim, "+15551230042", { call_sid: callSid });
    await sim.played();
    const { event } = splitWebhooks(sim.outbox(callSid));
    expect(event.data.analysis).toEqual({
      call_successful: "success",
      transcript_summary:
        "The agent went over the driver's recent violations. The driver acknowledged them, disputed none, and will receive a written summary.",
      call_summary_title: "Violations reviewed",
      evaluation_criteria_results: {
        violations_reviewed: {
          criteria_id: "violations_reviewed",
          result: "success",
          rationale: "The agent went over the violations with the driver.",
        },
      },
      data_collection_results: {
        acknowledged_violation: {
          data_collection_id: "acknowledged_violation",
          value: true,
          json_schema: {
            type: "boolean",
            description: "Whether the driver acknowledged the violations on their record.",
          },
          rationale: "The driver listened and acknowledged the violations.",
        },
        disputes_violation: {
          data_collection_id: "disputes_violation",
          value: false,
          json_schema: {
            type: "boolean",
            description: "Whether the driver disputed any of the violations.",
          },
          rationale: "The driver did not dispute any violation.",
        },
        opt_out: {
          data_collection_id: "opt_out",
          value: false,
          json_schema: {
            type: "boolean",
            description: "Whether the driver asked not to be called again.",
          },
          rationale: "The driver did not ask to stop the calls.",
        },
      },
    });
    expect(event.data.metadata.features_usage).toEqual({
      voicemail_detection: { enabled: true, used: false },
    });
  });
});

describe("plan concurrency (maxLiveCalls)", () => {
  it("refuses a call over the plan with ElevenLabs' 429, counts it, never makes it live or plays it", async () => {
    const sim = await simulator({ maxLiveCalls: 2, callSeconds: 1 });
    const [first, second, third] = [freshCallSid(), freshCallSid(), freshCallSid()];
    expect((await placeCall(sim, "+15551230042", { call_sid: first })).status).toBe(200);
    expect((await placeCall(sim, "+15551230043", { call_sid: second })).status).toBe(200);
    const refused = await placeCall(sim, "+15551230044", { call_sid: third });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({
      detail: {
        status: "too_many_concurrent_requests",
        message: "Too many concurrent calls: your plan allows 2 at once.",
      },
    });
    expect(await stats(sim)).toEqual({
      live: 2,
      max_live: 2,
      plan_max_live_calls: 2,
      refused_for_concurrency: 1,
      dials: { "+15551230042": 1, "+15551230043": 1, "+15551230044": 1 },
    });
    expect(sim.records()[2]).toMatchObject({
      callSid: third,
      outcome: "too_many_concurrent_requests",
      conversationId: null,
    });

    await sim.played();
    expect(sim.outbox(third)).toEqual([]);
    expect(sim.outbox(first).map((webhook) => webhook.kind)).toEqual([
      "transcription",
      "transcription",
      "transcription",
      "post_call",
    ]);
    expect(sim.stats()).toMatchObject({ live: 0, max_live: 2, refused_for_concurrency: 1 });
    // A slot is free again.
    expect((await placeCall(sim, "+15551230044", { call_sid: third })).status).toBe(200);
    expect(sim.stats()).toMatchObject({ live: 1, dials: { "+15551230044": 2 } });
  });

  it("counts a call live until its final webhook is sent, and no longer once it is", async () => {
    const liveAtArrival: [string, number][] = [];
    let sim: RunningSimulator | undefined;
    const worker = await receiver(
      () => 200,
      (path) => liveAtArrival.push([path, sim?.stats().live ?? -1]),
    );
    try {
      sim = await simulator({ maxLiveCalls: 1, webhookBaseUrl: worker.url });
      expect((await placeCall(sim, "+15551230042", { call_sid: freshCallSid() })).status).toBe(200);
      expect((await placeCall(sim, "+15551230043", { call_sid: freshCallSid() })).status).toBe(429);
      await sim.played();
      expect(liveAtArrival).toEqual([
        ["/webhooks/elevenlabs/transcription", 1],
        ["/webhooks/elevenlabs/transcription", 1],
        ["/webhooks/elevenlabs/transcription", 1],
        ["/webhooks/elevenlabs/post-call", 0],
      ]);
      expect((await placeCall(sim, "+15551230043", { call_sid: freshCallSid() })).status).toBe(200);
    } finally {
      await worker.close();
    }
  });

  it("holds calls that never connect (busy, no-answer) live until their failure webhook", async () => {
    const sim = await simulator({ maxLiveCalls: 1, callSeconds: 0.5 });
    expect((await placeCall(sim, "+15551230486")).status).toBe(200);
    expect((await placeCall(sim, "+15551230487")).status).toBe(429);
    await sim.played();
    expect((await placeCall(sim, "+15551230487")).status).toBe(200);
    expect(sim.stats().live).toBe(1);
    await sim.played();
    expect(await stats(sim)).toEqual({
      live: 0,
      max_live: 1,
      plan_max_live_calls: 1,
      refused_for_concurrency: 1,
      dials: { "+15551230486": 1, "+15551230487": 2 },
    });
  });

  it("checks only requests that would become live", async () => {
    const sim = await simulator({ maxLiveCalls: 0 });
    expect((await placeCall(sim, "+15551230500")).status).toBe(500);
    expect(
      ((await (await placeCall(sim, "+15551230200")).json()) as { success: boolean }).success,
    ).toBe(false);
    for (const suffix of ["0042", "0486", "0487", "0488", "0499"]) {
      expect((await placeCall(sim, `+1555123${suffix}`)).status).toBe(429);
    }
    await sim.played();
    expect(sim.outbox()).toEqual([]);
    expect(sim.stats()).toMatchObject({ live: 0, max_live: 0, refused_for_concurrency: 5 });
  });

  it("is reported by our client as an HTTP 429 that names the plan", async () => {
    const sim = await simulator({ maxLiveCalls: 0, apiKey: API_KEY });
    const result = await clientFor(sim).placeOutboundCall({
      toNumber: "+15551230042",
      dynamicVariables: { call_sid: freshCallSid() },
    });
    expect(result).toMatchObject({
      ok: false,
      httpStatus: 429,
      reason: expect.stringContaining("Too many concurrent calls: your plan allows 0 at once."),
    });
  });

  it("changes at runtime through POST /__sim/plan; reset restores the start-up plan", async () => {
    const sim = await simulator({ maxLiveCalls: 3, callSeconds: 1.5 });
    const setPlan = (body: string) =>
      fetch(`${sim.url}/__sim/plan`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    const one = await setPlan(JSON.stringify({ max_live_calls: 1 }));
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ ok: true, max_live_calls: 1 });
    expect((await placeCall(sim, "+15551230042")).status).toBe(200);
    expect((await placeCall(sim, "+15551230043")).status).toBe(429);

    const unlimited = await setPlan(JSON.stringify({ max_live_calls: null }));
    expect(await unlimited.json()).toEqual({ ok: true, max_live_calls: null });
    expect((await placeCall(sim, "+15551230043")).status).toBe(200);
    expect(sim.stats().plan_max_live_calls).toBeNull();

    for (const bad of ["{}", '{"max_live_calls": -1}', '{"max_live_calls": 1.5}', "nope"]) {
      expect((await setPlan(bad)).status).toBe(400);
    }
    expect(sim.stats().plan_max_live_calls).toBeNull();

    expect((await fetch(`${sim.url}/__sim/reset`, { method: "POST" })).status).toBe(200);
    // The two calls still playing keep their slots; the counters start again.
    expect(await stats(sim)).toEqual({
      live: 2,
      max_live: 2,
      plan_max_live_calls: 3,
      refused_for_concurrency: 0,
      dials: {},
    });
    await sim.played();
    expect(sim.stats()).toMatchObject({ live: 0, max_live: 2 });
    sim.setPlan(0);
    expect((await placeCall(sim, "+15551230042")).status).toBe(429);
  });

  it("refuses invalid plans and call lengths", async () => {
    const base = { transcriptionToken: TOKEN, webhookSecret: SECRET };
    await expect(startElevenLabsSimulator({ ...base, maxLiveCalls: -1 })).rejects.toThrow(
      RangeError,
    );
    await expect(startElevenLabsSimulator({ ...base, maxLiveCalls: 2.5 })).rejects.toThrow(
      RangeError,
    );
    await expect(startElevenLabsSimulator({ ...base, callSeconds: -0.1 })).rejects.toThrow(
      RangeError,
    );
    await expect(startElevenLabsSimulator({ ...base, callSeconds: Number.NaN })).rejects.toThrow(
      RangeError,
    );
    const sim = await simulator();
    expect(() => sim.setPlan(-2)).toThrow(RangeError);
  });
});

describe("GET /simulator/stats", () => {
  it("counts live calls and dials per number, refused and failed requests included, until reset", async () => {
    const sim = await simulator({ apiKey: API_KEY, callSeconds: 1 });
    expect(await stats(sim)).toEqual({
      live: 0,
      max_live: 0,
      plan_max_live_calls: null,
      refused_for_concurrency: 0,
      dials: {},
    });
    await placeCall(sim, "+15551230042");
    await placeCall(sim, "+15551230042");
    await placeCall(sim, "+15551230500");
    await placeCall(sim, "+15551230200");
    // A body without agent_id is refused with 422, but it still dialled that number.
    await fetch(`${sim.url}/v1/convai/twilio/outbound-call`, {
      method: "POST",
      headers: { "content-type": "application/json", "xi-api-key": API_KEY },
      body: JSON.stringify({ to_number: "+15551230077" }),
    });
    // Without the API key the request never reaches ElevenLabs' call logic: not a dial.
    await placeCall(sim, "+15551230078", {}, { headers: { "xi-api-key": "wrong" } });
    // The stats endpoint itself needs no xi-api-key.
    expect(await stats(sim)).toEqual({
      live: 2,
      max_live: 2,
      plan_max_live_calls: null,
      refused_for_concurrency: 0,
      dials: { "+15551230042": 2, "+15551230500": 1, "+15551230200": 1, "+15551230077": 1 },
    });
    await sim.played();
    expect(await stats(sim)).toMatchObject({ live: 0, max_live: 2 });

    expect((await fetch(`${sim.url}/__sim/reset`, { method: "POST" })).status).toBe(200);
    expect(await stats(sim)).toEqual({
      live: 0,
      max_live: 0,
      plan_max_live_calls: null,
      refused_for_concurrency: 0,
      dials: {},
    });
  });
});

describe("call length (callSeconds)", () => {
  it("plays an accepted call over callSeconds, its turns spread evenly", async () => {
    const worker = await receiver();
    try {
      const sim = await simulator({ callSeconds: 0.8, webhookBaseUrl: worker.url });
      const before = Date.now();
      await placeCall(sim, "+15551230042", { call_sid: freshCallSid() });
      const answered = Date.now();
      await sim.played();
      expect(worker.received.map((request) => request.path.split("/").at(-1))).toEqual([
        "transcription",
        "transcription",
        "transcription",
        "post-call",
      ]);
      // Three turns and the final webhook: one every 200 ms after acceptance.
      worker.received.forEach((request, index) => {
        const due = 200 * (index + 1);
        expect(request.at - before).toBeGreaterThanOrEqual(due - 5);
        expect(request.at - answered).toBeLessThan(due + 300);
      });
    } finally {
      await worker.close();
    }
  });

  it("takes callSeconds for a call that never connects, fractions included", async () => {
    const sim = await simulator({ callSeconds: 0.3 });
    const callSid = freshCallSid();
    const before = Date.now();
    await placeCall(sim, "+15551230486", { call_sid: callSid });
    await sim.played();
    const elapsed = Date.now() - before;
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(1_000);
    expect(sim.outbox(callSid).map((webhook) => webhook.kind)).toEqual(["post_call"]);
  });

  it("reports the call's length in whole seconds, longer than its last turn", async () => {
    const sim = await simulator({ callSeconds: 1.2 });
    const callSid = freshCallSid();
    await placeCall(sim, "+15551230042", { call_sid: callSid });
    await sim.played();
    const { event } = splitWebhooks(sim.outbox(callSid));
    const metadata = event.data.metadata;
    expect(metadata.call_duration_secs).toBeGreaterThanOrEqual(1);
    expect(metadata.call_duration_secs).toBeLessThanOrEqual(3);
    expect(metadata.call_duration_secs).toBeGreaterThan(
      event.data.transcript.at(-1).time_in_call_secs,
    );
  });
});

describe("what else ElevenLabs may do (0601 to 0608)", () => {
  it("0601: accepted without a callSid key, then played like an ordinary call", async () => {
    const sim = await simulator({ apiKey: API_KEY });
    const callSid = freshCallSid();
    const response = await placeCall(sim, "+15551230601", { call_sid: callSid });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as Record<string, unknown>;
    expect(answer).toEqual({
      success: true,
      message: "Success",
      conversation_id: expect.stringMatching(/^conv_sim_[0-9a-f]+$/),
    });
    expect("callSid" in answer).toBe(false);
    await sim.played();
    const webhooks = sim.outbox(callSid);
    expect(webhooks.map((webhook) => webhook.kind)).toEqual([
      "transcription",
      "transcription",
      "transcription",
      "post_call",
    ]);
    const { final, event } = splitWebhooks(webhooks);
    expect(await verify(final)).toMatchObject({ ok: true });
    expect(event).toMatchObject({
      type: "post_call_transcription",
      data: { conversation_id: answer.conversation_id, status: "done" },
    });
    // ElevenLabs still knows Twilio's call: only the answer leaves it out.
    expect(await getConversationRaw(sim, answer.conversation_id as string)).toMatchObject({
      status: "done",
      metadata: { phone_call: { call_result: "answered", call_sid: expect.stringMatching(/^CA/) } },
    });
    expect(sim.records()[0]).toMatchObject({ outcome: "success_without_call_sid" });
    expect(sim.stats()).toMatchObject({ live: 0, max_live: 1 });
    expect(
      await clientFor(sim).placeOutboundCall({
        toNumber: "+15551230601",
        dynamicVariables: { call_sid: freshCallSid() },
      }),
    ).toMatchObject({ ok: true, conversationId: expect.stringMatching(/^conv_sim_/) });
  });

  it("0602: 200 success:false about a quota, with no other key; never live, no webhooks, not checked against the plan", async () => {
    const sim = await simulator({ maxLiveCalls: 0, apiKey: API_KEY });
    const callSid = freshCallSid();
    const response = await placeCall(sim, "+15551230602", { call_sid: callSid });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      success: false,
      message: "Workspace quota limit reached: out of credits.",
    });
    await sim.played();
    expect(sim.outbox()).toEqual([]);
    expect(sim.records()[0]).toMatchObject({ outcome: "quota_exceeded", conversationId: null });
    expect(await stats(sim)).toMatchObject({ live: 0, max_live: 0, refused_for_concurrency: 0 });
    expect(
      await clientFor(sim).placeOutboundCall({
        toNumber: "+15551230602",
        dynamicVariables: { call_sid: freshCallSid() },
      }),
    ).toMatchObject({ ok: false });
  });

  it("0603 with a webhookBaseUrl: the busy failure is delivered and answered before the outbound-call answer", async () => {
    const events: string[] = [];
    let failureBody = "";
    // A Worker that takes 200 ms to answer the webhook: the outbound-call answer waits.
    const worker = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        events.push(`webhook ${request.url}`);
        failureBody = Buffer.concat(chunks).toString("utf8");
        setTimeout(() => {
          events.push("webhook answered");
          response.writeHead(200, { "content-type": "application/json" }).end("{}");
        }, 200);
      });
    });
    await new Promise<void>((resolve) => worker.listen(0, "127.0.0.1", resolve));
    try {
      const sim = await simulator({
        webhookBaseUrl: `http://127.0.0.1:${(worker.address() as AddressInfo).port}`,
      });
      const callSid = freshCallSid();
      const response = await placeCall(sim, "+15551230603", { call_sid: callSid });
      events.push("answer");
      expect(response.status).toBe(200);
      const answer = (await response.json()) as { conversation_id: string; callSid: string };
      expect(answer).toEqual({
        success: true,
        message: "Success",
        conversation_id: expect.stringMatching(/^conv_sim_/),
        callSid: expect.stringMatching(/^CA/),
      });
      expect(events).toEqual([
        "webhook /webhooks/elevenlabs/post-call",
        "webhook answered",
        "answer",
      ]);
      expect(JSON.parse(failureBody)).toMatchObject({
        type: "call_initiation_failure",
        data: {
          conversation_id: answer.conversation_id,
          failure_reason: "busy",
          metadata: { body: { CallSid: answer.callSid, CallStatus: "busy" } },
        },
      });
      expect(await getConversationRaw(sim, answer.conversation_id)).toMatchObject({
        status: "failed",
        transcript: [],
        analysis: null,
        metadata: { termination_reason: "busy", phone_call: { call_result: "busy" } },
      });
      expect(sim.stats()).toMatchObject({ live: 0, max_live: 1 });
      expect(sim.records()[0]).toMatchObject({
        outcome: "busy_before_answer",
        conversationId: answer.conversation_id,
      });
    } finally {
      await new Promise<void>((resolve) => worker.close(() => resolve()));
    }
  });

  it("0603 in outbox mode: the answer waits until its failure webhook is taken out of the outbox", async () => {
    const sim = await simulator();
    const callSid = freshCallSid();
    let answered = false;
    const answer = placeCall(sim, "+15551230603", { call_sid: callSid }).then((response) => {
      answered = true;
      return response;
    });
    await waitFor(() => sim.records().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(answered).toBe(false);
    // Queued, so no longer live, while the answer is still held.
    expect(sim.stats()).toMatchObject({ live: 0, max_live: 1 });
    const webhooks = sim.outbox(callSid);
    expect(webhooks.map((webhook) => webhook.kind)).toEqual(["post_call"]);
    const failure = webhooks[0] as OutgoingWebhook;
    expect(await verify(failure)).toMatchObject({ ok: true });
    const response = await answer;
    expect(response.status).toBe(200);
    const body = (await response.json()) as { success: boolean; conversation_id: string };
    expect(body).toMatchObject({ success: true, conversation_id: failure.conversationId });
    expect(JSON.parse(failure.body)).toMatchObject({
      type: "call_initiation_failure",
      data: { conversation_id: body.conversation_id, failure_reason: "busy" },
    });
    expect(await getConversationRaw(sim, body.conversation_id)).toMatchObject({
      status: "failed",
      metadata: { phone_call: { call_result: "busy" } },
    });
  });

  it("0603 over HTTP: keep_answers_held takes the failure and holds the answer until release-held-answers", async () => {
    const sim = await simulator();
    const callSid = freshCallSid();
    let answered = false;
    const answer = placeCall(sim, "+15551230603", { call_sid: callSid }).then((response) => {
      answered = true;
      return response;
    });
    let webhooks: OutgoingWebhook[] = [];
    await waitForAsync(async () => {
      const taken = (await (
        await fetch(`${sim.url}/__sim/outbox?call_sid=${callSid}&keep_answers_held=1`)
      ).json()) as { webhooks: OutgoingWebhook[] };
      webhooks = taken.webhooks;
      return webhooks.length > 0;
    });
    expect(webhooks.map((webhook) => JSON.parse(webhook.body).type)).toEqual([
      "call_initiation_failure",
    ]);
    // Here a workerd test delivers the failure to the Worker, surely before the answer.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(answered).toBe(false);
    const released = await fetch(`${sim.url}/__sim/release-held-answers?call_sid=${callSid}`, {
      method: "POST",
    });
    expect(await released.json()).toEqual({ released: 1 });
    const body = (await (await answer).json()) as { conversation_id: string };
    expect(body.conversation_id).toBe(webhooks[0]?.conversationId);
    expect(sim.releaseHeldAnswers()).toBe(0);
  });

  it("0603 in outbox mode: an answer nobody releases goes out after 5 seconds", async () => {
    const sim = await simulator();
    const startedAt = Date.now();
    const response = await placeCall(sim, "+15551230603", { call_sid: freshCallSid() });
    expect(response.status).toBe(200);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(4_990);
    expect(sim.outbox().map((webhook) => webhook.kind)).toEqual(["post_call"]);
  }, 10_000);

  it("0603: reset sends a held answer at once", async () => {
    const sim = await simulator();
    const startedAt = Date.now();
    const answer = placeCall(sim, "+15551230603");
    await waitFor(() => sim.records().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    sim.reset();
    expect((await answer).status).toBe(200);
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(sim.outbox()).toEqual([]);
  });

  it("0604: played live, then 'processing' for ever with no post-call webhook; its plan slot is freed", async () => {
    const sim = await simulator({ maxLiveCalls: 1 });
    const callSid = freshCallSid();
    const answer = (await (await placeCall(sim, "+15551230604", { call_sid: callSid })).json()) as {
      conversation_id: string;
    };
    expect(sim.stats().live).toBe(1);
    await sim.played();
    expect(sim.outbox(callSid).map((webhook) => webhook.kind)).toEqual([
      "transcription",
      "transcription",
      "transcription",
    ]);
    expect(sim.stats()).toMatchObject({ live: 0, max_live: 1 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const conversation = await getConversationRaw(sim, answer.conversation_id);
    expect(conversation).toMatchObject({
      status: "processing",
      analysis: null,
      metadata: { phone_call: { call_result: "answered" } },
    });
    expect(conversation.transcript).toHaveLength(3);
    expect(sim.outbox()).toEqual([]);
    expect(sim.records()[0]).toMatchObject({ outcome: "stuck_processing" });
    // The slot is free: the plan takes another call.
    expect((await placeCall(sim, "+15551230042")).status).toBe(200);
  });

  it("0605: 'initiated', then 'failed' with call_result no_answer after the call's length, without any webhook", async () => {
    const sim = await simulator({ callSeconds: 0.3 });
    const callSid = freshCallSid();
    const before = Date.now();
    const answer = (await (await placeCall(sim, "+15551230605", { call_sid: callSid })).json()) as {
      success: boolean;
      conversation_id: string;
    };
    expect(answer.success).toBe(true);
    expect(await getConversationRaw(sim, answer.conversation_id)).toMatchObject({
      status: "initiated",
      metadata: { phone_call: { call_result: null } },
    });
    expect(sim.stats().live).toBe(1);
    await sim.played();
    expect(Date.now() - before).toBeGreaterThanOrEqual(295);
    expect(sim.outbox()).toEqual([]);
    expect(await getConversationRaw(sim, answer.conversation_id)).toMatchObject({
      status: "failed",
      transcript: [],
      analysis: null,
      has_audio: false,
      metadata: { call_duration_secs: 0, phone_call: { call_result: "no_answer" } },
    });
    expect(sim.stats()).toMatchObject({ live: 0, max_live: 1 });
    expect(sim.records()[0]).toMatchObject({ outcome: "failed_silently" });
  });

  it.each([
    ["reworded", false],
    ["verbatim", true],
  ])(
    "0606: a 15,000-character user turn in the final transcript goes live cut under 10,000 (%s live messages)",
    async (_name, verbatimLiveMessages) => {
      const sim = await simulator({ verbatimLiveMessages });
      const callSid = freshCallSid();
      const answer = (await (
        await placeCall(sim, "+15551230606", { call_sid: callSid })
      ).json()) as { conversation_id: string };
      await sim.played();
      const { live, final, event } = splitWebhooks(sim.outbox(callSid));
      expect(await verify(final)).toMatchObject({ ok: true });
      expect(live.map((utterance) => utterance.speaker)).toEqual(["agent", "user", "agent"]);
      const whole = event.data.transcript[1].message as string;
      expect(event.data.transcript[1].role).toBe("user");
      expect(whole).toHaveLength(15_000);
      const cut = live[1]?.message ?? "";
      expect(cut.length).toBeLessThanOrEqual(10_000);
      expect(cut.length).toBeGreaterThan(9_000);
      expect(cut.endsWith("…")).toBe(true);
      expect(whole.startsWith(cut.slice(0, -1))).toBe(true);
      expect((await getConversationRaw(sim, answer.conversation_id)).transcript[1].message).toBe(
        whole,
      );
      expect(event.data.analysis.call_successful).toBe("success");
    },
  );

  it("0607: played live, but the post-call webhook and GET carry an empty transcript", async () => {
    const sim = await simulator();
    const callSid = freshCallSid();
    const answer = (await (await placeCall(sim, "+15551230607", { call_sid: callSid })).json()) as {
      conversation_id: string;
    };
    await sim.played();
    const { live, final, event } = splitWebhooks(sim.outbox(callSid));
    expect(await verify(final)).toMatchObject({ ok: true });
    expect(live.map((utterance) => utterance.speaker)).toEqual(["agent", "user", "agent"]);
    expect(event.data).toMatchObject({ status: "done", transcript: [] });
    expect(event.data.analysis.call_successful).toBe("success");
    expect(event.data.metadata.phone_call.call_result).toBe("answered");
    expect(await getConversationRaw(sim, answer.conversation_id)).toMatchObject({
      status: "done",
      transcript: [],
    });
    expect(sim.records()[0]).toMatchObject({ outcome: "transcript_omitted" });
  });

  it("0608: the first dial of that exact number is refused 429 for concurrency, later ones are played", async () => {
    const sim = await simulator({ apiKey: API_KEY });
    const [first, second] = [freshCallSid(), freshCallSid()];
    const refused = await placeCall(sim, "+15551230608", { call_sid: first });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({
      detail: {
        status: "too_many_concurrent_requests",
        message: expect.stringContaining("concurrent"),
      },
    });
    const accepted = await placeCall(sim, "+15551230608", { call_sid: second });
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toMatchObject({
      success: true,
      conversation_id: expect.any(String),
    });
    // Another number with the same ending is dialled for the first time.
    expect((await placeCall(sim, "+15559990608")).status).toBe(429);
    await sim.played();
    expect(sim.outbox(first)).toEqual([]);
    expect(sim.outbox(second).map((webhook) => webhook.kind)).toEqual([
      "transcription",
      "transcription",
      "transcription",
      "post_call",
    ]);
    expect(sim.records().map((record) => [record.outcome, record.conversationId !== null])).toEqual(
      [
        ["too_many_concurrent_requests", false],
        ["concurrency_refused_once", true],
        ["too_many_concurrent_requests", false],
      ],
    );
    expect(await stats(sim)).toMatchObject({
      live: 0,
      max_live: 1,
      refused_for_concurrency: 2,
      dials: { "+15551230608": 2, "+15559990608": 1 },
    });
    expect(
      await clientFor(sim).placeOutboundCall({
        toNumber: "+15558880608",
        dynamicVariables: { call_sid: freshCallSid() },
      }),
    ).toMatchObject({ ok: false, httpStatus: 429 });
    // After a reset, the first dial is refused again.
    sim.reset();
    expect((await placeCall(sim, "+15551230608")).status).toBe(429);
    expect((await placeCall(sim, "+15551230608")).status).toBe(200);
  });
});

describe("chaos (chaosSeed)", () => {
  /** Places `count` calls to ordinary numbers one after the other; returns the records. */
  async function chaosRun(sim: RunningSimulator, count: number) {
    for (let index = 0; index < count; index += 1) {
      await placeCall(sim, `+1555123${1000 + index}`, { call_sid: `${freshCallSid()}_${index}` });
    }
    await sim.played();
    return sim.records();
  }

  const drawn = (records: { chaosBehaviour: unknown; chaosDelivery: unknown }[]) =>
    records.map((record) => [record.chaosBehaviour, record.chaosDelivery]);

  it("draws the same behaviours for the same seed and order of calls, and others for another seed", async () => {
    const worker = await receiver();
    const lines: string[] = [];
    try {
      const options = { webhookBaseUrl: worker.url, playbackDelayMs: 2 };
      const first = await chaosRun(
        await simulator({ ...options, chaosSeed: 42, log: (line) => lines.push(line) }),
        24,
      );
      const again = await chaosRun(await simulator({ ...options, chaosSeed: 42 }), 24);
      const other = await chaosRun(await simulator({ ...options, chaosSeed: 43 }), 24);
      expect(lines[0]).toBe("[elevenlabs-sim] chaos on, seed 42");
      expect(drawn(again)).toEqual(drawn(first));
      expect(drawn(other)).not.toEqual(drawn(first));
      const behaviours = new Set(first.map((record) => record.chaosBehaviour));
      expect(behaviours.has("ordinary")).toBe(true);
      expect(behaviours.size).toBeGreaterThan(8);
      for (const record of first) {
        expect(record.chaosDelivery).toEqual({
          duplicateFinal: expect.stringMatching(/^(none|same_signature|re_signed_later)$/),
          finalBeforeLastUtterance: expect.any(Boolean),
        });
      }
      // Each call plays the ending it drew (a 0608 call's number is new: its first dial).
      const outcomeOf: Record<string, string> = {
        ordinary: "success",
        "0486": "busy",
        "0487": "no_answer_failure",
        "0488": "voicemail",
        "0499": "opt_out",
        "0500": "http_500",
        "0422": "http_422",
        "0601": "success_without_call_sid",
        "0602": "quota_exceeded",
        "0603": "busy_before_answer",
        "0604": "stuck_processing",
        "0605": "failed_silently",
        "0606": "long_user_turn",
        "0607": "transcript_omitted",
        "0608": "too_many_concurrent_requests",
      };
      for (const record of first) {
        expect(record.outcome).toBe(outcomeOf[record.chaosBehaviour ?? ""]);
      }
    } finally {
      await worker.close();
    }
  });

  it("replays the same draws after a reset", async () => {
    const sim = await simulator({ chaosSeed: 7, webhookBaseUrl: "http://127.0.0.1:9" });
    const before = drawn(await chaosRun(sim, 10));
    sim.reset();
    expect(drawn(await chaosRun(sim, 10))).toEqual(before);
  });

  it("leaves numbers with a special ending, and calls without chaosSeed, alone", async () => {
    const chaotic = await simulator({ chaosSeed: 42 });
    await placeCall(chaotic, "+15551230500");
    await placeCall(chaotic, "+15551230602");
    expect(chaotic.records().map((record) => [record.outcome, record.chaosBehaviour])).toEqual([
      ["http_500", null],
      ["quota_exceeded", null],
    ]);
    const calm = await simulator();
    await placeCall(calm, "+15551231000");
    expect(calm.records()[0]).toMatchObject({
      outcome: "success",
      chaosBehaviour: null,
      chaosDelivery: null,
    });
    await expect(
      startElevenLabsSimulator({
        transcriptionToken: TOKEN,
        webhookSecret: SECRET,
        chaosSeed: 1.5,
      }),
    ).rejects.toThrow(RangeError);
  });

  it("sends some post-call webhooks twice and some before the last live utterance, as each call drew", async () => {
    const worker = await receiver();
    try {
      const sim = await simulator({
        chaosSeed: 42,
        webhookBaseUrl: worker.url,
        playbackDelayMs: 5,
      });
      const records = await chaosRun(sim, 30);
      const withFinal = new Set([
        "success",
        "busy",
        "no_answer_failure",
        "voicemail",
        "opt_out",
        "success_without_call_sid",
        "busy_before_answer",
        "long_user_turn",
        "transcript_omitted",
        "concurrency_refused_once",
      ]);
      const played = new Set(["busy", "no_answer_failure", "busy_before_answer"]);
      const seen = { same_signature: 0, re_signed_later: 0, finalBeforeLastUtterance: 0 };
      for (const record of records) {
        const delivery = record.chaosDelivery as ChaosDelivery;
        const posts = worker.received.filter(
          (request) =>
            request.path.endsWith("/post-call") &&
            JSON.parse(request.body).data.conversation_id === record.conversationId,
        );
        if (!withFinal.has(record.outcome)) {
          expect(posts).toHaveLength(0);
          continue;
        }
        expect(posts).toHaveLength(delivery.duplicateFinal === "none" ? 1 : 2);
        for (const post of posts) {
          expect(
            await verifyElevenLabsSignature({
              header: post.headers["elevenlabs-signature"] as string,
              rawBody: post.body,
              secret: SECRET,
              now: new Date(),
            }),
          ).toMatchObject({ ok: true });
        }
        if (delivery.duplicateFinal !== "none") {
          seen[delivery.duplicateFinal] += 1;
          expect(posts[1]?.body).toBe(posts[0]?.body);
          if (delivery.duplicateFinal === "same_signature") {
            expect(posts[1]?.headers["elevenlabs-signature"]).toBe(
              posts[0]?.headers["elevenlabs-signature"],
            );
          }
        }
        if (delivery.finalBeforeLastUtterance && !played.has(record.outcome)) {
          seen.finalBeforeLastUtterance += 1;
          const order = worker.received
            .filter(
              (request) =>
                posts.includes(request) ||
                (request.path.endsWith("/transcription") &&
                  JSON.parse(request.body).call_sid === record.callSid),
            )
            .map((request) => request.path.split("/").at(-1));
          expect(order.indexOf("post-call")).toBeLessThan(order.lastIndexOf("transcription"));
        }
      }
      expect(seen.same_signature).toBeGreaterThan(0);
      expect(seen.re_signed_later).toBeGreaterThan(0);
      expect(seen.finalBeforeLastUtterance).toBeGreaterThan(0);
    } finally {
      await worker.close();
    }
  });
});

describe("postgresCallRowProbe", () => {
  const port = 54385;
  let stopPostgres: (() => Promise<void>) | undefined;
  let databaseUrl = "";

  beforeAll(async () => {
    const postgres = await startPostgres({
      dataDir: ".data/test-simulator-probe",
      port,
      persistent: false,
      quiet: true,
    });
    stopPostgres = () => postgres.stop();
    const name = `sim_${randomBytes(4).toString("hex")}`;
    await postgres.createDatabase(name);
    databaseUrl = postgres.urlFor(name);
    await applyMigrations(databaseUrl);
  }, 60_000);

  afterAll(async () => {
    await stopPostgres?.();
  });

  it("tells whether the Call row exists and whether its conversation_id is NULL", async () => {
    const probe = postgresCallRowProbe(`${databaseUrl}?scope=ignored`);
    const pg = (await import("pg")).default;
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const [waiting, started] = [freshCallSid(), freshCallSid()];
      await client.query(
        "INSERT INTO calls (call_sid, driver_id, conversation_id, status) VALUES ($1, 1, NULL, 'IN_PROGRESS'), ($2, 2, 'conv_x', 'IN_PROGRESS')",
        [waiting, started],
      );
      expect(await probe.probe(waiting)).toEqual({ exists: true, conversationIdIsNull: true });
      expect(await probe.probe(started)).toEqual({ exists: true, conversationIdIsNull: false });
      expect(await probe.probe("EL_404_1")).toEqual({ exists: false, conversationIdIsNull: null });

      const sim = await simulator({ callRowProbe: probe.probe });
      await placeCall(sim, "+15551230042", { call_sid: waiting });
      expect(sim.records()[0]).toMatchObject({ callRowExisted: true, conversationIdWasNull: true });
    } finally {
      await client.end();
      await probe.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  await waitForAsync(async () => condition(), timeoutMs);
}

async function waitForAsync(condition: () => Promise<boolean>, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
