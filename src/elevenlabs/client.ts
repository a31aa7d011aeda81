// A small typed fetch client for the two ElevenLabs endpoints the service uses. Not the
// official SDK: the SDK retries 408/429/5xx by default, and a retried outbound-call request
// can dial a driver twice; it also pulls Node-only modules into the Worker bundle.
//
// placeOutboundCall never throws: the caller records every failure on the Call row, so each
// way it can fail is a result with a code. Reasons are written for the Call's
// failure_reason and the logs, so they never carry the API key or a full phone number.
import { z } from "zod";
import { maskPhoneNumber, maskPhoneNumbersIn } from "../http/log";

export type DynamicVariables = Record<string, string | number | boolean | null>;

export interface OutboundCallRequest {
  toNumber: string;
  dynamicVariables: DynamicVariables;
}

export type OutboundCallFailureCode =
  | "elevenlabs_http_error"
  | "elevenlabs_rejected"
  | "elevenlabs_bad_response"
  | "elevenlabs_timeout"
  | "elevenlabs_unreachable";

export type OutboundCallResult =
  | { ok: true; conversationId: string; twilioCallSid: string | null }
  | { ok: false; code: OutboundCallFailureCode; reason: string; httpStatus?: number };

export interface TranscriptTurn {
  role: "agent" | "user";
  message: string;
  time_in_call_secs: number;
}

export interface ConversationDetails {
  conversation_id: string;
  status: string;
  transcript: TranscriptTurn[];
  metadata: {
    start_time_unix_secs: number;
    call_duration_secs: number;
    termination_reason?: string | null;
  };
  dynamic_variables: Record<string, unknown>;
}

export interface ElevenLabsClient {
  /** Never retried: a retry can dial the driver twice. Never throws: every failure is a result. */
  placeOutboundCall(request: OutboundCallRequest): Promise<OutboundCallResult>;
  /** null when ElevenLabs says 404; throws ElevenLabsUnavailableError when it cannot answer (network, timeout, 5xx, unparseable). */
  getConversation(conversationId: string): Promise<ConversationDetails | null>;
}

/** ElevenLabs could not tell us about a conversation; try again later. */
export class ElevenLabsUnavailableError extends Error {
  override name = "ElevenLabsUnavailableError";
  readonly httpStatus: number | undefined;

  constructor(message: string, options: { cause?: unknown; httpStatus?: number } = {}) {
    super(message, { cause: options.cause });
    this.httpStatus = options.httpStatus;
  }
}

export interface ElevenLabsClientOptions {
  apiKey: string;
  baseUrl: string;
  agentId: string;
  agentPhoneNumberId: string;
  /** Per request, body included. Default 10 s: well inside a Worker request's budget. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

// The outbound-call answer. Extra fields are allowed (ElevenLabs adds fields over time);
// only what we rely on is checked.
const outboundCallResponseSchema = z.object({
  success: z.boolean(),
  message: z.string(),
  conversation_id: z.string().nullable(),
  callSid: z.string().nullable(),
});

// ElevenLabs' conversation as GET /v1/convai/conversations/{id} returns it. Turns that are
// tool calls or results have `message: null` and are dropped; so are roles other than
// agent and user, should ElevenLabs add some.
const conversationResponseSchema = z.object({
  conversation_id: z.string(),
  status: z.string(),
  transcript: z.array(
    z.object({
      role: z.string(),
      message: z.string().nullish(),
      time_in_call_secs: z.number(),
    }),
  ),
  metadata: z.object({
    start_time_unix_secs: z.number(),
    call_duration_secs: z.number(),
    termination_reason: z.string().nullish(),
  }),
  conversation_initiation_client_data: z
    .object({ dynamic_variables: z.record(z.string(), z.unknown()).nullish() })
    .nullish(),
});

const MAX_REASON_LENGTH = 300;

export function createElevenLabsClient(options: ElevenLabsClientOptions): ElevenLabsClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 10_000;
  const fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));

  /** Removes what must never leave in a reason: the key and phone numbers. */
  function redact(text: string, toNumber?: string): string {
    let safe = text;
    if (options.apiKey) safe = safe.replaceAll(options.apiKey, "[redacted]");
    if (toNumber) safe = safe.replaceAll(toNumber, maskPhoneNumber(toNumber));
    safe = maskPhoneNumbersIn(safe);
    return safe.length > MAX_REASON_LENGTH ? `${safe.slice(0, MAX_REASON_LENGTH - 1)}…` : safe;
  }

