// A local stand-in for ElevenLabs, for `npm run dev`, tests and benches: a real HTTP server
// (node:http) that answers the two endpoints the service calls, and then "plays" each call
// by posting the webhooks ElevenLabs would post, in ElevenLabs' own shapes (held by the
// official SDK's parsers in tests/node/elevenlabs-sdk-shapes.test.ts).
//
//   POST /v1/convai/twilio/outbound-call     {success, message, conversation_id, callSid};
//                                            429 too_many_concurrent_requests over the plan
//   GET  /v1/convai/conversations/{id}       the conversation; 404 when unknown;
//                                            503 for ids starting with conv_down_
//
// The last four digits of `to_number` pick how the call goes (contract, "Local development"):
//   0500 HTTP 500 · 0422 HTTP 422 (FastAPI detail) · 0408 never answers (the client's
//   timeout must end it) · 0200 200 with success:false · 0299 200 with a non-JSON body ·
//   0486 accepted, then a signed call_initiation_failure "busy" · 0487 accepted, then a
//   signed call_initiation_failure "no-answer" · 0488 answered by voicemail: the agent's
//   voicemail_detection system tool is called (a turn with tool_calls, then one with
//   tool_results of result_type voicemail_detection_success, both with message null), the
//   agent leaves a message, termination_reason "voicemail_detection tool was called.",
//   features_usage.voicemail_detection {enabled: true, used: true}, call_successful
//   "failure" and null data collection values · 0499 answered, the driver asks for no more
//   calls: data collection opt_out true.
// What else ElevenLabs may do, as its SDK types it (optional keys, every conversation status):
//   0601 accepted with {success, message, conversation_id} and no callSid key at all, then
//   played like an ordinary call · 0602 200 {success: false, message: "Workspace quota limit
//   reached: out of credits."} and nothing else: never live, no webhooks (it speaks of a
//   limit, not of concurrency) · 0603 busy before the answer: the signed
//   call_initiation_failure "busy" goes out BEFORE the 200 answer (with a webhookBaseUrl,
//   the answer waits for the Worker's answer to that webhook; in outbox mode, it waits until
//   the webhook has been taken out of the outbox, or 5 s) · 0604 accepted and played live,
//   but ElevenLabs never finishes: no post-call webhook, GET says "processing" for ever (its
//   plan slot is freed when the call would have ended) · 0605 accepted, then fails without
//   any webhook: GET says "initiated", then after the call's length "failed" with
//   call_result no_answer · 0606 an ordinary call whose user turn is 15,000 characters in
//   the final transcript (live, that turn is cut, see below) · 0607 an ordinary call played
//   live, but post_call_transcription and GET carry `transcript: []` (an agent set to leave
//   the transcript out) · 0608 the first dial of that exact to_number (since start or reset)
//   is answered 429 too_many_concurrent_requests (counted in refused_for_concurrency), later
//   dials are accepted and played like an ordinary call.
// Any other number: accepted, then three utterances (agent, user, agent), then a signed
// post_call_transcription with call_successful "success", acknowledged_violation true,
// disputes_violation false, opt_out false.
//
// Chaos (`chaosSeed`; `npm run dev` reads SIMULATOR_CHAOS): every call to any other number
// plays a behaviour drawn from a PRNG seeded with it, in the order the requests arrive: the
// ordinary call (weighted 6), or one of the endings 0486, 0487, 0488, 0499, 0500, 0422 and
// 0601 to 0608 (weighted 1 each; 0408 is left out, it would hold each request until the
// client's timeout). Each call also draws how its post-call webhook goes out: sometimes
// twice (right after, same signature; or later, signed again), sometimes before the call's
// last live utterance. The same seed and the same order of requests play the same calls;
// each OutboundRecord says what its call drew (chaosBehaviour, chaosDelivery), and the seed
// is logged at start. In outbox mode a chaos call that draws 0603 holds its answer like 0603.
//
// Every post_call_transcription (and GET conversation once done) carries `analysis` in
// ElevenLabs' shape: call_successful, transcript_summary, call_summary_title,
// evaluation_criteria_results {violations_reviewed} and data_collection_results
// {acknowledged_violation, disputes_violation, opt_out} (boolean values, or null when the
// call could not tell). Each turn with a message also goes, while the call plays, to the
// transcription webhook with the call_sid it was given; tool-call turns (message null) do
// not. ElevenLabs' webhook tool message is written by the agent's LLM, so the live message
// of the first agent turn is worded slightly differently from the final transcript
// (`verbatimLiveMessages: true` turns that off). The webhook's message holds at most
// 10,000 characters, so a longer turn (0606) goes live cut at a word, ending in "…", even
// with verbatimLiveMessages; the final transcript keeps it whole.
//
// Call length: `callSeconds` (fractions allowed) is how long an accepted call plays, from
// acceptance to its final webhook, its turns spread evenly across it; without it, events
// are `playbackDelayMs` apart (about 1.2 s for an ordinary call at the default 300 ms).
//
// Plan concurrency: `maxLiveCalls` (undefined = unlimited). A call is live from the moment
// the simulator accepts it (answers 200 success) until it sends its final webhook
// (post_call_transcription or call_initiation_failure; in outbox mode, until it queues
// it). Calls that never send one (0604, 0605) stop being live when an ordinary call would
// have ended. A request that would take live over the plan is answered 429
// {"detail": {"status": "too_many_concurrent_requests", "message": ...}}, counted, never
// live, never played. Requests that would not become live (0500, 0422, 0408, 0200, 0299,
// 0602, the first dial of a 0608 number, invalid bodies) are not checked against the plan.
//
// For the benches and the concurrency tests it records every outbound-call request: how
// many were in flight when it arrived, and (through `callRowProbe`) whether the Call row
// was already written, with conversation_id NULL, before ElevenLabs was asked.
//
// Control endpoints, so that tests running inside workerd can steer it over HTTP:
//   GET /__sim/records -> {records, max_in_flight} · POST /__sim/reset (records, outbox and
//   stats, the 0608 numbers already refused, the chaos PRNG back to its seed, held 0603
//   answers sent; the plan goes back to the start-up maxLiveCalls) · POST /__sim/latency
//   {"ms": n} · POST /__sim/plan {"max_live_calls": n | null} · GET /__sim/outbox?call_sid=
//   (returns and removes; taking a 0603 failure sends its held answer, unless
//   &keep_answers_held=1) · POST /__sim/release-held-answers?call_sid= -> {released: n}
//   (sends held 0603 answers) · GET /__sim/played (answers once every scheduled playback
//   has finished; a held 0603 answer is not a playback) · GET /simulator/stats -> {live,
//   max_live, plan_max_live_calls, refused_for_concurrency, dials: {<to_number>: requests,
//   refused ones included}}.
//
// Driving 0603 from workerd (outbox mode) with the failure surely first: start the Worker's
// request that dials, poll GET /__sim/outbox?call_sid=<ours>&keep_answers_held=1 until the
// call_initiation_failure is there, deliver it to the Worker, then POST
// /__sim/release-held-answers?call_sid=<ours> and await the Worker's request. Without
// keep_answers_held, taking the webhook sends the answer at once, and the answer and the
// test's delivery of the webhook race.
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
  /** Gap between played events when callSeconds is not set (default 300 ms): an ordinary call takes about 1.2 s. */
  playbackDelayMs?: number;
  /** How long an accepted call plays, acceptance to final webhook, in seconds (fractions allowed); its turns are spread evenly across it. */
  callSeconds?: number;
  /** The plan's concurrency: calls live at once; undefined = unlimited. Over it, outbound-call answers 429. */
  maxLiveCalls?: number;
  /** When true, live transcription messages match the final transcript word for word. */
  verbatimLiveMessages?: boolean;
  /**
   * When false, no live utterance is posted, only the post-call webhooks: for a benchmark of
   * dispatch alone on a small machine, where 3 webhooks per call would measure the CPU.
   */
  liveUtterances?: boolean;
  /**
   * Chaos: every call to a number without a special ending plays a behaviour drawn from a
   * PRNG seeded with this (a safe integer), in the order the requests arrive; see the header.
   */
  chaosSeed?: number;
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
  /** How the request went: an Outcome, or "too_many_concurrent_requests" when the plan refused it. */
  outcome: string;
  conversationId: string | null;
  /**
   * With chaosSeed, for a number without a special ending: the ending its call played
   * ("ordinary", "0486", "0601", ...); null otherwise.
   */
  chaosBehaviour: ChaosBehaviour | null;
  /** With chaosSeed, for the same calls: how its post-call webhook goes out; null otherwise. */
  chaosDelivery: ChaosDelivery | null;
}

