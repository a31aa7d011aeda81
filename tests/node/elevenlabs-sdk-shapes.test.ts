// The simulator's shapes, held by ElevenLabs' own SDK (@elevenlabs/elevenlabs-js, a test-only
// dependency: neither src/ nor the simulator imports it). The SDK client, pointed at a
// running simulator, must parse the outbound-call answer and GET conversation for every
// ending; its webhooks.constructEvent must accept every signed webhook the simulator
// produces; and the post_call_transcription data, which ElevenLabs documents as the GET
// conversation shape, must pass the SDK's GetConversationResponseModel parser. Answers that
// are not a 2xx success are held to what the SDK does with them: 0602's success:false parses
// as a TwilioOutboundCallResponse, 0608's first dial (like the plan's 429) is thrown. A chaos
// run (chaosSeed) must produce nothing the SDK cannot read either.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ElevenLabsClient } from "@elevenlabs/elevenlabs-js";
import * as serializers from "@elevenlabs/elevenlabs-js/serialization";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type OutgoingWebhook,
  type RunningSimulator,
  startElevenLabsSimulator,
} from "../../scripts/lib/elevenlabs-simulator.ts";

const SECRET = "sdk-shapes-secret";
const API_KEY = "sdk-shapes-key";

/** What the SDK's conversations.get passes to its parser. */
const AS_THE_SDK_PARSES = {
  unrecognizedObjectKeys: "passthrough",
  allowUnrecognizedUnionMembers: true,
  allowUnrecognizedEnumValues: true,
} as const;

/** Stricter: every field name and enum value the simulator sends is one the SDK knows. */
const STRICTLY = {
  unrecognizedObjectKeys: "fail",
  allowUnrecognizedUnionMembers: false,
  allowUnrecognizedEnumValues: false,
} as const;

let sim: RunningSimulator;
let client: ElevenLabsClient;

beforeAll(async () => {
  sim = await startElevenLabsSimulator({
    apiKey: API_KEY,
    transcriptionToken: "sdk-shapes-token",
    webhookSecret: SECRET,
    playbackDelayMs: 5,
  });
  // No retries: the SDK retries 429 and 5xx by default, which would hide an answer.
  client = new ElevenLabsClient({ apiKey: API_KEY, baseUrl: sim.url, maxRetries: 0 });
});

afterAll(async () => {
  await sim.stop();
});

let sequence = 0;
function freshCallSid(): string {
  sequence += 1;
  return `EL_${2_000_000 + sequence}_${Math.floor(Date.now() / 1000)}`;
}

async function placeWithSdk(toNumber: string, callSid = freshCallSid()) {
  const answer = await client.conversationalAi.twilio.outboundCall({
    agentId: "agent_sdk",
    agentPhoneNumberId: "phnum_sdk",
    toNumber,
    conversationInitiationClientData: {
      dynamicVariables: { call_sid: callSid, driver_id: 7, driver_name: "Ana Ruiz" },
    },
  });
  return { answer, callSid };
}

function strictlyParsedConversation(raw: unknown) {
  return serializers.GetConversationResponseModel.parse(raw, STRICTLY);
}

