// The ElevenLabs client and the post-call signature check, inside workerd (where they run in
// production). The client gets a fake fetch: no network, every answer chosen by the test.
import { describe, expect, it } from "vitest";
import {
  createElevenLabsClient,
  ElevenLabsUnavailableError,
  type OutboundCallResult,
  violationsSummary,
} from "../../src/elevenlabs/client";
import { readConversation } from "../../src/elevenlabs/post-call";
import { signElevenLabsPayload, verifyElevenLabsSignature } from "../../src/elevenlabs/signature";

const API_KEY = "sk_test_do_not_leak_1234567890";
const PHONE = "+15551230042";

interface SentRequest {
  url: string;
  method: string;
  headers: Headers;
  body: string | undefined;
}

/** A fetch that records what it was asked and answers with `answer`. */
function fakeFetch(
  answer: (request: SentRequest, init: RequestInit | undefined) => Promise<Response>,
) {
  const sent: SentRequest[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request: SentRequest = {
      url: String(input),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: typeof init?.body === "string" ? init.body : undefined,
    };
    sent.push(request);
    return answer(request, init);
  }) as typeof fetch;
  return { fetchImpl, sent };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function client(fetchImpl: typeof fetch, timeoutMs?: number) {
  return createElevenLabsClient({
    apiKey: API_KEY,
    baseUrl: "https://elevenlabs.test/",
    agentId: "agent_1",
    agentPhoneNumberId: "phnum_1",
    fetch: fetchImpl,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

async function placeWith(answer: () => Promise<Response>, timeoutMs?: number) {
  const { fetchImpl } = fakeFetch(answer);
  return client(fetchImpl, timeoutMs).placeOutboundCall({
    toNumber: PHONE,
    dynamicVariables: { call_sid: "EL_42_1763900000" },
  });
}

function expectNoSecrets(result: OutboundCallResult) {
  const text = JSON.stringify(result);
  expect(text).not.toContain(API_KEY);
  expect(text).not.toContain(PHONE);
  expect(text).not.toContain(PHONE.slice(1));
}

const SUCCESS = {
  success: true,
  message: "Success",
  conversation_id: "conv_abc",
  callSid: "CA123",
};

describe("placeOutboundCall", () => {
  it("POSTs the outbound-call request ElevenLabs documents, with xi-api-key", async () => {
    const { fetchImpl, sent } = fakeFetch(async () => json(200, SUCCESS));
    const result = await client(fetchImpl).placeOutboundCall({
      toNumber: PHONE,
      dynamicVariables: {
        call_sid: "EL_42_1763900000",
        driver_id: 42,
        has_prior_violations: false,
        driver_name: null,
      },
    });
    expect(result).toEqual({ ok: true, conversationId: "conv_abc", twilioCallSid: "CA123" });
    expect(sent).toHaveLength(1);
    const request = sent[0] as SentRequest;
    expect(request.url).toBe("https://elevenlabs.test/v1/convai/twilio/outbound-call");
    expect(request.method).toBe("POST");
    expect(request.headers.get("xi-api-key")).toBe(API_KEY);
    expect(request.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(request.body ?? "")).toEqual({
      agent_id: "agent_1",
      agent_phone_number_id: "phnum_1",
      to_number: PHONE,
      conversation_initiation_client_data: {
        dynamic_variables: {
          call_sid: "EL_42_1763900000",
          driver_id: 42,
          has_prior_violations: false,
          driver_name: null,
        },
      },
    });
  });

  it("accepts extra fields in ElevenLabs' answer", async () => {
    const result = await placeWith(async () =>
      json(200, { ...SUCCESS, sip_call_id: null, extra: 1 }),
    );
    expect(result).toMatchObject({ ok: true, conversationId: "conv_abc" });
  });

  it("passes an AbortSignal and sends the request exactly once", async () => {
    const { fetchImpl, sent } = fakeFetch(async (_request, init) => {
      expect(init?.signal).toBeInstanceOf(AbortSignal);
      return json(503, { detail: "busy" });
    });
    const result = await client(fetchImpl).placeOutboundCall({
      toNumber: PHONE,
      dynamicVariables: {},
    });
    expect(result).toMatchObject({ ok: false, code: "elevenlabs_server_error", httpStatus: 503 });
    // Never retried, also on a 5xx: a retry could dial the driver twice.
    expect(sent).toHaveLength(1);
  });

  it("maps HTTP 500 to elevenlabs_server_error (it may have rung) with the status", async () => {
    const result = await placeWith(async () => json(500, { detail: "Internal server error" }));
    expect(result).toEqual({
      ok: false,
      code: "elevenlabs_server_error",
      httpStatus: 500,
      reason: expect.stringContaining("HTTP 500: Internal server error"),
    });
    expectNoSecrets(result);
  });

  it("maps 422 to elevenlabs_http_error with the first detail message", async () => {
    const result = await placeWith(async () =>
      json(422, {
        detail: [
          { loc: ["body", "to_number"], msg: `invalid phone number ${PHONE}`, type: "value_error" },
          { loc: ["body", "agent_id"], msg: "second", type: "value_error" },
        ],
      }),
    );
    expect(result).toMatchObject({ ok: false, code: "elevenlabs_http_error", httpStatus: 422 });
    if (result.ok) throw new Error("expected a failure");
    expect(result.reason).toContain("invalid phone number ***0042");
    expect(result.reason).not.toContain("second");
    expectNoSecrets(result);
  });

  it("maps a non-JSON error body to elevenlabs_server_error without echoing the body", async () => {
    const result = await placeWith(
      async () => new Response("<html>bad gateway</html>", { status: 502 }),
    );
    expect(result).toMatchObject({ ok: false, code: "elevenlabs_server_error", httpStatus: 502 });
    if (result.ok) throw new Error("expected a failure");
    expect(result.reason).not.toContain("<html>");
  });

  it("maps 429, and a success:false about concurrency, to elevenlabs_at_capacity", async () => {
    const tooMany = await placeWith(async () =>
      json(429, { detail: { status: "too_many_concurrent_requests", message: "Too many" } }),
    );
    expect(tooMany).toMatchObject({ ok: false, code: "elevenlabs_at_capacity", httpStatus: 429 });
    const refused = await placeWith(async () =>
      json(200, {
        success: false,
        message: "Concurrency limit reached for your plan",
        conversation_id: null,
        callSid: null,
      }),
    );
    expect(refused).toMatchObject({ ok: false, code: "elevenlabs_at_capacity", httpStatus: 200 });
  });

  it("maps success:false to elevenlabs_rejected with ElevenLabs' message", async () => {
    const result = await placeWith(async () =>
      json(200, {
        success: false,
        message: `Could not call ${PHONE} with key ${API_KEY}`,
        conversation_id: null,
        callSid: null,
      }),
    );
    expect(result).toMatchObject({ ok: false, code: "elevenlabs_rejected", httpStatus: 200 });
    if (result.ok) throw new Error("expected a failure");
    expect(result.reason).toContain("Could not call ***0042");
    expectNoSecrets(result);
  });

  it("maps success:true without a conversation_id (null or absent) to elevenlabs_bad_response: it may ring", async () => {
    for (const body of [
      { success: true, message: "queued", conversation_id: null, callSid: "CA1" },
      { success: true, message: "queued" },
    ]) {
      const result = await placeWith(async () => json(200, body));
      expect(result).toMatchObject({ ok: false, code: "elevenlabs_bad_response", httpStatus: 200 });
    }
  });

  it("reads the answer as the SDK types it: callSid and message may be absent, extra keys are fine", async () => {
    const withoutCallSid = await placeWith(async () =>
      json(200, { success: true, message: "Success", conversation_id: "conv_1" }),
    );
    expect(withoutCallSid).toEqual({ ok: true, conversationId: "conv_1", twilioCallSid: null });
    const bare = await placeWith(async () =>
      json(200, { success: true, conversation_id: "conv_2", sip_call_id: null, extra: [1] }),
    );
    expect(bare).toEqual({ ok: true, conversationId: "conv_2", twilioCallSid: null });
  });

  it("maps success:false with only a message (no optional keys) to elevenlabs_rejected", async () => {
    const result = await placeWith(async () =>
      json(200, { success: false, message: "Phone number is not verified." }),
    );
    expect(result).toMatchObject({ ok: false, code: "elevenlabs_rejected", httpStatus: 200 });
  });

  it.each([
    "Workspace quota limit reached: out of credits.",
    "You have reached your character limit.",
    "Monthly usage limit exceeded",
    "At capacity for this billing period",
  ])(
    "never reads a message that only speaks of a limit (%s) as concurrency: elevenlabs_rejected",
    async (message) => {
      const result = await placeWith(async () => json(200, { success: false, message }));
      expect(result).toMatchObject({ ok: false, code: "elevenlabs_rejected" });
    },
  );

  it("recognizes concurrency by 429, by detail.status, or by words about concurrency", async () => {
    const systemBusy = await placeWith(async () =>
      json(503, { detail: { status: "system_busy", message: "The system is busy" } }),
    );
    expect(systemBusy).toMatchObject({
      ok: false,
      code: "elevenlabs_at_capacity",
      httpStatus: 503,
    });
    const bare429 = await placeWith(async () => new Response("", { status: 429 }));
    expect(bare429).toMatchObject({ ok: false, code: "elevenlabs_at_capacity", httpStatus: 429 });
    const tooMany = await placeWith(async () =>
      json(200, { success: false, message: "Too many calls are running at once" }),
    );
    expect(tooMany).toMatchObject({ ok: false, code: "elevenlabs_at_capacity" });
    // A 5xx without those words is an outage that may have rung.
    const outage = await placeWith(async () => json(503, { detail: "Service unavailable" }));
    expect(outage).toMatchObject({ ok: false, code: "elevenlabs_server_error" });
  });

  it("maps a non-JSON 200 body to elevenlabs_bad_response", async () => {
    const result = await placeWith(async () => new Response("<html>oops</html>", { status: 200 }));
    expect(result).toMatchObject({ ok: false, code: "elevenlabs_bad_response", httpStatus: 200 });
    expectNoSecrets(result);
  });

  it("maps a 200 body of the wrong shape to elevenlabs_bad_response", async () => {
    const result = await placeWith(async () => json(200, { success: "yes", conversation_id: 5 }));
    expect(result).toMatchObject({ ok: false, code: "elevenlabs_bad_response" });
  });

  it("ends a request that never answers with elevenlabs_timeout after timeoutMs", async () => {
    const { fetchImpl } = fakeFetch(
      (_request, init) =>
        new Promise<Response>((_resolve, reject) => {
          const signal = init?.signal;
          signal?.addEventListener("abort", () => reject(signal.reason));
        }),
    );
    const startedAt = Date.now();
    const result = await client(fetchImpl, 50).placeOutboundCall({
      toNumber: PHONE,
      dynamicVariables: {},
    });
    expect(result).toMatchObject({ ok: false, code: "elevenlabs_timeout" });
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(result).not.toHaveProperty("httpStatus");
    expectNoSecrets(result);
  });

  it("maps a network error to elevenlabs_unreachable", async () => {
    const result = await placeWith(async () => {
      throw new TypeError(`fetch failed for ${PHONE} (key ${API_KEY})`);
    });
    expect(result).toMatchObject({ ok: false, code: "elevenlabs_unreachable" });
    if (result.ok) throw new Error("expected a failure");
    expect(result.reason).toContain("fetch failed");
    expectNoSecrets(result);
  });
});

const CONVERSATION = {
  agent_id: "agent_1",
  conversation_id: "conv/with space",
  status: "done",
  transcript: [
    { role: "agent", message: "Hi Ana", time_in_call_secs: 0, tool_calls: [] },
    { role: "agent", message: null, time_in_call_secs: 1, tool_calls: [{ tool_name: "save" }] },
    { role: "user", message: "Hello", time_in_call_secs: 3 },
  ],
  metadata: {
    start_time_unix_secs: 1_763_900_000,
    call_duration_secs: 42,
    termination_reason: "end_call tool was called.",
    cost: 12,
  },
  conversation_initiation_client_data: { dynamic_variables: { call_sid: "EL_42_1763900000" } },
  has_audio: true,
};

describe("getConversation", () => {
  it("GETs the conversation (id URL-encoded) and gives its status and ElevenLabs' whole body", async () => {
    const { fetchImpl, sent } = fakeFetch(async () => json(200, CONVERSATION));
    const details = await client(fetchImpl).getConversation("conv/with space");
    expect(sent[0]?.url).toBe(
      "https://elevenlabs.test/v1/convai/conversations/conv%2Fwith%20space",
    );
    expect(sent[0]?.method).toBe("GET");
    expect(sent[0]?.headers.get("xi-api-key")).toBe(API_KEY);
    // The body as ElevenLabs sent it: the reconciler reads it as a webhook's `data`.
    expect(details).toEqual({ status: "done", data: CONVERSATION });
    const reading = readConversation(details?.data, {
      conversationId: "conv/with space",
      receivedAt: new Date(),
    });
    expect(reading).toMatchObject({
      kind: "finish",
      reference: { callSid: "EL_42_1763900000", conversationId: "conv/with space" },
      report: {
        kind: "conversation",
        endedAt: new Date((1_763_900_000 + 42) * 1000),
        // The tool call's turn (message null) is not a spoken turn.
        transcript: [
          {
            role: "agent",
            message: "Hi Ana",
            time_in_call_secs: 0,
            timestamp: "2025-11-23T12:13:20.000Z",
          },
          {
            role: "user",
            message: "Hello",
            time_in_call_secs: 3,
            timestamp: "2025-11-23T12:13:23.000Z",
          },
        ],
      },
    });
  });

  it("answers null on 404", async () => {
    const { fetchImpl } = fakeFetch(async () =>
      json(404, { detail: { status: "conversation_not_found" } }),
    );
    expect(await client(fetchImpl).getConversation("conv_missing")).toBeNull();
  });

  it("throws ElevenLabsUnavailableError on 503", async () => {
    const { fetchImpl } = fakeFetch(async () => json(503, { detail: "down" }));
    const error = await client(fetchImpl)
      .getConversation("conv_1")
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ElevenLabsUnavailableError);
    expect((error as ElevenLabsUnavailableError).httpStatus).toBe(503);
  });

  it("throws ElevenLabsUnavailableError on a network error, a timeout and a bad body", async () => {
    const unreachable = fakeFetch(async () => {
      throw new TypeError("fetch failed");
    });
    await expect(client(unreachable.fetchImpl).getConversation("c")).rejects.toBeInstanceOf(
      ElevenLabsUnavailableError,
    );
    const hanging = fakeFetch(
      (_request, init) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
        }),
    );
    await expect(client(hanging.fetchImpl, 50).getConversation("c")).rejects.toBeInstanceOf(
      ElevenLabsUnavailableError,
    );
    const garbled = fakeFetch(async () => new Response("<html>", { status: 200 }));
    await expect(client(garbled.fetchImpl).getConversation("c")).rejects.toBeInstanceOf(
      ElevenLabsUnavailableError,
    );
  });
});

