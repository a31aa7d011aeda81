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

/** Each one is named in src/calls/status-rules.ts as "may have rung" or "nothing rang". */
export type OutboundCallFailureCode =
  | "elevenlabs_http_error"
  | "elevenlabs_server_error"
  | "elevenlabs_at_capacity"
  | "elevenlabs_rejected"
  | "elevenlabs_bad_response"
  | "elevenlabs_timeout"
  | "elevenlabs_unreachable";

export type OutboundCallResult =
  | { ok: true; conversationId: string; twilioCallSid: string | null }
  | { ok: false; code: OutboundCallFailureCode; reason: string; httpStatus?: number };

/**
 * GET /v1/convai/conversations/{id}: its `status` and the whole body, which has the shape
 * of a post_call_transcription's `data` and is read by the same code
 * (src/elevenlabs/post-call.ts), so the reconciler finishes a call exactly as the webhook.
 */
export interface ConversationDetails {
  status: string;
  data: Record<string, unknown>;
}

export interface ElevenLabsClient {
  /** Never retried: a retry can dial the driver twice. Never throws: every failure is a result. */
  placeOutboundCall(request: OutboundCallRequest): Promise<OutboundCallResult>;
  /** null when ElevenLabs says 404; throws ElevenLabsUnavailableError when it cannot answer (network, timeout, 5xx, not JSON). */
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

// The outbound-call answer as ElevenLabs' SDK types it (TwilioOutboundCallResponse):
// `success` and `message` always, `conversation_id` and `callSid` optional and nullable.
// Extra fields are allowed (ElevenLabs adds fields over time). `message` is read leniently
// too: a missing message must not turn an accepted call into an unreadable answer.
const outboundCallResponseSchema = z
  .object({
    success: z.boolean(),
    message: z.string().nullish(),
    conversation_id: z.string().nullish(),
    callSid: z.string().nullish(),
  })
  .loose();

// Only what decides whether the call is over is checked here; the rest of the body is read
// by the post-call interpreter, which treats it exactly like a webhook's `data`.
const conversationResponseSchema = z.object({ status: z.string() }).loose();

/** The `detail.status` values ElevenLabs' APIs answer when the workspace is at its concurrency. */
const CONCURRENCY_STATUSES = new Set(["too_many_concurrent_requests", "system_busy"]);

/**
 * Whether a refusal means "over the plan's concurrency", so the driver waits for a slot
 * (and it is not an attempt). ElevenLabs documents no concurrency answer for the
 * outbound-call endpoint; its other APIs answer HTTP 429 with
 * `{"detail": {"status": "too_many_concurrent_requests" | "system_busy"}}`, and its
 * burst-pricing page says calls over the limit "are rejected with an error". So: a 429, a
 * body with one of those `detail.status` values, or a message that names concurrency.
 * Never a message that only speaks of a limit or a quota: "out of credits" would make a
 * driver wait for a slot that never comes.
 */
export function isConcurrencyRefusal(
  httpStatus: number,
  body: { detailStatus?: string | undefined; message?: string | null | undefined },
): boolean {
  if (httpStatus === 429) return true;
  if (body.detailStatus !== undefined && CONCURRENCY_STATUSES.has(body.detailStatus)) return true;
  return typeof body.message === "string" && /concurren|too many/i.test(body.message);
}

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

    const json = parseJson(text);
    if (status < 200 || status > 299) {
      const detail = errorDetail(json);
      const code = isConcurrencyRefusal(status, {
        detailStatus: detailStatus(json),
        message: detail,
      })
        ? "elevenlabs_at_capacity"
        : status >= 500
          ? "elevenlabs_server_error"
          : "elevenlabs_http_error";
      return fail(
        code,
        `ElevenLabs answered HTTP ${status}${detail ? `: ${detail}` : ""} (call to ${masked}).`,
        status,
      );
    }
    const parsed = outboundCallResponseSchema.safeParse(json);
    if (!parsed.success) {
      return fail(
        "elevenlabs_bad_response",
        `ElevenLabs answered HTTP ${status} with a body that is not the expected outbound-call JSON (call to ${masked}).`,
        status,
      );
    }
    const body = parsed.data;
    if (!body.success) {
      // A refusal, whatever else the body holds: nothing rang.
      return fail(
        isConcurrencyRefusal(status, { detailStatus: detailStatus(json), message: body.message })
          ? "elevenlabs_at_capacity"
          : "elevenlabs_rejected",
        `ElevenLabs did not place the call to ${masked}: ${body.message || "no message"}`,
        status,
      );
    }
    if (!body.conversation_id) {
      // Accepted without an id to follow it by: the phone may ring, and the post-call
      // webhook (found by our call_sid) may still complete it.
      return fail(
        "elevenlabs_bad_response",
        `ElevenLabs accepted the call to ${masked} without a conversation_id: ${body.message || "no message"}`,
        status,
      );
    }
    return {
      ok: true,
      conversationId: body.conversation_id,
      twilioCallSid: body.callSid ?? null,
    };
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
      const detail = errorDetail(parseJson(text));
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
    return { status: parsed.data.status, data: parsed.data };
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
function errorDetail(body: unknown): string | undefined {
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

/** `detail.status` of an error body (`{"detail": {"status": "too_many_concurrent_requests"}}`). */
function detailStatus(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null || !("detail" in body)) return undefined;
  const detail = body.detail;
  return typeof detail === "object" && detail !== null && "status" in detail
    ? typeof detail.status === "string"
      ? detail.status
      : undefined
    : undefined;
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