describe("the SDK client against the simulator", () => {
  it("parses the outbound-call answer", async () => {
    const { answer } = await placeWithSdk("+15551230042");
    expect(answer).toEqual({
      success: true,
      message: "Success",
      conversationId: expect.stringMatching(/^conv_sim_[0-9a-f]+$/),
      callSid: expect.stringMatching(/^CA[0-9a-f]{32}$/),
    });
    await sim.played();
  });

  it("parses GET conversation while the call is in progress", async () => {
    const slow = await startElevenLabsSimulator({
      transcriptionToken: "t",
      webhookSecret: SECRET,
      callSeconds: 0.4,
    });
    try {
      const slowClient = new ElevenLabsClient({ apiKey: "any", baseUrl: slow.url, maxRetries: 0 });
      const answer = await slowClient.conversationalAi.twilio.outboundCall({
        agentId: "agent_sdk",
        agentPhoneNumberId: "phnum_sdk",
        toNumber: "+15551230042",
      });
      const conversationId = answer.conversationId ?? "";
      const during = await slowClient.conversationalAi.conversations.get(conversationId);
      expect(during).toMatchObject({
        conversationId,
        status: "in-progress",
        hasAudio: false,
        metadata: {
          callDurationSecs: 0,
          phoneCall: { type: "twilio", externalNumber: "+15551230042" },
        },
      });
      expect(during.analysis).toBeUndefined();
      const raw = await (
        await fetch(`${slow.url}/v1/convai/conversations/${conversationId}`)
      ).json();
      expect(strictlyParsedConversation(raw)).toMatchObject({ ok: true });
    } finally {
      await slow.stop();
    }
  });

  it("parses GET conversation for a done call, with its analysis", async () => {
    const { answer, callSid } = await placeWithSdk("+15551230042");
    await sim.played();
    const conversation = await client.conversationalAi.conversations.get(
      answer.conversationId ?? "",
    );
    expect(conversation).toMatchObject({
      agentId: "agent_sdk",
      conversationId: answer.conversationId,
      status: "done",
      hasAudio: true,
      hasUserAudio: true,
      hasResponseAudio: true,
      hasAuxiliaryAudio: false,
      metadata: {
        terminationReason: "end_call tool was called.",
        phoneCall: {
          type: "twilio",
          direction: "outbound",
          phoneNumberId: "phnum_sdk",
          agentNumber: expect.stringMatching(/^\+\d+$/),
          externalNumber: "+15551230042",
          callResult: "answered",
          streamSid: expect.any(String),
          callSid: answer.callSid,
        },
        featuresUsage: { voicemailDetection: { enabled: true, used: false } },
      },
      analysis: {
        callSuccessful: "success",
        transcriptSummary: expect.any(String),
        evaluationCriteriaResults: {
          violations_reviewed: { criteriaId: "violations_reviewed", result: "success" },
        },
        dataCollectionResults: {
          acknowledged_violation: { dataCollectionId: "acknowledged_violation", value: true },
          disputes_violation: { dataCollectionId: "disputes_violation", value: false },
          opt_out: { dataCollectionId: "opt_out", value: false },
        },
      },
      conversationInitiationClientData: {
        dynamicVariables: { call_sid: callSid, driver_id: 7, driver_name: "Ana Ruiz" },
      },
    });
    expect(conversation.transcript.map((turn) => turn.role)).toEqual(["agent", "user", "agent"]);
    sim.outbox(callSid);
  });

  it("parses GET conversation for a voicemail call, tool call and result included", async () => {
    const { answer, callSid } = await placeWithSdk("+15551230488");
    await sim.played();
    const conversation = await client.conversationalAi.conversations.get(
      answer.conversationId ?? "",
    );
    expect(conversation.status).toBe("done");
    expect(conversation.metadata).toMatchObject({
      terminationReason: "voicemail_detection tool was called.",
      phoneCall: { callResult: "voicemail" },
      featuresUsage: { voicemailDetection: { enabled: true, used: true } },
    });
    expect(conversation.transcript.map((turn) => [turn.role, turn.message ?? null])).toEqual([
      ["user", expect.stringContaining("leave a message")],
      ["agent", null],
      ["agent", null],
      ["agent", expect.stringContaining("Please call us back")],
    ]);
    const [call] = conversation.transcript[1]?.toolCalls ?? [];
    expect(call).toMatchObject({
      type: "system",
      toolName: "voicemail_detection",
      toolHasBeenCalled: true,
    });
    const [result] = conversation.transcript[2]?.toolResults ?? [];
    // The SDK's tool-result union tries its "other tools" member first, which lets a system
    // result through untransformed: `result` keeps ElevenLabs' snake_case keys.
    expect(result).toMatchObject({
      requestId: call?.requestId,
      toolName: "voicemail_detection",
      isError: false,
      result: { result_type: "voicemail_detection_success", status: "success" },
    });
    // Parsed as what it is, a system tool result, it has every field the SDK requires.
    const raw = (await (
      await fetch(`${sim.url}/v1/convai/conversations/${answer.conversationId}`, {
        headers: { "xi-api-key": API_KEY },
      })
    ).json()) as { transcript: { tool_results: unknown[] }[]; analysis: unknown };
    expect(
      serializers.ConversationHistoryTranscriptSystemToolResultCommonModelOutput.parse(
        raw.transcript[2]?.tool_results[0],
        STRICTLY,
      ),
    ).toMatchObject({
      ok: true,
      value: {
        type: "system",
        result: {
          resultType: "voicemail_detection_success",
          voicemailMessage: expect.stringContaining("Please call us back"),
        },
      },
    });
    expect(conversation.analysis?.callSuccessful).toBe("failure");
    // ElevenLabs sends value: null when the call could not tell; the SDK's optional()
    // parser turns null into undefined.
    expect(raw).toMatchObject({
      analysis: { data_collection_results: { opt_out: { value: null } } },
    });
    const results = conversation.analysis?.dataCollectionResults ?? {};
    expect(Object.keys(results).sort()).toEqual([
      "acknowledged_violation",
      "disputes_violation",
      "opt_out",
    ]);
    for (const result of Object.values(results)) {
      expect(result.value).toBeUndefined();
      expect(result.rationale).toBe("The call reached voicemail; the driver was not spoken to.");
    }
    sim.outbox(callSid);
  });

  it("parses GET conversation for an opt-out call", async () => {
    const { answer, callSid } = await placeWithSdk("+15551230499");
    await sim.played();
    const conversation = await client.conversationalAi.conversations.get(
      answer.conversationId ?? "",
    );
    expect(conversation.status).toBe("done");
    expect(conversation.analysis?.dataCollectionResults?.opt_out).toMatchObject({
      dataCollectionId: "opt_out",
      value: true,
      jsonSchema: { type: "boolean" },
    });
    sim.outbox(callSid);
  });

  it.each([
    ["busy", "+15551230486", "busy"],
    ["no-answer", "+15551230487", "no_answer"],
  ])(
    "parses GET conversation for a %s call that never connected",
    async (_name, to, callResult) => {
      const { answer, callSid } = await placeWithSdk(to);
      await sim.played();
      const conversation = await client.conversationalAi.conversations.get(
        answer.conversationId ?? "",
      );
      expect(conversation).toMatchObject({
        status: "failed",
        transcript: [],
        hasAudio: false,
        metadata: { callDurationSecs: 0, phoneCall: { callResult } },
      });
      expect(conversation.analysis).toBeUndefined();
      sim.outbox(callSid);
    },
  );

  it("surfaces the plan's 429 as an ElevenLabsError carrying ElevenLabs' body", async () => {
    sim.setPlan(0);
    try {
      await expect(placeWithSdk("+15551230042")).rejects.toMatchObject({
        statusCode: 429,
        body: {
          detail: {
            status: "too_many_concurrent_requests",
            message: "Too many concurrent calls: your plan allows 0 at once.",
          },
        },
      });
    } finally {
      sim.setPlan(null);
    }
  });
});

