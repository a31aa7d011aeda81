// A local stand-in for ElevenLabs, for `npm run dev`, tests and benches: a real HTTP server
// (node:http) that answers the two endpoints the service calls, and then "plays" each call
// by posting the webhooks ElevenLabs would post, in ElevenLabs' own shapes.
//
//   POST /v1/convai/twilio/outbound-call     {success, message, conversation_id, callSid}
//   GET  /v1/convai/conversations/{id}       the conversation; 404 when unknown;
//                                            503 for ids starting with conv_down_
//
// The last four digits of `to_number` pick a failure mode (contract, "Local development"):
//   0500 HTTP 500 · 0422 HTTP 422 (FastAPI detail) · 0408 never answers (the client's
//   timeout must end it) · 0486 accepted, then a signed call_initiation_failure "busy" ·
//   0200 200 with success:false · 0299 200 with a non-JSON body.
// Any other number: accepted, then within ~2 s three utterances (agent, user, agent) go to
// the transcription webhook with the call_sid it was given, then a signed
// post_call_transcription webhook with the same turns.
//
// For the benches and the concurrency tests it records every outbound-call request: how
// many were in flight when it arrived, and (through `callRowProbe`) whether the Call row
// was already written, with conversation_id NULL, before ElevenLabs was asked.
//
// Control endpoints, so that tests running inside workerd can steer it over HTTP:
//   GET /__sim/records -> {records, max_in_flight} · POST /__sim/reset ·
//   POST /__sim/latency {"ms": n} · GET /__sim/outbox?call_sid= (returns and removes) ·
//   GET /__sim/played (answers once every scheduled playback has finished).
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { signElevenLabsPayload } from "../../src/elevenlabs/signature.ts";

export interface SimulatorOptions {
  port?: number;
  /** When set, requests to /v1/* without this xi-api-key get 401. */
  apiKey?: string;
  /** The Worker, e.g. http://127.0.0.1:8787; when undefined, webhooks are queued in the outbox. */
  webhookBaseUrl?: string;
  transcriptionToken: string;
  webhookSecret: string;
  /** Delay before answering outbound-call. */
  latencyMs?: number;
  /** Gap between played events (default 300 ms): the whole call takes about 1.2 s. */
  playbackDelayMs?: number;
  /** Asked when an outbound-call request arrives, to record whether the Call row existed. */
  callRowProbe?: (
    callSid: string,
  ) => Promise<{ exists: boolean; conversationIdIsNull: boolean | null }>;
  log?: (line: string) => void;
}

export interface OutboundRecord {
  at: number;
  toNumberLast4: string;
  /** Our call_sid, from the dynamic variables; null when it was not sent. */
  callSid: string | null;
  dynamicVariables: Record<string, unknown>;
  /** Outbound-call requests in flight when this one arrived, itself included. */
  inFlightAtArrival: number;
  callRowExisted: boolean | null;
  conversationIdWasNull: boolean | null;
  outcome: string;
  conversationId: string | null;
}

export interface OutgoingWebhook {
  kind: "transcription" | "post_call";
  /** Absolute when webhookBaseUrl is set; the path alone in outbox mode. */
  url: string;
  headers: Record<string, string>;
  body: string;
  callSid: string | null;
  conversationId: string;
}

export interface RunningSimulator {
  url: string;
  port: number;
  records(): OutboundRecord[];
  maxInFlight(): number;
  reset(): void;
  setLatency(ms: number): void;
  /** Queued webhooks, in order; removes what it returns. */
  outbox(callSid?: string): OutgoingWebhook[];
  /** Resolves when every scheduled playback finished. */
  played(): Promise<void>;
  stop(): Promise<void>;
}

type Outcome =
  | "success"
  | "http_500"
  | "http_422"
  | "no_answer"
  | "busy"
  | "rejected"
  | "bad_response"
  | "invalid_request";

const OUTCOME_BY_LAST_FOUR: Record<string, Outcome> = {
  "0500": "http_500",
  "0422": "http_422",
  "0408": "no_answer",
  "0486": "busy",
  "0200": "rejected",
  "0299": "bad_response",
};