  async function placeOutboundCall(request: OutboundCallRequest): Promise<OutboundCallResult> {
    const masked = maskPhoneNumber(request.toNumber);
    const fail = (
      code: OutboundCallFailureCode,
      reason: string,
      httpStatus?: number,
    ): OutboundCallResult => ({
      ok: false,
      code,
      reason: redact(reason, request.toNumber),
      ...(httpStatus === undefined ? {} : { httpStatus }),
    });

    let status: number;
    let text: string;
    try {
      const response = await fetchImpl(`${baseUrl}/v1/convai/twilio/outbound-call`, {
        method: "POST",
        headers: { "xi-api-key": options.apiKey, "content-type": "application/json" },
        body: JSON.stringify({
          agent_id: options.agentId,
          agent_phone_number_id: options.agentPhoneNumberId,
          to_number: request.toNumber,
          conversation_initiation_client_data: { dynamic_variables: request.dynamicVariables },
        }),
        // The signal also covers reading the body, so a stalled body is a timeout too.
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      // Whether ElevenLabs placed the call is unknown here; the caller must not retry.
      if (isAbort(error)) {
        return fail(
          "elevenlabs_timeout",
          `ElevenLabs did not answer within ${timeoutMs} ms (call to ${masked}).`,
        );
      }
      return fail(
        "elevenlabs_unreachable",
        `Could not reach ElevenLabs (call to ${masked}): ${errorMessage(error)}`,
      );
    }

    if (status < 200 || status > 299) {
      const detail = errorDetail(text);
      return fail(
        "elevenlabs_http_error",
        `ElevenLabs answered HTTP ${status}${detail ? `: ${detail}` : ""} (call to ${masked}).`,
        status,
      );
    }
    const parsed = outboundCallResponseSchema.safeParse(parseJson(text));
    if (!parsed.success) {
      return fail(
        "elevenlabs_bad_response",
        `ElevenLabs answered HTTP ${status} with a body that is not the expected outbound-call JSON (call to ${masked}).`,
        status,
      );
    }
    const body = parsed.data;
    if (!body.success || !body.conversation_id) {
      return fail(
        "elevenlabs_rejected",
        `ElevenLabs did not place the call to ${masked}: ${body.message || "no message"}`,
        status,
      );
    }
    return { ok: true, conversationId: body.conversation_id, twilioCallSid: body.callSid };
  }

  async function getConversation(conversationId: string): Promise<ConversationDetails | null> {
    let status: number;
    let text: string;
    try {
      const response = await fetchImpl(
        `${baseUrl}/v1/convai/conversations/${encodeURIComponent(conversationId)}`,
        { headers: { "xi-api-key": options.apiKey }, signal: AbortSignal.timeout(timeoutMs) },
      );
      status = response.status;
      text = await response.text();
    } catch (error) {
      const reason = isAbort(error)
        ? `ElevenLabs did not answer within ${timeoutMs} ms`
        : `Could not reach ElevenLabs: ${errorMessage(error)}`;
      throw new ElevenLabsUnavailableError(redact(reason), { cause: error });
    }
    if (status === 404) return null;
    if (status < 200 || status > 299) {
      // 5xx is an outage; any other status (401 bad key, 429) also means no answer now.
      const detail = errorDetail(text);
      throw new ElevenLabsUnavailableError(
        redact(`ElevenLabs answered HTTP ${status}${detail ? `: ${detail}` : ""}`),
        { httpStatus: status },
      );
    }
    const parsed = conversationResponseSchema.safeParse(parseJson(text));
    if (!parsed.success) {
      throw new ElevenLabsUnavailableError(
        "ElevenLabs answered with a conversation body that is not the expected JSON",
        { httpStatus: status },
      );
    }
    const data = parsed.data;
    return {
      conversation_id: data.conversation_id,
      status: data.status,
      transcript: data.transcript.flatMap((turn) =>
        (turn.role === "agent" || turn.role === "user") && typeof turn.message === "string"
          ? [{ role: turn.role, message: turn.message, time_in_call_secs: turn.time_in_call_secs }]
          : [],
      ),
      metadata: {
        start_time_unix_secs: data.metadata.start_time_unix_secs,
        call_duration_secs: data.metadata.call_duration_secs,
        termination_reason: data.metadata.termination_reason ?? null,
      },
      dynamic_variables: data.conversation_initiation_client_data?.dynamic_variables ?? {},
    };
  }

  return { placeOutboundCall, getConversation };
}

/** AbortSignal.timeout rejects with a TimeoutError; an abort from elsewhere is an AbortError. */
function isAbort(error: unknown): boolean {
  return (
    typeof error === "object" &&
    error !== null &&
    "name" in error &&
    (error.name === "TimeoutError" || error.name === "AbortError")
  );
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * A short human reason from an ElevenLabs error body: `{"detail": "..."}`, FastAPI's 422
 * `{"detail": [{"msg": ...}]}`, or `{"detail": {"status", "message"}}`.
 */
function errorDetail(text: string): string | undefined {
  const body = parseJson(text);
  if (typeof body !== "object" || body === null || !("detail" in body)) return undefined;
  const detail = body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    const first = detail.find(
      (item): item is { msg: string } =>
        typeof item === "object" && item !== null && typeof item.msg === "string",
    );
    return first?.msg;
  }
  if (typeof detail === "object" && detail !== null) {
    if ("message" in detail && typeof detail.message === "string") return detail.message;
    if ("status" in detail && typeof detail.status === "string") return detail.status;
  }
  return undefined;
}

export interface ViolationForSummary {
  code: string;
  description: string;
  occurred_at: string;
}

const MAX_SUMMARY_LENGTH = 1_000;

/**
 * One readable string for the agent's prompt (dynamic variables must be primitives):
 * "2 violations: HOS_11H (Exceeded the 11-hour driving limit) on 2026-11-20; ...".
 * The date is the calendar date in the offset the operator gave, i.e. the driver's local
 * day, which is the date part of the ISO string itself. Capped so that a long list cannot
 * blow up the prompt: the tail becomes "…and N more".
 */
export function violationsSummary(violations: ViolationForSummary[]): string {
  if (violations.length === 0) return "No violations.";
  const head = `${violations.length} violation${violations.length === 1 ? "" : "s"}: `;
  const items = violations.map(
    (violation) =>
      `${violation.code} (${violation.description}) on ${dateInGivenOffset(violation.occurred_at)}`,
  );
  const full = head + items.join("; ");
  if (full.length <= MAX_SUMMARY_LENGTH) return full;

  let summary = head;
  for (let index = 0; index < items.length; index++) {
    const remaining = items.length - index - 1;
    const tail = remaining > 0 ? `; …and ${remaining} more` : "";
    const candidate = `${summary}${index === 0 ? "" : "; "}${items[index]}`;
    // Keep room for the "…and N more" that may follow.
    if (candidate.length + tail.length > MAX_SUMMARY_LENGTH) {
      if (index === 0) {
        // A single huge description: cut it rather than send nothing.
        const room = MAX_SUMMARY_LENGTH - head.length - tail.length - 1;
        return `${head}${items[0]?.slice(0, Math.max(room, 0))}…${tail}`;
      }
      return `${summary}; …and ${items.length - index} more`;
    }
    summary = candidate;
  }
  return summary;
}

function dateInGivenOffset(occurredAt: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})/.exec(occurredAt);
  return match?.[1] ?? occurredAt;
}