describe("ElevenLabs' other answers and endings (0601 to 0608), as the SDK reads them", () => {
  async function rawAnswer(toNumber: string) {
    const response = await fetch(`${sim.url}/v1/convai/twilio/outbound-call`, {
      method: "POST",
      headers: { "content-type": "application/json", "xi-api-key": API_KEY },
      body: JSON.stringify({
        agent_id: "agent_sdk",
        agent_phone_number_id: "phnum_sdk",
        to_number: toNumber,
        conversation_initiation_client_data: { dynamic_variables: { call_sid: freshCallSid() } },
      }),
    });
    return { status: response.status, body: await response.json() };
  }

  async function rawConversation(conversationId: string) {
    return (
      await fetch(`${sim.url}/v1/convai/conversations/${conversationId}`, {
        headers: { "xi-api-key": API_KEY },
      })
    ).json();
  }

  it("0601: parses the answer without callSid", async () => {
    const { answer, callSid } = await placeWithSdk("+15551230601");
    expect(answer).toMatchObject({ success: true, conversationId: expect.any(String) });
    expect(answer.callSid).toBeUndefined();
    const raw = await rawAnswer("+15551230601");
    expect(serializers.TwilioOutboundCallResponse.parse(raw.body, STRICTLY)).toEqual({
      ok: true,
      value: { success: true, message: "Success", conversationId: expect.any(String) },
    });
    await sim.played();
    const conversation = await client.conversationalAi.conversations.get(
      answer.conversationId ?? "",
    );
    expect(conversation).toMatchObject({
      status: "done",
      metadata: { phoneCall: { callResult: "answered" } },
    });
    sim.outbox(callSid);
    sim.outbox();
  });

  it("0602: the quota refusal parses as a TwilioOutboundCallResponse, and the SDK returns it", async () => {
    const raw = await rawAnswer("+15551230602");
    expect(raw.status).toBe(200);
    expect(serializers.TwilioOutboundCallResponse.parse(raw.body, STRICTLY)).toEqual({
      ok: true,
      value: { success: false, message: "Workspace quota limit reached: out of credits." },
    });
    const { answer } = await placeWithSdk("+15551230602");
    expect(answer).toEqual({
      success: false,
      message: "Workspace quota limit reached: out of credits.",
    });
  });

  it("0603: the answer, the failure webhook sent before it, and GET conversation all parse", async () => {
    const callSid = freshCallSid();
    const placing = placeWithSdk("+15551230603", callSid);
    // Taking the failure out of the outbox lets the simulator answer.
    let webhooks: OutgoingWebhook[] = [];
    await waitFor(() => {
      webhooks = sim.outbox(callSid);
      return webhooks.length > 0;
    });
    const { answer } = await placing;
    expect(answer).toMatchObject({ success: true, conversationId: webhooks[0]?.conversationId });
    const failure = webhooks[0] as OutgoingWebhook;
    const event = await client.webhooks.constructEvent(
      failure.body,
      failure.headers["ElevenLabs-Signature"] ?? "",
      SECRET,
    );
    expect(event).toMatchObject({
      type: "call_initiation_failure",
      data: { conversation_id: answer.conversationId, failure_reason: "busy" },
    });
    const conversation = await client.conversationalAi.conversations.get(
      answer.conversationId ?? "",
    );
    expect(conversation).toMatchObject({
      status: "failed",
      metadata: { phoneCall: { callResult: "busy" } },
    });
    expect(
      strictlyParsedConversation(await rawConversation(answer.conversationId ?? "")),
    ).toMatchObject({ ok: true });
  });

  it("0604: parses GET conversation stuck in 'processing'", async () => {
    const { answer, callSid } = await placeWithSdk("+15551230604");
    await sim.played();
    const conversation = await client.conversationalAi.conversations.get(
      answer.conversationId ?? "",
    );
    expect(conversation).toMatchObject({
      status: "processing",
      metadata: { phoneCall: { callResult: "answered" } },
    });
    expect(conversation.analysis).toBeUndefined();
    expect(
      strictlyParsedConversation(await rawConversation(answer.conversationId ?? "")),
    ).toMatchObject({ ok: true, value: { status: "processing" } });
    expect(sim.outbox(callSid).map((webhook) => webhook.kind)).not.toContain("post_call");
  });

  it("0605: parses GET conversation 'initiated', then 'failed' with call_result no_answer", async () => {
    const slow = await startElevenLabsSimulator({
      transcriptionToken: "t",
      webhookSecret: SECRET,
      callSeconds: 0.3,
    });
    try {
      const slowClient = new ElevenLabsClient({ apiKey: "any", baseUrl: slow.url, maxRetries: 0 });
      const answer = await slowClient.conversationalAi.twilio.outboundCall({
        agentId: "agent_sdk",
        agentPhoneNumberId: "phnum_sdk",
        toNumber: "+15551230605",
      });
      const conversationId = answer.conversationId ?? "";
      const raw = async () =>
        (await fetch(`${slow.url}/v1/convai/conversations/${conversationId}`)).json();
      expect(await slowClient.conversationalAi.conversations.get(conversationId)).toMatchObject({
        status: "initiated",
      });
      expect(strictlyParsedConversation(await raw())).toMatchObject({ ok: true });
      await slow.played();
      expect(await slowClient.conversationalAi.conversations.get(conversationId)).toMatchObject({
        status: "failed",
        transcript: [],
        metadata: { phoneCall: { callResult: "no_answer" } },
      });
      expect(strictlyParsedConversation(await raw())).toMatchObject({ ok: true });
      expect(slow.outbox()).toEqual([]);
    } finally {
      await slow.stop();
    }
  });

  it.each([
    ["0606", "+15551230606", 3],
    ["0607", "+15551230607", 0],
  ])("%s: parses GET conversation with its final transcript", async (_ending, to, turns) => {
    const { answer, callSid } = await placeWithSdk(to);
    await sim.played();
    const conversation = await client.conversationalAi.conversations.get(
      answer.conversationId ?? "",
    );
    expect(conversation.status).toBe("done");
    expect(conversation.transcript).toHaveLength(turns);
    if (turns > 0) expect(conversation.transcript[1]?.message).toHaveLength(15_000);
    expect(
      strictlyParsedConversation(await rawConversation(answer.conversationId ?? "")),
    ).toMatchObject({ ok: true });
    sim.outbox(callSid);
  });

  it("0608: the SDK throws the first dial's 429, and parses the next dial's answer", async () => {
    await expect(placeWithSdk("+15551230608")).rejects.toMatchObject({
      statusCode: 429,
      body: { detail: { status: "too_many_concurrent_requests", message: expect.any(String) } },
    });
    const { answer, callSid } = await placeWithSdk("+15551230608");
    expect(answer).toMatchObject({ success: true, conversationId: expect.any(String) });
    await sim.played();
    sim.outbox(callSid);
  });
});