describe("verifyElevenLabsSignature", () => {
  const SECRET = "whsec_test";
  const BODY = JSON.stringify({ type: "post_call_transcription", data: { conversation_id: "c" } });
  const NOW = new Date("2026-11-23T14:00:00Z");
  const NOW_SECS = NOW.getTime() / 1000;

  async function check(
    header: string | null | undefined,
    overrides: { body?: string; secret?: string } = {},
  ) {
    return verifyElevenLabsSignature({
      header,
      rawBody: overrides.body ?? BODY,
      secret: overrides.secret ?? SECRET,
      now: NOW,
    });
  }

  it("accepts a valid signature and returns its timestamp", async () => {
    const header = await signElevenLabsPayload(BODY, SECRET, NOW_SECS);
    expect(header).toMatch(/^t=\d+,v0=[0-9a-f]{64}$/);
    expect(await check(header)).toEqual({ ok: true, timestamp: NOW_SECS });
  });

  it("rejects a signature made with another secret", async () => {
    const header = await signElevenLabsPayload(BODY, "another-secret", NOW_SECS);
    expect(await check(header)).toEqual({ ok: false, reason: "mismatch" });
  });

  it("rejects a tampered body", async () => {
    const header = await signElevenLabsPayload(BODY, SECRET, NOW_SECS);
    expect(await check(header, { body: BODY.replace('"c"', '"d"') })).toEqual({
      ok: false,
      reason: "mismatch",
    });
  });

  it("rejects a timestamp that was changed after signing", async () => {
    const header = await signElevenLabsPayload(BODY, SECRET, NOW_SECS);
    expect(await check(header.replace(`t=${NOW_SECS}`, `t=${NOW_SECS + 1}`))).toEqual({
      ok: false,
      reason: "mismatch",
    });
  });

  it("rejects an event older than 30 minutes and accepts one just inside", async () => {
    const stale = await signElevenLabsPayload(BODY, SECRET, NOW_SECS - 1801);
    expect(await check(stale)).toEqual({ ok: false, reason: "stale" });
    const inside = await signElevenLabsPayload(BODY, SECRET, NOW_SECS - 1800);
    expect(await check(inside)).toMatchObject({ ok: true });
  });

  it("rejects an event more than 5 minutes ahead and accepts one just inside", async () => {
    const future = await signElevenLabsPayload(BODY, SECRET, NOW_SECS + 301);
    expect(await check(future)).toEqual({ ok: false, reason: "future" });
    const inside = await signElevenLabsPayload(BODY, SECRET, NOW_SECS + 300);
    expect(await check(inside)).toMatchObject({ ok: true });
  });

  it("honours custom tolerances", async () => {
    const header = await signElevenLabsPayload(BODY, SECRET, NOW_SECS - 61);
    expect(
      await verifyElevenLabsSignature({
        header,
        rawBody: BODY,
        secret: SECRET,
        now: NOW,
        toleranceSecs: 60,
      }),
    ).toEqual({ ok: false, reason: "stale" });
  });

  it("reports a missing header", async () => {
    expect(await check(undefined)).toEqual({ ok: false, reason: "missing_header" });
    expect(await check(null)).toEqual({ ok: false, reason: "missing_header" });
    expect(await check("  ")).toEqual({ ok: false, reason: "missing_header" });
  });

  it("reports malformed headers", async () => {
    const valid = await signElevenLabsPayload(BODY, SECRET, NOW_SECS);
    const hex = valid.split("v0=")[1] as string;
    for (const header of [
      "garbage",
      `v0=${hex}`,
      `t=${NOW_SECS}`,
      `t=abc,v0=${hex}`,
      `t=-5,v0=${hex}`,
      `t=${NOW_SECS},v0=not-hex`,
      `t=${NOW_SECS},v0=${hex.slice(0, 62)}`,
      `t=${NOW_SECS},v1=${hex}`,
    ]) {
      expect(await check(header), header).toEqual({ ok: false, reason: "malformed_header" });
    }
  });

  it("passes when any one of several v0 values is valid, and ignores unknown keys", async () => {
    const valid = (await signElevenLabsPayload(BODY, SECRET, NOW_SECS)).split("v0=")[1] as string;
    const other = (await signElevenLabsPayload(BODY, "old-secret", NOW_SECS)).split(
      "v0=",
    )[1] as string;
    expect(await check(`t=${NOW_SECS},v0=${other},v0=${valid}`)).toMatchObject({ ok: true });
    expect(await check(`v1=zzz, t=${NOW_SECS} , v0=${valid.toUpperCase()}`)).toMatchObject({
      ok: true,
    });
    expect(await check(`t=${NOW_SECS},v0=nothex,v0=${valid}`)).toMatchObject({ ok: true });
    expect(await check(`t=${NOW_SECS},v0=${other},v0=${other}`)).toEqual({
      ok: false,
      reason: "mismatch",
    });
  });

  it("refuses everything when the secret is empty", async () => {
    const header = await signElevenLabsPayload(BODY, SECRET, NOW_SECS);
    expect(await check(header, { secret: "" })).toEqual({ ok: false, reason: "mismatch" });
  });
});