interface Turn {
  role: "agent" | "user";
  message: string;
  time_in_call_secs: number;
}

interface SimulatedConversation {
  conversationId: string;
  agentId: string;
  callSid: string | null;
  twilioCallSid: string;
  dynamicVariables: Record<string, unknown>;
  status: "in-progress" | "done" | "failed";
  startTimeUnixSecs: number;
  callDurationSecs: number;
  terminationReason: string | null;
  transcript: Turn[];
}

const TRANSCRIPTION_PATH = "/webhooks/elevenlabs/transcription";
const POST_CALL_PATH = "/webhooks/elevenlabs/post-call";
const CONVERSATION_PATH = /^\/v1\/convai\/conversations\/([^/]+)$/;

export async function startElevenLabsSimulator(
  options: SimulatorOptions,
): Promise<RunningSimulator> {
  const log = (line: string) => options.log?.(`[elevenlabs-sim] ${line}`);
  const playbackDelayMs = options.playbackDelayMs ?? 300;
  const webhookBaseUrl = options.webhookBaseUrl?.replace(/\/+$/, "");
  let latencyMs = options.latencyMs ?? 0;
  let records: OutboundRecord[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let outboxQueue: OutgoingWebhook[] = [];
  const conversations = new Map<string, SimulatedConversation>();
  const playbacks = new Set<Promise<void>>();
  // Aborts pending latencies and playbacks on stop(), so nothing fires after it.
  const stopping = new AbortController();

  function schedule(work: () => Promise<void>) {
    const playback: Promise<void> = work()
      .catch((error: unknown) => {
        if (!stopping.signal.aborted) log(`playback failed: ${String(error)}`);
      })
      .finally(() => playbacks.delete(playback));
    playbacks.add(playback);
  }

  async function played(): Promise<void> {
    while (playbacks.size > 0) await Promise.all([...playbacks]);
  }

  async function deliver(webhook: OutgoingWebhook): Promise<void> {
    if (webhookBaseUrl === undefined) {
      outboxQueue.push(webhook);
      return;
    }
    // Like ElevenLabs, a failed delivery is not the caller's problem: log it and go on.
    try {
      const response = await fetch(webhook.url, {
        method: "POST",
        headers: webhook.headers,
        body: webhook.body,
        signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(10_000)]),
      });
      const text = await response.text();
      if (!response.ok) {
        log(
          `${webhook.kind} webhook for ${webhook.conversationId}: HTTP ${response.status} ${text.slice(0, 300)}`,
        );
      }
    } catch (error) {
      if (!stopping.signal.aborted) {
        log(`${webhook.kind} webhook for ${webhook.conversationId} failed: ${String(error)}`);
      }
    }
  }

  async function postCallWebhook(
    conversation: SimulatedConversation,
    payload: Record<string, unknown>,
  ): Promise<void> {
    const body = JSON.stringify(payload);
    const signature = await signElevenLabsPayload(body, options.webhookSecret, unixSecs());
    await deliver({
      kind: "post_call",
      url: `${webhookBaseUrl ?? ""}${POST_CALL_PATH}`,
      headers: { "Content-Type": "application/json", "ElevenLabs-Signature": signature },
      body,
      callSid: conversation.callSid,
      conversationId: conversation.conversationId,
    });
  }

  /** The conversation as ElevenLabs' GET endpoint and post-call webhook both describe it. */
  function conversationData(conversation: SimulatedConversation) {
    return {
      agent_id: conversation.agentId,
      conversation_id: conversation.conversationId,
      status: conversation.status,
      transcript: conversation.transcript.map((turn) => ({ ...turn })),
      metadata: {
        start_time_unix_secs: conversation.startTimeUnixSecs,
        call_duration_secs: conversation.callDurationSecs,
        termination_reason: conversation.terminationReason,
        phone_call: {
          type: "twilio",
          direction: "outbound",
          call_sid: conversation.twilioCallSid,
        },
      },
      conversation_initiation_client_data: {
        dynamic_variables: { ...conversation.dynamicVariables },
      },
    };
  }

  async function playCall(conversation: SimulatedConversation): Promise<void> {
    const signal = stopping.signal;
    const startMs = conversation.startTimeUnixSecs * 1000;
    const name =
      typeof conversation.dynamicVariables.driver_name === "string"
        ? conversation.dynamicVariables.driver_name
        : "there";
    const script: Omit<Turn, "time_in_call_secs">[] = [
      {
        role: "agent",
        message: `Hi ${name}, this is the fleet safety team calling about recent violations on your record. Do you have a minute?`,
      },
      { role: "user", message: "Yes, I have a minute. What happened?" },
      {
        role: "agent",
        message:
          "Thanks. I'll go over each one with you, and we'll send you a written summary. Drive safe.",
      },
    ];
    let lastSecs = 0;
    for (const line of script) {
      await delay(playbackDelayMs, undefined, { signal });
      // Whole seconds, as ElevenLabs reports them; the transcription webhook's timestamp is
      // start + time_in_call_secs, so both webhooks describe a turn identically.
      lastSecs = Math.max(lastSecs, Math.floor((Date.now() - startMs) / 1000));
      const turn: Turn = { ...line, time_in_call_secs: lastSecs };
      conversation.transcript.push(turn);
      if (conversation.callSid === null) {
        log(
          `${conversation.conversationId}: no call_sid dynamic variable, transcription webhook skipped`,
        );
        continue;
      }
      await deliver({
        kind: "transcription",
        url: `${webhookBaseUrl ?? ""}${TRANSCRIPTION_PATH}`,
        headers: {
          "Content-Type": "application/json",
          Authorization: `Bearer ${options.transcriptionToken}`,
        },
        body: JSON.stringify({
          call_sid: conversation.callSid,
          speaker: turn.role,
          message: turn.message,
          timestamp: new Date(startMs + turn.time_in_call_secs * 1000).toISOString(),
        }),
        callSid: conversation.callSid,
        conversationId: conversation.conversationId,
      });
    }
    await delay(playbackDelayMs, undefined, { signal });
    conversation.callDurationSecs = Math.max(
      lastSecs + 1,
      Math.ceil((Date.now() - startMs) / 1000),
    );
    conversation.terminationReason = "end_call tool was called.";
    conversation.status = "done";
    await postCallWebhook(conversation, {
      type: "post_call_transcription",
      event_timestamp: unixSecs(),
      data: conversationData(conversation),
    });
  }

  async function failCall(conversation: SimulatedConversation, toNumber: string): Promise<void> {
    await delay(playbackDelayMs, undefined, { signal: stopping.signal });
    conversation.status = "failed";
    conversation.terminationReason = "busy";
    // Documented without dynamic variables: the service must match it by conversation_id.
    await postCallWebhook(conversation, {
      type: "call_initiation_failure",
      event_timestamp: unixSecs(),
      data: {
        agent_id: conversation.agentId,
        conversation_id: conversation.conversationId,
        failure_reason: "busy",
        metadata: {
          type: "twilio",
          body: {
            AccountSid: `AC${"0".repeat(32)}`,
            ApiVersion: "2010-04-01",
            CallSid: conversation.twilioCallSid,
            CallStatus: "busy",
            Direction: "outbound-api",
            From: "+15550000000",
            SipResponseCode: "486",
            To: toNumber,
          },
        },
      },
    });
  }

  async function handleOutboundCall(response: ServerResponse, body: string) {
    const payload = parseJsonObject(body);
    const toNumber = typeof payload?.to_number === "string" ? payload.to_number : "";
    const clientData = asObject(payload?.conversation_initiation_client_data);
    const dynamicVariables = asObject(clientData?.dynamic_variables) ?? {};
    const callSid =
      typeof dynamicVariables.call_sid === "string" ? dynamicVariables.call_sid : null;
    const lastFour = toNumber.replace(/\D/g, "").slice(-4);

    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let counted = true;
    // 'close' fires when the answer is sent and also when the client gives up (0408).
    response.once("close", () => {
      if (counted) inFlight -= 1;
      counted = false;
    });

    const missing = ["agent_id", "agent_phone_number_id", "to_number"].filter(
      (field) => typeof payload?.[field] !== "string",
    );
    const outcome: Outcome =
      missing.length > 0 ? "invalid_request" : (OUTCOME_BY_LAST_FOUR[lastFour] ?? "success");
    const accepted = outcome === "success" || outcome === "busy";
    const record: OutboundRecord = {
      at: Date.now(),
      toNumberLast4: lastFour,
      callSid,
      dynamicVariables: { ...dynamicVariables },
      inFlightAtArrival: inFlight,
      callRowExisted: null,
      conversationIdWasNull: null,
      outcome,
      conversationId: accepted ? `conv_sim_${randomHex(10)}` : null,
    };
    records.push(record);
    log(`outbound-call to ***${lastFour} (call_sid ${callSid ?? "none"}): ${outcome}`);

    const probe = async () => {
      if (!options.callRowProbe || callSid === null) return;
      try {
        const row = await options.callRowProbe(callSid);
        record.callRowExisted = row.exists;
        record.conversationIdWasNull = row.conversationIdIsNull;
      } catch (error) {
        log(`call row probe failed for ${callSid}: ${String(error)}`);
      }
    };
    await Promise.all([probe(), delay(latencyMs, undefined, { signal: stopping.signal })]);

    switch (outcome) {
      case "invalid_request":
        return sendJson(response, 422, {
          detail: missing.map((field) => ({
            loc: ["body", field],
            msg: "Field required",
            type: "missing",
          })),
        });
      case "http_500":
        return sendJson(response, 500, { detail: "Internal server error" });
      case "http_422":
        return sendJson(response, 422, {
          detail: [
            { loc: ["body", "to_number"], msg: "invalid phone number", type: "value_error" },
          ],
        });
      case "no_answer":
        // Hold the socket open until the client's timeout closes it (or stop() does).
        return;
      case "rejected":
        return sendJson(response, 200, {
          success: false,
          message: "Call could not be placed",
          conversation_id: null,
          callSid: null,
        });
      case "bad_response":
        response.writeHead(200, { "content-type": "text/html" });
        response.end("<html>oops</html>");
        return;
    }

    const conversation: SimulatedConversation = {
      conversationId: record.conversationId ?? `conv_sim_${randomHex(10)}`,
      agentId: String(payload?.agent_id),
      callSid,
      twilioCallSid: `CA${randomHex(16)}`,
      dynamicVariables: { ...dynamicVariables },
      status: "in-progress",
      startTimeUnixSecs: unixSecs(),
      callDurationSecs: 0,
      terminationReason: null,
      transcript: [],
    };
    conversations.set(conversation.conversationId, conversation);
    sendJson(response, 200, {
      success: true,
      message: "Success",
      conversation_id: conversation.conversationId,
      callSid: conversation.twilioCallSid,
    });
    schedule(() =>
      outcome === "busy" ? failCall(conversation, toNumber) : playCall(conversation),
    );
  }

  function handleGetConversation(response: ServerResponse, conversationId: string) {
    if (conversationId.startsWith("conv_down_")) {
      return sendJson(response, 503, { detail: "Service temporarily unavailable" });
    }
    const conversation = conversations.get(conversationId);
    if (!conversation) {
      return sendJson(response, 404, { detail: { status: "conversation_not_found" } });
    }
    sendJson(response, 200, conversationData(conversation));
  }

  function takeOutbox(callSid?: string): OutgoingWebhook[] {
    if (callSid === undefined) {
      const taken = outboxQueue;
      outboxQueue = [];
      return taken;
    }
    const taken = outboxQueue.filter((webhook) => webhook.callSid === callSid);
    outboxQueue = outboxQueue.filter((webhook) => webhook.callSid !== callSid);
    return taken;
  }

  function reset() {
    records = [];
    outboxQueue = [];
    maxInFlight = inFlight;
  }

  async function route(request: IncomingMessage, response: ServerResponse, body: string) {
    const url = new URL(request.url ?? "/", "http://localhost");
    const method = request.method ?? "GET";

    if (url.pathname.startsWith("/__sim/")) {
      if (method === "GET" && url.pathname === "/__sim/records") {
        return sendJson(response, 200, { records, max_in_flight: maxInFlight });
      }
      if (method === "POST" && url.pathname === "/__sim/reset") {
        reset();
        return sendJson(response, 200, { ok: true });
      }
      if (method === "POST" && url.pathname === "/__sim/latency") {
        const ms = parseJsonObject(body)?.ms;
        if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
          return sendJson(response, 400, { detail: 'expected {"ms": <non-negative number>}' });
        }
        latencyMs = ms;
        return sendJson(response, 200, { ok: true, latency_ms: latencyMs });
      }
      if (method === "GET" && url.pathname === "/__sim/outbox") {
        return sendJson(response, 200, {
          webhooks: takeOutbox(url.searchParams.get("call_sid") ?? undefined),
        });
      }
      if (method === "GET" && url.pathname === "/__sim/played") {
        await played();
        return sendJson(response, 200, { ok: true });
      }
      return sendJson(response, 404, { detail: "Not Found" });
    }

    if (url.pathname.startsWith("/v1/") && options.apiKey !== undefined) {
      if (request.headers["xi-api-key"] !== options.apiKey) {
        return sendJson(response, 401, {
          detail: { status: "invalid_api_key", message: "Invalid API key" },
        });
      }
    }
    if (method === "POST" && url.pathname === "/v1/convai/twilio/outbound-call") {
      return handleOutboundCall(response, body);
    }
    const conversationMatch = CONVERSATION_PATH.exec(url.pathname);
    if (method === "GET" && conversationMatch?.[1]) {
      return handleGetConversation(response, decodeURIComponent(conversationMatch[1]));
    }
    sendJson(response, 404, { detail: "Not Found" });
  }

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      route(request, response, Buffer.concat(chunks).toString("utf8")).catch((error: unknown) => {
        if (stopping.signal.aborted) return;
        log(`unexpected error: ${String(error)}`);
        if (!response.headersSent) sendJson(response, 500, { detail: "simulator error" });
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    records: () => records.map((record) => ({ ...record })),
    maxInFlight: () => maxInFlight,
    reset,
    setLatency: (ms) => {
      latencyMs = ms;
    },
    outbox: takeOutbox,
    played,
    async stop() {
      stopping.abort();
      await played();
      // Also ends the held 0408 sockets.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Reads the Call row as the Worker left it, from Postgres directly: the simulator asks it
 * when an outbound-call request arrives, to prove the row is written before ElevenLabs is.
 */
export function postgresCallRowProbe(databaseUrl: string): {
  probe: (callSid: string) => Promise<{ exists: boolean; conversationIdIsNull: boolean | null }>;
  close(): Promise<void>;
} {
  const url = new URL(databaseUrl);
  // The local Neon endpoint's fault scope is not a Postgres parameter.
  url.searchParams.delete("scope");
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  pool.on("error", () => {
    // An idle client losing its connection must not crash the simulator; the next query reconnects.
  });
  return {
    async probe(callSid) {
      const result = await pool.query<{ conversation_id_is_null: boolean }>(
        "SELECT conversation_id IS NULL AS conversation_id_is_null FROM calls WHERE call_sid = $1",
        [callSid],
      );
      const row = result.rows[0];
      return row
        ? { exists: true, conversationIdIsNull: row.conversation_id_is_null }
        : { exists: false, conversationIdIsNull: null };
    },
    close: () => pool.end(),
  };
}

function unixSecs(): number {
  return Math.floor(Date.now() / 1000);
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    return asObject(JSON.parse(text));
  } catch {
    return undefined;
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown) {
  if (response.destroyed) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  response.end(text);
}