/** What a chaos call drew for its post-call webhook (only calls that send one use it). */
export interface ChaosDelivery {
  /**
   * "same_signature": the same request again right after it; "re_signed_later": the same
   * body, signed again, one event gap later.
   */
  duplicateFinal: "none" | "same_signature" | "re_signed_later";
  /** The post-call webhook goes out before the call's last live utterance. */
  finalBeforeLastUtterance: boolean;
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

/** GET /simulator/stats, since the simulator started or was last reset. */
export interface SimulatorStats {
  /** Calls accepted whose final webhook has not been sent (or queued) yet. */
  live: number;
  /** The highest `live` seen. */
  max_live: number;
  /** The plan's limit; null = unlimited. */
  plan_max_live_calls: number | null;
  /** Outbound-call requests answered 429 because of the plan. */
  refused_for_concurrency: number;
  /** Outbound-call requests per to_number, refused ones included. */
  dials: Record<string, number>;
}

export interface RunningSimulator {
  url: string;
  port: number;
  records(): OutboundRecord[];
  maxInFlight(): number;
  /** Clears records, outbox and stats; the plan goes back to the start-up maxLiveCalls. */
  reset(): void;
  setLatency(ms: number): void;
  /** null = unlimited. */
  setPlan(maxLiveCalls: number | null): void;
  stats(): SimulatorStats;
  /**
   * Queued webhooks, in order; removes what it returns. Taking a 0603 failure sends its held
   * outbound-call answer, unless keepAnswersHeld (then releaseHeldAnswers sends it).
   */
  outbox(callSid?: string, options?: { keepAnswersHeld?: boolean }): OutgoingWebhook[];
  /** Sends the held 0603 answers (of this call_sid, or all); returns how many. */
  releaseHeldAnswers(callSid?: string): number;
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
  | "no_answer_failure"
  | "voicemail"
  | "opt_out"
  | "rejected"
  | "bad_response"
  | "invalid_request"
  | "success_without_call_sid"
  | "quota_exceeded"
  | "busy_before_answer"
  | "stuck_processing"
  | "failed_silently"
  | "long_user_turn"
  | "transcript_omitted"
  | "concurrency_refused_once";

const OUTCOME_BY_LAST_FOUR: Record<string, Outcome> = {
  "0500": "http_500",
  "0422": "http_422",
  "0408": "no_answer",
  "0486": "busy",
  "0487": "no_answer_failure",
  "0488": "voicemail",
  "0499": "opt_out",
  "0200": "rejected",
  "0299": "bad_response",
  "0601": "success_without_call_sid",
  "0602": "quota_exceeded",
  "0603": "busy_before_answer",
  "0604": "stuck_processing",
  "0605": "failed_silently",
  "0606": "long_user_turn",
  "0607": "transcript_omitted",
  "0608": "concurrency_refused_once",
};

/** Outcomes where ElevenLabs accepts the call: these become live, so the plan applies. */
type AcceptedOutcome =
  | "success"
  | "busy"
  | "no_answer_failure"
  | "voicemail"
  | "opt_out"
  | "success_without_call_sid"
  | "busy_before_answer"
  | "stuck_processing"
  | "failed_silently"
  | "long_user_turn"
  | "transcript_omitted"
  | "concurrency_refused_once";
const ACCEPTED_OUTCOMES = new Set<Outcome>([
  "success",
  "busy",
  "no_answer_failure",
  "voicemail",
  "opt_out",
  "success_without_call_sid",
  "busy_before_answer",
  "stuck_processing",
  "failed_silently",
  "long_user_turn",
  "transcript_omitted",
  "concurrency_refused_once",
]);

/** The chaos mix: an ending's behaviour, and its weight in the draw. 0408 is left out. */
const CHAOS_MIX = [
  ["ordinary", 6],
  ["0486", 1],
  ["0487", 1],
  ["0488", 1],
  ["0499", 1],
  ["0500", 1],
  ["0422", 1],
  ["0601", 1],
  ["0602", 1],
  ["0603", 1],
  ["0604", 1],
  ["0605", 1],
  ["0606", 1],
  ["0607", 1],
  ["0608", 1],
] as const;
export type ChaosBehaviour = (typeof CHAOS_MIX)[number][0];
const CHAOS_WEIGHTS = CHAOS_MIX.reduce((sum, [, weight]) => sum + weight, 0);
/** Of chaos calls' post-call webhooks: sent twice, and sent before the last live utterance. */
const CHAOS_DUPLICATE_CHANCE = 0.3;
const CHAOS_OUT_OF_ORDER_CHANCE = 0.25;

/** How long an outbox-mode 0603 answer waits for its failure webhook to be taken. */
const HELD_ANSWER_TIMEOUT_MS = 5_000;
/** ElevenLabs' transcription webhook tool takes messages of at most this many characters. */
const LIVE_MESSAGE_MAX_CHARS = 10_000;
/** The length of 0606's long user turn, in the final transcript. */
const LONG_USER_TURN_CHARS = 15_000;
/** Events of an ordinary call (three turns and the final webhook): its length without callSeconds. */
const ORDINARY_CALL_EVENTS = 4;

/** Twilio's side of a call that never connected: call_initiation_failure and GET agree. */
const INITIATION_FAILURES = {
  busy: { failureReason: "busy", callStatus: "busy", sipResponseCode: "486", callResult: "busy" },
  no_answer_failure: {
    failureReason: "no-answer",
    callStatus: "no-answer",
    sipResponseCode: "487",
    callResult: "no_answer",
  },
} as const;

/** The number the agent calls from (ElevenLabs' phone_call.agent_number, Twilio's From). */
const AGENT_NUMBER = "+15550000000";

type CallResult = "answered" | "voicemail" | "busy" | "no_answer";
type EvaluationResult = "success" | "failure" | "unknown";

interface ToolCall {
  type: "system";
  request_id: string;
  tool_name: string;
  params_as_json: string;
  tool_has_been_called: boolean;
  tool_details: null;
}

interface ToolResult {
  type: "system";
  request_id: string;
  tool_name: string;
  result_value: string;
  is_error: boolean;
  tool_has_been_called: boolean;
  tool_latency_secs: number;
  dynamic_variable_updates: unknown[];
  result: Record<string, unknown>;
}

interface ScriptTurn {
  role: "agent" | "user";
  /** null for a turn that only calls a tool or carries its result. */
  message: string | null;
  /** What the transcription webhook tool says for this turn, when the agent's LLM words it differently. */
  liveMessage?: string;
  toolCalls?: ToolCall[];
  toolResults?: ToolResult[];
}

interface Turn {
  role: "agent" | "user";
  message: string | null;
  time_in_call_secs: number;
  tool_calls: ToolCall[];
  tool_results: ToolResult[];
}

interface Analysis {
  call_successful: EvaluationResult;
  transcript_summary: string;
  call_summary_title: string | null;
  evaluation_criteria_results: Record<
    string,
    { criteria_id: string; result: EvaluationResult; rationale: string }
  >;
  data_collection_results: Record<
    string,
    {
      data_collection_id: string;
      value: unknown;
      json_schema: { type: string; description: string } | null;
      rationale: string;
    }
  >;
}

interface SimulatedConversation {
  conversationId: string;
  agentId: string;
  agentPhoneNumberId: string;
  toNumber: string;
  callSid: string | null;
  twilioCallSid: string;
  streamSid: string;
  dynamicVariables: Record<string, unknown>;
  outcome: AcceptedOutcome;
  status: "initiated" | "in-progress" | "processing" | "done" | "failed";
  startTimeUnixSecs: number;
  acceptedAtMs: number;
  callDurationSecs: number;
  /** "" until the call ends, as ElevenLabs reports it. */
  terminationReason: string;
  callResult: CallResult | null;
  transcript: Turn[];
  analysis: Analysis | null;
  /** Counted in `live` until its final webhook goes out. */
  live: boolean;
  /** How its post-call webhook goes out, when chaos drew it; null otherwise. */
  chaosDelivery: ChaosDelivery | null;
}

/** An outbox-mode 0603 answer, waiting for its failure webhook to leave the outbox. */
interface HeldAnswer {
  webhook: OutgoingWebhook;
  send(): void;
}

const TRANSCRIPTION_PATH = "/webhooks/elevenlabs/transcription";
const POST_CALL_PATH = "/webhooks/elevenlabs/post-call";
const CONVERSATION_PATH = /^\/v1\/convai\/conversations\/([^/]+)$/;

export async function startElevenLabsSimulator(
  options: SimulatorOptions,
): Promise<RunningSimulator> {
  const log = (line: string) => options.log?.(`[elevenlabs-sim] ${line}`);
  const playbackDelayMs = options.playbackDelayMs ?? 300;
  const callSeconds = options.callSeconds;
  if (callSeconds !== undefined && !(Number.isFinite(callSeconds) && callSeconds >= 0)) {
    throw new RangeError(`callSeconds must be a non-negative number, got ${callSeconds}`);
  }
  if (options.maxLiveCalls !== undefined && !isPlanLimit(options.maxLiveCalls)) {
    throw new RangeError(
      `maxLiveCalls must be a non-negative integer, got ${options.maxLiveCalls}`,
    );
  }
  const chaosSeed = options.chaosSeed;
  if (chaosSeed !== undefined && !Number.isSafeInteger(chaosSeed)) {
    throw new RangeError(`chaosSeed must be an integer, got ${chaosSeed}`);
  }
  const startupPlan = options.maxLiveCalls ?? null;
  const webhookBaseUrl = options.webhookBaseUrl?.replace(/\/+$/, "");
  let latencyMs = options.latencyMs ?? 0;
  let records: OutboundRecord[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let outboxQueue: OutgoingWebhook[] = [];
  let plan: number | null = startupPlan;
  let live = 0;
  let maxLive = 0;
  let refusedForConcurrency = 0;
  let dials = new Map<string, number>();
  /** 0608 numbers whose first dial was refused: their later dials are accepted. */
  let refusedOnce = new Set<string>();
  let chaosRandom = chaosSeed === undefined ? undefined : mulberry32(chaosSeed);
  const heldAnswers = new Set<HeldAnswer>();
  const conversations = new Map<string, SimulatedConversation>();
  const playbacks = new Set<Promise<void>>();
  // Aborts pending latencies and playbacks on stop(), so nothing fires after it.
  const stopping = new AbortController();
  if (chaosSeed !== undefined) log(`chaos on, seed ${chaosSeed}`);

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

  /** The call stops counting against the plan: called just before its final webhook goes out. */
  function release(conversation: SimulatedConversation) {
    if (!conversation.live) return;
    conversation.live = false;
    live -= 1;
  }

  function stats(): SimulatorStats {
    return {
      live,
      max_live: maxLive,
      plan_max_live_calls: plan,
      refused_for_concurrency: refusedForConcurrency,
      dials: Object.fromEntries(dials),
    };
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

  async function signedPostCall(
    conversation: SimulatedConversation,
    body: string,
  ): Promise<OutgoingWebhook> {
    const signature = await signElevenLabsPayload(body, options.webhookSecret, unixSecs());
    return {
      kind: "post_call",
      url: `${webhookBaseUrl ?? ""}${POST_CALL_PATH}`,
      headers: { "Content-Type": "application/json", "ElevenLabs-Signature": signature },
      body,
      callSid: conversation.callSid,
      conversationId: conversation.conversationId,
    };
  }

  /**
   * Ends the call's live time, then signs and sends (or queues) its final webhook; a chaos
   * call may send it twice. Returns the first one.
   */
  async function finalWebhook(
    conversation: SimulatedConversation,
    payload: Record<string, unknown>,
  ): Promise<OutgoingWebhook> {
    const body = JSON.stringify(payload);
    const webhook = await signedPostCall(conversation, body);
    release(conversation);
    await deliver(webhook);
    const duplicate = conversation.chaosDelivery?.duplicateFinal ?? "none";
    if (duplicate === "same_signature") {
      await deliver({ ...webhook, headers: { ...webhook.headers } });
    } else if (duplicate === "re_signed_later") {
      // A playback of its own: a 0603 answer must not wait for it.
      schedule(async () => {
        await delay(eventGapMs(), undefined, { signal: stopping.signal });
        await deliver(await signedPostCall(conversation, body));
      });
    }
    return webhook;
  }

  /** The gap between two events of an ordinary call. */
  function eventGapMs(): number {
    return callSeconds === undefined
      ? playbackDelayMs
      : (callSeconds * 1000) / ORDINARY_CALL_EVENTS;
  }

  /** Waits as long as an ordinary call lasts, from the call's acceptance. */
  function waitForCallLength(conversation: SimulatedConversation) {
    const dueMs = conversation.acceptedAtMs + eventGapMs() * ORDINARY_CALL_EVENTS;
    return delay(Math.max(0, dueMs - Date.now()), undefined, { signal: stopping.signal });
  }

  /**
   * Outbox mode, 0603: resolves once the failure webhook has been taken out of the outbox
   * (or released, reset, stopped), or after HELD_ANSWER_TIMEOUT_MS.
   */
  function holdAnswerUntilTaken(webhook: OutgoingWebhook): Promise<void> {
    return new Promise((resolve) => {
      // An aborted signal fires no more "abort": stopping answers at once.
      if (stopping.signal.aborted) return resolve();
      const held: HeldAnswer = {
        webhook,
        send() {
          clearTimeout(timer);
          stopping.signal.removeEventListener("abort", held.send);
          heldAnswers.delete(held);
          resolve();
        },
      };
      const timer = setTimeout(held.send, HELD_ANSWER_TIMEOUT_MS);
      stopping.signal.addEventListener("abort", held.send, { once: true });
      heldAnswers.add(held);
    });
  }

  function releaseHeldAnswers(callSid?: string): number {
    const released = [...heldAnswers].filter(
      (held) => callSid === undefined || held.webhook.callSid === callSid,
    );
    for (const held of released) held.send();
    return released.length;
  }

  /** The conversation as ElevenLabs' GET endpoint and post-call webhook both describe it. */
  function conversationData(conversation: SimulatedConversation) {
    const done = conversation.status === "done";
    return {
      agent_id: conversation.agentId,
      conversation_id: conversation.conversationId,
      status: conversation.status,
      user_id: null,
      transcript: conversation.transcript.map((turn) => ({
        role: turn.role,
        agent_metadata:
          turn.role === "agent" ? { agent_id: conversation.agentId, workflow_node_id: null } : null,
        message: turn.message,
        multivoice_message: null,
        tool_calls: turn.tool_calls.map((call) => ({ ...call })),
        tool_results: turn.tool_results.map((result) => ({
          ...result,
          result: { ...result.result },
        })),
        feedback: null,
        llm_override: null,
        time_in_call_secs: turn.time_in_call_secs,
        conversation_turn_metrics: null,
        rag_retrieval_info: null,
        llm_usage: null,
        interrupted: false,
        original_message: null,
      })),
      metadata: {
        start_time_unix_secs: conversation.startTimeUnixSecs,
        call_duration_secs: conversation.callDurationSecs,
        termination_reason: conversation.terminationReason,
        error: null,
        warnings: [],
        main_language: "en",
        text_only: false,
        phone_call: {
          type: "twilio",
          direction: "outbound",
          phone_number_id: conversation.agentPhoneNumberId,
          agent_number: AGENT_NUMBER,
          external_number: conversation.toNumber,
          call_result: conversation.callResult,
          stream_sid: conversation.streamSid,
          call_sid: conversation.twilioCallSid,
        },
        batch_call: null,
        features_usage: {
          voicemail_detection: {
            enabled: true,
            used: done && conversation.outcome === "voicemail",
          },
        },
        conversation_initiation_source: "twilio",
      },
      analysis: conversation.analysis && structuredClone(conversation.analysis),
      conversation_initiation_client_data: {
        conversation_config_override: {
          agent: { prompt: null, first_message: null, language: "en" },
          tts: { voice_id: null },
        },
        custom_llm_extra_body: {},
        user_id: null,
        dynamic_variables: { ...conversation.dynamicVariables },
      },
      has_audio: done,
      has_user_audio: done,
      has_response_audio: done,
      has_auxiliary_audio: false,
    };
  }

  /** Waits for the nth event of a call (1-based) with `events` events in all, the final webhook included. */
  function waitForEvent(conversation: SimulatedConversation, nth: number, events: number) {
    const signal = stopping.signal;
    if (callSeconds === undefined) return delay(playbackDelayMs, undefined, { signal });
    const dueMs = conversation.acceptedAtMs + (callSeconds * 1000 * nth) / events;
    return delay(Math.max(0, dueMs - Date.now()), undefined, { signal });
  }

  async function playCall(conversation: SimulatedConversation): Promise<void> {
    const startMs = conversation.startTimeUnixSecs * 1000;
    const name =
      typeof conversation.dynamicVariables.driver_name === "string"
        ? conversation.dynamicVariables.driver_name
        : "there";
    const script = scriptFor(conversation.outcome, name);
    const events = script.length + 1;
    const lastLiveIndex = script.findLastIndex((line) => line.message !== null);
    // Chaos: the last utterance waits here until the post-call webhook has gone out.
    let heldUtterance: OutgoingWebhook | undefined;
    let lastSecs = 0;
    for (const [index, line] of script.entries()) {
      await waitForEvent(conversation, index + 1, events);
      if (conversation.callResult === null && line.role === "user") {
        conversation.callResult = conversation.outcome === "voicemail" ? "voicemail" : "answered";
      }
      // Whole seconds, as ElevenLabs reports them; the transcription webhook's timestamp is
      // start + time_in_call_secs, so both webhooks place a turn at the same instant.
      lastSecs = Math.max(lastSecs, Math.floor((Date.now() - startMs) / 1000));
      const turn: Turn = {
        role: line.role,
        message: line.message,
        time_in_call_secs: lastSecs,
        tool_calls: line.toolCalls ?? [],
        tool_results: line.toolResults ?? [],
      };
      conversation.transcript.push(turn);
      // Tool calls and results are not utterances: the agent does not post them live.
      if (line.message === null || options.liveUtterances === false) continue;
      if (conversation.callSid === null) {
        log(
          `${conversation.conversationId}: no call_sid dynamic variable, transcription webhook skipped`,
        );
        continue;
      }
      const message = cutForLive(
        options.verbatimLiveMessages ? line.message : (line.liveMessage ?? line.message),
      );
      const utterance: OutgoingWebhook = {
        kind: "transcription",
        url: `${webhookBaseUrl ?? ""}${TRANSCRIPTION_PATH}`,
        headers: {
          "Content-Type": "application/json",
          Authorization: `Bearer ${options.transcriptionToken}`,
        },
        body: JSON.stringify({
          call_sid: conversation.callSid,
          speaker: turn.role,
          message,
          timestamp: new Date(startMs + turn.time_in_call_secs * 1000).toISOString(),
        }),
        callSid: conversation.callSid,
        conversationId: conversation.conversationId,
      };
      if (index === lastLiveIndex && conversation.chaosDelivery?.finalBeforeLastUtterance) {
        heldUtterance = utterance;
      } else {
        await deliver(utterance);
      }
    }
    await waitForEvent(conversation, events, events);
    conversation.callDurationSecs = Math.max(
      lastSecs + 1,
      Math.ceil((Date.now() - startMs) / 1000),
    );
    conversation.callResult = conversation.outcome === "voicemail" ? "voicemail" : "answered";
    conversation.terminationReason =
      conversation.outcome === "voicemail"
        ? "voicemail_detection tool was called."
        : "end_call tool was called.";
    if (conversation.outcome === "stuck_processing") {
      // ElevenLabs' processing never finishes: no analysis, no post-call webhook, and the
      // plan slot is free, as the call itself is over.
      conversation.status = "processing";
      release(conversation);
      log(`${conversation.conversationId}: stays "processing", no post-call webhook`);
    } else {
      conversation.analysis = analysisFor(conversation.outcome);
      conversation.status = "done";
      // An agent set to leave the transcript out: the live turns were all there is.
      if (conversation.outcome === "transcript_omitted") conversation.transcript = [];
      await finalWebhook(conversation, {
        type: "post_call_transcription",
        event_timestamp: unixSecs(),
        data: conversationData(conversation),
      });
    }
    if (heldUtterance) await deliver(heldUtterance);
  }

  async function failCall(
    conversation: SimulatedConversation,
    failure: (typeof INITIATION_FAILURES)[keyof typeof INITIATION_FAILURES],
  ): Promise<void> {
    await waitForEvent(conversation, 1, 1);
    await sendInitiationFailure(conversation, failure);
  }

  /** 0605: the call fails after its length, and ElevenLabs posts nothing about it. */
  async function failSilently(conversation: SimulatedConversation): Promise<void> {
    await waitForCallLength(conversation);
    conversation.status = "failed";
    conversation.terminationReason = INITIATION_FAILURES.no_answer_failure.failureReason;
    conversation.callResult = INITIATION_FAILURES.no_answer_failure.callResult;
    release(conversation);
    log(`${conversation.conversationId}: failed (no_answer), no webhook`);
  }

  function sendInitiationFailure(
    conversation: SimulatedConversation,
    failure: (typeof INITIATION_FAILURES)[keyof typeof INITIATION_FAILURES],
  ): Promise<OutgoingWebhook> {
    conversation.status = "failed";
    conversation.terminationReason = failure.failureReason;
    conversation.callResult = failure.callResult;
    // Documented without dynamic variables: the service must match it by conversation_id.
    return finalWebhook(conversation, {
      type: "call_initiation_failure",
      event_timestamp: unixSecs(),
      data: {
        agent_id: conversation.agentId,
        conversation_id: conversation.conversationId,
        failure_reason: failure.failureReason,
        metadata: {
          type: "twilio",
          body: {
            AccountSid: `AC${"0".repeat(32)}`,
            ApiVersion: "2010-04-01",
            CallSid: conversation.twilioCallSid,
            CallStatus: failure.callStatus,
            Direction: "outbound-api",
            From: AGENT_NUMBER,
            SipResponseCode: failure.sipResponseCode,
            To: conversation.toNumber,
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
    if (typeof payload?.to_number === "string") {
      dials.set(toNumber, (dials.get(toNumber) ?? 0) + 1);
    }

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
    const byEnding = OUTCOME_BY_LAST_FOUR[lastFour];
    // Drawn here, before any await, so that the draws follow the order of arrival.
    const chaos =
      missing.length === 0 && byEnding === undefined && chaosRandom
        ? drawChaos(chaosRandom)
        : undefined;
    const outcome: Outcome =
      missing.length > 0 ? "invalid_request" : (byEnding ?? chaos?.outcome ?? "success");
    const refusedAsFirstDial = outcome === "concurrency_refused_once" && !refusedOnce.has(toNumber);
    if (refusedAsFirstDial) refusedOnce.add(toNumber);
    const record: OutboundRecord = {
      at: Date.now(),
      toNumberLast4: lastFour,
      callSid,
      dynamicVariables: { ...dynamicVariables },
      inFlightAtArrival: inFlight,
      callRowExisted: null,
      conversationIdWasNull: null,
      outcome,
      conversationId:
        ACCEPTED_OUTCOMES.has(outcome) && !refusedAsFirstDial ? `conv_sim_${randomHex(10)}` : null,
      chaosBehaviour: chaos?.behaviour ?? null,
      chaosDelivery: chaos ? { ...chaos.delivery } : null,
    };
    records.push(record);
    log(
      `outbound-call to ***${lastFour} (call_sid ${callSid ?? "none"}): ${outcome}` +
        (chaos
          ? ` (chaos: ${chaos.behaviour}, duplicate ${chaos.delivery.duplicateFinal}` +
            `${chaos.delivery.finalBeforeLastUtterance ? ", before the last utterance" : ""})`
          : ""),
    );

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
      case "quota_exceeded":
        // Only the two keys the SDK requires; a "limit", but not one of concurrency.
        return sendJson(response, 200, {
          success: false,
          message: "Workspace quota limit reached: out of credits.",
        });
      case "bad_response":
        response.writeHead(200, { "content-type": "text/html" });
        response.end("<html>oops</html>");
        return;
    }

    if (refusedAsFirstDial) {
      refusedForConcurrency += 1;
      record.outcome = "too_many_concurrent_requests";
      log(`outbound-call to ***${lastFour}: refused, first dial of ${toNumber} (0608)`);
      return sendJson(response, 429, {
        detail: {
          status: "too_many_concurrent_requests",
          message: "Too many concurrent requests: your workspace is at its limit, try again later.",
        },
      });
    }

    // Accepting the call makes it live: the plan is checked here, at the moment of acceptance.
    if (plan !== null && live >= plan) {
      refusedForConcurrency += 1;
      record.outcome = "too_many_concurrent_requests";
      record.conversationId = null;
      log(`outbound-call to ***${lastFour}: refused, ${live} live calls, plan allows ${plan}`);
      return sendJson(response, 429, {
        detail: {
          status: "too_many_concurrent_requests",
          message: `Too many concurrent calls: your plan allows ${plan} at once.`,
        },
      });
    }
    live += 1;
    maxLive = Math.max(maxLive, live);

    const acceptedAtMs = Date.now();
    const conversation: SimulatedConversation = {
      conversationId: record.conversationId ?? `conv_sim_${randomHex(10)}`,
      agentId: String(payload?.agent_id),
      agentPhoneNumberId: String(payload?.agent_phone_number_id),
      toNumber,
      callSid,
      twilioCallSid: `CA${randomHex(16)}`,
      streamSid: `MZ${randomHex(16)}`,
      dynamicVariables: { ...dynamicVariables },
      outcome,
      // 0605 never connects: ElevenLabs still says "initiated" while it rings.
      status: outcome === "failed_silently" ? "initiated" : "in-progress",
      startTimeUnixSecs: Math.floor(acceptedAtMs / 1000),
      acceptedAtMs,
      callDurationSecs: 0,
      terminationReason: "",
      callResult: null,
      transcript: [],
      analysis: null,
      live: true,
      chaosDelivery: record.chaosDelivery,
    };
    conversations.set(conversation.conversationId, conversation);
    const answer = {
      success: true,
      message: "Success",
      conversation_id: conversation.conversationId,
      // 0601: ElevenLabs' SDK types callSid as optional, and this answer leaves it out.
      ...(outcome === "success_without_call_sid" ? {} : { callSid: conversation.twilioCallSid }),
    };
    if (outcome === "busy_before_answer") {
      // Twilio's busy reaches ElevenLabs, and its webhook the Worker, before the answer does.
      try {
        const failure = await sendInitiationFailure(conversation, INITIATION_FAILURES.busy);
        if (webhookBaseUrl === undefined) await holdAnswerUntilTaken(failure);
      } finally {
        release(conversation);
      }
      return sendJson(response, 200, answer);
    }
    sendJson(response, 200, answer);
    schedule(async () => {
      try {
        if (outcome === "busy" || outcome === "no_answer_failure") {
          await failCall(conversation, INITIATION_FAILURES[outcome]);
        } else if (outcome === "failed_silently") {
          await failSilently(conversation);
        } else {
          await playCall(conversation);
        }
      } finally {
        // A playback cut short (stop(), an error) must not hold a plan slot for ever.
        release(conversation);
      }
    });
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

  function takeOutbox(
    callSid?: string,
    { keepAnswersHeld = false }: { keepAnswersHeld?: boolean } = {},
  ): OutgoingWebhook[] {
    const taken =
      callSid === undefined
        ? outboxQueue
        : outboxQueue.filter((webhook) => webhook.callSid === callSid);
    outboxQueue =
      callSid === undefined ? [] : outboxQueue.filter((webhook) => webhook.callSid !== callSid);
    if (!keepAnswersHeld) {
      for (const held of [...heldAnswers]) if (taken.includes(held.webhook)) held.send();
    }
    return taken;
  }

  function reset() {
    records = [];
    outboxQueue = [];
    maxInFlight = inFlight;
    // Calls still playing stay live: they hold their plan slots until their final webhook.
    maxLive = live;
    refusedForConcurrency = 0;
    dials = new Map();
    refusedOnce = new Set();
    chaosRandom = chaosSeed === undefined ? undefined : mulberry32(chaosSeed);
    // Their webhooks left with the outbox: nothing would send these answers but the timeout.
    releaseHeldAnswers();
    plan = startupPlan;
  }

  function setPlan(maxLiveCalls: number | null) {
    if (maxLiveCalls !== null && !isPlanLimit(maxLiveCalls)) {
      throw new RangeError(`maxLiveCalls must be a non-negative integer or null`);
    }
    plan = maxLiveCalls;
  }

  async function route(request: IncomingMessage, response: ServerResponse, body: string) {
    const url = new URL(request.url ?? "/", "http://localhost");
    const method = request.method ?? "GET";

    if (method === "GET" && url.pathname === "/simulator/stats") {
      return sendJson(response, 200, stats());
    }
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
      if (method === "POST" && url.pathname === "/__sim/plan") {
        const planRequest = parseJsonObject(body);
        const limit = planRequest?.max_live_calls;
        if (
          !planRequest ||
          !("max_live_calls" in planRequest) ||
          (limit !== null && !isPlanLimit(limit))
        ) {
          return sendJson(response, 400, {
            detail: 'expected {"max_live_calls": <non-negative integer> | null}',
          });
        }
        setPlan(limit as number | null);
        return sendJson(response, 200, { ok: true, max_live_calls: plan });
      }
      if (method === "GET" && url.pathname === "/__sim/outbox") {
        return sendJson(response, 200, {
          webhooks: takeOutbox(url.searchParams.get("call_sid") ?? undefined, {
            keepAnswersHeld: url.searchParams.get("keep_answers_held") === "1",
          }),
        });
      }
      if (method === "POST" && url.pathname === "/__sim/release-held-answers") {
        return sendJson(response, 200, {
          released: releaseHeldAnswers(url.searchParams.get("call_sid") ?? undefined),
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
    setPlan,
    stats,
    outbox: takeOutbox,
    releaseHeldAnswers,
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

// ---------------------------------------------------------------------------------------
// What each kind of answered call says, and what ElevenLabs' analysis makes of it.

const GREETING = (name: string) =>
  `Hi ${name}, this is the fleet safety team calling about recent violations on your record. Do you have a minute?`;
// The transcription webhook tool's message is written by the agent's LLM: close, not equal.
const GREETING_LIVE = (name: string) =>
  `Hi ${name}, this is the fleet safety team, calling about some recent violations on your record. Do you have a minute?`;

function scriptFor(outcome: AcceptedOutcome, name: string): ScriptTurn[] {
  if (outcome === "voicemail") {
    const voicemailMessage = `Hi ${name}, this is the fleet safety team calling about recent violations on your record. Please call us back when you can. Drive safe.`;
    const requestId = `voicemail_detection_${randomHex(8)}`;
    const reason = "The call was answered by a voicemail greeting asking to leave a message.";
    const result = {
      result_type: "voicemail_detection_success",
      status: "success",
      voicemail_message: voicemailMessage,
      reason,
    };
    return [
      {
        role: "user",
        message:
          "Hi, you've reached my voicemail. I can't take your call right now, please leave a message after the tone.",
      },
      {
        role: "agent",
        message: null,
        toolCalls: [
          {
            type: "system",
            request_id: requestId,
            tool_name: "voicemail_detection",
            params_as_json: JSON.stringify({ reason }),
            tool_has_been_called: true,
            tool_details: null,
          },
        ],
      },
      {
        role: "agent",
        message: null,
        toolResults: [
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
        ],
      },
      {
        role: "agent",
        message: voicemailMessage,
        liveMessage: `Hi ${name}, this is the fleet safety team, calling about some recent violations on your record. Please call us back when you can. Drive safe.`,
      },
    ];
  }
  if (outcome === "long_user_turn") {
    return [
      { role: "agent", message: GREETING(name), liveMessage: GREETING_LIVE(name) },
      { role: "user", message: longUserTurn() },
      {
        role: "agent",
        message:
          "Thanks for telling me all that. I'll note it on your record, and we'll send you a written summary. Drive safe.",
      },
    ];
  }
  if (outcome === "opt_out") {
    return [
      { role: "agent", message: GREETING(name), liveMessage: GREETING_LIVE(name) },
      { role: "user", message: "No. Please take me off your list, I don't want any more calls." },
      { role: "agent", message: `Understood, ${name}. We won't call you again. Goodbye.` },
    ];
  }
  return [
    { role: "agent", message: GREETING(name), liveMessage: GREETING_LIVE(name) },
    { role: "user", message: "Yes, I have a minute. What happened?" },
    {
      role: "agent",
      message:
        "Thanks. I'll go over each one with you, and we'll send you a written summary. Drive safe.",
    },
  ];
}

/**
 * 0606: the driver talks on until the agent cuts in, LONG_USER_TURN_CHARS characters in the
 * final transcript, more than the transcription webhook's message may hold.
 */
function longUserTurn(): string {
  const sentence =
    "Let me tell you what really happened that week, because the log does not show the detour dispatch sent us on. ";
  const cut = sentence.repeat(Math.ceil(LONG_USER_TURN_CHARS / sentence.length));
  return `${cut.slice(0, LONG_USER_TURN_CHARS - 1)}—`;
}

/** A message over the transcription webhook's limit goes live cut at a word, ending in "…". */
function cutForLive(message: string): string {
  if (message.length <= LIVE_MESSAGE_MAX_CHARS) return message;
  const head = message.slice(0, LIVE_MESSAGE_MAX_CHARS - 1);
  const lastSpace = head.lastIndexOf(" ");
  return `${(lastSpace > 0 ? head.slice(0, lastSpace) : head).trimEnd()}…`;
}

/** One chaos call: the ending it plays, and how its post-call webhook goes out. */
function drawChaos(random: () => number): {
  behaviour: ChaosBehaviour;
  outcome: Outcome;
  delivery: ChaosDelivery;
} {
  // Always three draws per call, whatever it drew, so that one call's draws never shift the
  // next call's.
  const pick = random() * CHAOS_WEIGHTS;
  const duplicate = random();
  const outOfOrder = random();
  let behaviour: ChaosBehaviour = "ordinary";
  let below = 0;
  for (const [ending, weight] of CHAOS_MIX) {
    below += weight;
    if (pick < below) {
      behaviour = ending;
      break;
    }
  }
  return {
    behaviour,
    outcome: behaviour === "ordinary" ? "success" : (OUTCOME_BY_LAST_FOUR[behaviour] ?? "success"),
    delivery: {
      duplicateFinal:
        duplicate >= CHAOS_DUPLICATE_CHANCE
          ? "none"
          : duplicate < CHAOS_DUPLICATE_CHANCE / 2
            ? "same_signature"
            : "re_signed_later",
      finalBeforeLastUtterance: outOfOrder < CHAOS_OUT_OF_ORDER_CHANCE,
    },
  };
}

/** mulberry32: a tiny seeded PRNG (uniform in [0, 1)), so that a chaos run replays from its seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const DATA_COLLECTION_DESCRIPTIONS = {
  acknowledged_violation: "Whether the driver acknowledged the violations on their record.",
  disputes_violation: "Whether the driver disputed any of the violations.",
  opt_out: "Whether the driver asked not to be called again.",
} as const;

function analysisFor(outcome: AcceptedOutcome): Analysis {
  const collected = (
    id: keyof typeof DATA_COLLECTION_DESCRIPTIONS,
    value: boolean | null,
    rationale: string,
  ) => ({
    data_collection_id: id,
    value,
    json_schema: { type: "boolean", description: DATA_COLLECTION_DESCRIPTIONS[id] },
    rationale,
  });
  const reviewed = (result: EvaluationResult, rationale: string) => ({
    violations_reviewed: { criteria_id: "violations_reviewed", result, rationale },
  });
  if (outcome === "voicemail") {
    const rationale = "The call reached voicemail; the driver was not spoken to.";
    return {
      call_successful: "failure",
      transcript_summary:
        "The call reached the driver's voicemail. The agent left a message asking the driver to call back.",
      call_summary_title: "Voicemail left",
      evaluation_criteria_results: reviewed("failure", rationale),
      data_collection_results: {
        acknowledged_violation: collected("acknowledged_violation", null, rationale),
        disputes_violation: collected("disputes_violation", null, rationale),
        opt_out: collected("opt_out", null, rationale),
      },
    };
  }
  if (outcome === "opt_out") {
    const rationale = "The driver ended the call before the violations were discussed.";
    return {
      call_successful: "failure",
      transcript_summary:
        "The driver asked not to be called again before the violations were reviewed. The agent confirmed and ended the call.",
      call_summary_title: "Driver opted out",
      evaluation_criteria_results: reviewed(
        "failure",
        "The driver asked not to be called again before the violations were reviewed.",
      ),
      data_collection_results: {
        acknowledged_violation: collected("acknowledged_violation", null, rationale),
        disputes_violation: collected("disputes_violation", null, rationale),
        opt_out: collected("opt_out", true, "The driver asked to be taken off the call list."),
      },
    };
  }
  return {
    call_successful: "success",
    transcript_summary:
      "The agent went over the driver's recent violations. The driver acknowledged them, disputed none, and will receive a written summary.",
    call_summary_title: "Violations reviewed",
    evaluation_criteria_results: reviewed(
      "success",
      "The agent went over the violations with the driver.",
    ),
    data_collection_results: {
      acknowledged_violation: collected(
        "acknowledged_violation",
        true,
        "The driver listened and acknowledged the violations.",
      ),
      disputes_violation: collected(
        "disputes_violation",
        false,
        "The driver did not dispute any violation.",
      ),
      opt_out: collected("opt_out", false, "The driver did not ask to stop the calls."),
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

function isPlanLimit(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
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