describe("violationsSummary", () => {
  it("lists code, description and the date in the offset given", () => {
    expect(
      violationsSummary([
        {
          code: "HOS_11H",
          description: "Exceeded the 11-hour driving limit",
          occurred_at: "2026-11-20T23:30:00-06:00",
        },
        {
          code: "SPEED_15",
          description: "15 mph over the limit",
          occurred_at: "2026-11-21T08:00:00Z",
        },
      ]),
    ).toBe(
      "2 violations: HOS_11H (Exceeded the 11-hour driving limit) on 2026-11-20; SPEED_15 (15 mph over the limit) on 2026-11-21",
    );
  });

  it("uses the singular for one violation", () => {
    expect(
      violationsSummary([
        { code: "ELD_1", description: "Log gap", occurred_at: "2026-11-20T10:00:00+02:00" },
      ]),
    ).toBe("1 violation: ELD_1 (Log gap) on 2026-11-20");
  });

  it("caps a long list at about 1,000 characters with …and N more", () => {
    const violations = Array.from({ length: 40 }, (_, index) => ({
      code: `CODE_${index}`,
      description: "A description that is long enough to fill the summary quickly",
      occurred_at: "2026-11-20T10:00:00Z",
    }));
    const summary = violationsSummary(violations);
    expect(summary.length).toBeLessThanOrEqual(1_000);
    expect(summary.startsWith("40 violations: CODE_0 (")).toBe(true);
    const match = /; …and (\d+) more$/.exec(summary);
    expect(match).not.toBeNull();
    const listed = (summary.match(/CODE_\d+/g) ?? []).length;
    expect(listed + Number(match?.[1])).toBe(40);
  });

  it("cuts a single huge description rather than exceed the cap", () => {
    const summary = violationsSummary([
      { code: "X", description: "y".repeat(5_000), occurred_at: "2026-11-20T10:00:00Z" },
    ]);
    expect(summary.length).toBeLessThanOrEqual(1_000);
    expect(summary.startsWith("1 violation: X (yyy")).toBe(true);
  });
});