describe("the SDK's webhooks.constructEvent against every signed webhook", () => {
  async function finalWebhookFor(toNumber: string): Promise<OutgoingWebhook> {
    const callSid = freshCallSid();
    await placeWithSdk(toNumber, callSid);
    await sim.played();
    const webhooks = sim.outbox(callSid).filter((webhook) => webhook.kind === "post_call");
    expect(webhooks).toHaveLength(1);
    return webhooks[0] as OutgoingWebhook;
  }

  it.each([
    ["normal", "+15551230042", "post_call_transcription"],
    ["busy", "+15551230486", "call_initiation_failure"],
    ["no-answer", "+15551230487", "call_initiation_failure"],
    ["voicemail", "+15551230488", "post_call_transcription"],
    ["opt-out", "+15551230499", "post_call_transcription"],
    ["0601 (answered without callSid)", "+15551230601", "post_call_transcription"],
    ["0606 (a 15,000-character turn)", "+15551230606", "post_call_transcription"],
    ["0607 (transcript left out)", "+15551230607", "post_call_transcription"],
  ])("accepts the %s call's webhook", async (_name, toNumber, type) => {
    const webhook = await finalWebhookFor(toNumber);
    const header = webhook.headers["ElevenLabs-Signature"] ?? "";
    const event = await client.webhooks.constructEvent(webhook.body, header, SECRET);
    expect(event).toEqual(JSON.parse(webhook.body));
    expect(event.type).toBe(type);
    if (type === "post_call_transcription") {
      // The webhook's data is ElevenLabs' GET conversation shape.
      expect(
        serializers.GetConversationResponseModel.parse(event.data, AS_THE_SDK_PARSES),
      ).toMatchObject({ ok: true, value: { status: "done" } });
      expect(strictlyParsedConversation(event.data)).toMatchObject({ ok: true });
    } else {
      expect(event.data).toMatchObject({
        conversation_id: webhook.conversationId,
        failure_reason: toNumber.endsWith("0486") ? "busy" : "no-answer",
      });
    }
    await expect(client.webhooks.constructEvent(webhook.body, header, "wrong")).rejects.toThrow(
      /signature/i,
    );
  });
});

