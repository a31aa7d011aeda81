// The local ElevenLabs simulator, in Node: its answers, failure modes, in-flight counting and
// the webhooks it plays, checked against our own signature verifier and outbound-call client.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type OutgoingWebhook,
  postgresCallRowProbe,
  type RunningSimulator,
  type SimulatorOptions,
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
    expect(await place("+15551230500")).toMatchObject({
      ok: false,
      code: "elevenlabs_http_error",
      httpStatus: 500,
    });
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
  it("queues the utterances, then a signed post_call_transcription with the same turns", async () => {
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
    // Both webhooks describe each turn identically: timestamp = start + time_in_call_secs.
    const start = event.data.metadata.start_time_unix_secs as number;
    expect(
      event.data.transcript.map(
        (turn: { role: string; message: string; time_in_call_secs: number }) => ({
          speaker: turn.role,
          message: turn.message,
          timestamp: new Date((start + turn.time_in_call_secs) * 1000).toISOString(),
          call_sid: callSid,
        }),
      ),
    ).toEqual(utterances);
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
  it("describes a call in progress, then done with its transcript", async () => {
    const sim = await simulator({ playbackDelayMs: 100, apiKey: API_KEY });
    const client = clientFor(sim);
    const callSid = freshCallSid();
    const placed = await client.placeOutboundCall({
      toNumber: "+15551230042",
      dynamicVariables: { call_sid: callSid, driver_id: 9 },
    });
    if (!placed.ok) throw new Error(placed.reason);

    const during = await client.getConversation(placed.conversationId);
    expect(during).toMatchObject({ conversation_id: placed.conversationId, status: "in-progress" });

    await sim.played();
    const after = await client.getConversation(placed.conversationId);
    expect(after).toEqual({
      conversation_id: placed.conversationId,
      status: "done",
      transcript: [
        { role: "agent", message: expect.any(String), time_in_call_secs: expect.any(Number) },
        { role: "user", message: expect.any(String), time_in_call_secs: expect.any(Number) },
        { role: "agent", message: expect.any(String), time_in_call_secs: expect.any(Number) },
      ],
      metadata: {
        start_time_unix_secs: expect.any(Number),
        call_duration_secs: expect.any(Number),
        termination_reason: expect.any(String),
      },
      dynamic_variables: { call_sid: callSid, driver_id: 9 },
    });
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
  interface Received {
    path: string;
    headers: IncomingMessage["headers"];
    body: string;
  }

  async function receiver(status: (path: string) => number) {
    const received: Received[] = [];
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const path = request.url ?? "/";
        received.push({
          path,
          headers: request.headers,
          body: Buffer.concat(chunks).toString("utf8"),
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
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