describe("the SDK against a chaos run", () => {
  it("parses every answer, webhook and conversation the run produces", async () => {
    const received: { path: string; body: string; signature: string }[] = [];
    const worker = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        received.push({
          path: request.url ?? "",
          body: Buffer.concat(chunks).toString("utf8"),
          signature: String(request.headers["elevenlabs-signature"] ?? ""),
        });
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => worker.listen(0, "127.0.0.1", resolve));
    const chaotic = await startElevenLabsSimulator({
      transcriptionToken: "t",
      webhookSecret: SECRET,
      playbackDelayMs: 2,
      chaosSeed: 42,
      webhookBaseUrl: `http://127.0.0.1:${(worker.address() as AddressInfo).port}`,
    });
    try {
      const chaosClient = new ElevenLabsClient({
        apiKey: "any",
        baseUrl: chaotic.url,
        maxRetries: 0,
      });
      const conversationIds: string[] = [];
      const refusedWith: number[] = [];
      for (let index = 0; index < 30; index += 1) {
        try {
          const answer = await chaosClient.conversationalAi.twilio.outboundCall({
            agentId: "agent_sdk",
            agentPhoneNumberId: "phnum_sdk",
            toNumber: `+1555123${1000 + index}`,
            conversationInitiationClientData: {
              dynamicVariables: { call_sid: freshCallSid() },
            },
          });
          if (answer.conversationId) conversationIds.push(answer.conversationId);
        } catch (error) {
          refusedWith.push((error as { statusCode: number }).statusCode);
        }
      }
      await chaotic.played();
      // 0500, 0422 and the first dial of 0608 are HTTP errors; nothing else is.
      expect(refusedWith.length).toBeGreaterThan(0);
      for (const status of refusedWith) expect([500, 422, 429]).toContain(status);

      const postCalls = received.filter((request) => request.path.endsWith("/post-call"));
      expect(postCalls.length).toBeGreaterThan(conversationIds.length / 2);
      for (const webhook of postCalls) {
        const event = await chaosClient.webhooks.constructEvent(
          webhook.body,
          webhook.signature,
          SECRET,
        );
        if (event.type === "post_call_transcription") {
          expect(strictlyParsedConversation(event.data)).toMatchObject({ ok: true });
        } else {
          expect(event.type).toBe("call_initiation_failure");
        }
      }
      for (const conversationId of conversationIds) {
        const raw = await (
          await fetch(`${chaotic.url}/v1/convai/conversations/${conversationId}`)
        ).json();
        expect(strictlyParsedConversation(raw)).toMatchObject({ ok: true });
        await chaosClient.conversationalAi.conversations.get(conversationId);
      }
    } finally {
      await chaotic.stop();
      await new Promise<void>((resolve) => worker.close(() => resolve()));
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
