// Structured logs: one JSON line per request and per state change of a Call, phone numbers
// masked to their last four digits, and never a secret.
import { afterEach, describe, expect, it, vi } from "vitest";
import { createElevenLabsClient, type ElevenLabsClient } from "../../src/elevenlabs/client";
import { maskPhoneNumber, maskPhoneNumbersIn } from "../../src/http/log";
import { createWorker } from "../../src/index";
import { TEST_SECRETS } from "../setup/test-secrets";
import { freshDriverId, insertTestCall, transcriptionRequest, utterance } from "../support/calls";
import { callWorker, jsonRequest } from "../support/worker";

/**
 * The real ElevenLabs client (its own redaction included); only the network is faked:
 * accepts the first number, and answers the second with an HTTP 500 whose body repeats
 * the full number, as an upstream error message may. Masking it is the service's job.
 */
function elevenLabsRepeatingTheNumber(): ElevenLabsClient {
  return createElevenLabsClient({
    apiKey: TEST_SECRETS.ELEVENLABS_API_KEY,
    baseUrl: "http://elevenlabs.test",
    agentId: TEST_SECRETS.ELEVENLABS_AGENT_ID,
    agentPhoneNumberId: TEST_SECRETS.ELEVENLABS_AGENT_PHONE_NUMBER_ID,
    fetch: async (_input, init) => {
      const { to_number: toNumber } = JSON.parse(String(init?.body)) as { to_number: string };
      if (toNumber.endsWith("0500")) {
        return Response.json(
          { detail: `Twilio could not reach ${toNumber} (key ${TEST_SECRETS.ELEVENLABS_API_KEY})` },
          { status: 500 },
        );
      }
      return Response.json({
        success: true,
        message: "ok",
        conversation_id: `conv_log_${crypto.randomUUID()}`,
        callSid: null,
      });
    },
  });
}

function captureLogs() {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    lines.push(String(line));
  });
  return {
    lines,
    parsed: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    spy,
  };
}

afterEach(() => vi.restoreAllMocks());

describe("masking", () => {
  it("keeps only the last four digits of a phone number", () => {
    expect(maskPhoneNumber("+15551230042")).toBe("***0042");
    expect(maskPhoneNumber("123")).toBe("***");
    expect(maskPhoneNumbersIn("could not reach +1 (555) 123-0042 today")).toBe(
      "could not reach ***0042 today",
    );
  });
});

describe("logs", () => {
  it("write one JSON line per request with request_id, route, status, duration and call_sid", async () => {
    const call = await insertTestCall();
    const logs = captureLogs();
    const response = await callWorker(transcriptionRequest(utterance(call.callSid, 1)));
    expect(response.status).toBe(200);
    const requestLines = logs.parsed().filter((line) => line.event === "request");
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({
      request_id: response.headers.get("x-request-id"),
      method: "POST",
      route: "/webhooks/elevenlabs/transcription",
      status: 200,
      duration_ms: expect.any(Number),
      call_sid: call.callSid,
    });
  });

  it("write one line per state change of a Call, masking phone numbers and never printing a secret", async () => {
    const worker = createWorker({ elevenLabs: elevenLabsRepeatingTheNumber });
    const drivers = [
      {
        driver_id: freshDriverId(),
        phone_number: "+15557770042",
        driver_name: "Ana",
        violations: [{ code: "X", description: "y", occurred_at: "2026-11-20T14:05:00Z" }],
      },
      {
        driver_id: freshDriverId(),
        phone_number: "+15557770500",
        driver_name: "Bo",
        violations: [{ code: "X", description: "y", occurred_at: "2026-11-20T14:05:00Z" }],
      },
    ];
    const logs = captureLogs();
    const response = await callWorker(
      jsonRequest(
        "POST",
        "/calls/batch",
        { drivers },
        { authorization: `Bearer ${TEST_SECRETS.API_TOKEN}` },
      ),
      { worker },
    );
    expect(response.status).toBe(200);
    const answer = JSON.stringify(await response.json());
    expect(answer).toContain("Twilio could not reach ***0500");
    for (const driver of drivers) expect(answer).not.toContain(driver.phone_number.slice(1));
    const lines = logs.parsed();
    const events = (name: string) => lines.filter((line) => line.event === name);
    expect(events("call_created")).toHaveLength(2);
    expect(events("call_started")).toHaveLength(1);
    expect(events("call_failed")).toHaveLength(1);
    expect(events("call_created").map((line) => line.to)).toEqual(["***0042", "***0500"]);
    // ElevenLabs' error did carry the number (and the key): it reached the log, masked.
    expect(events("call_failed")).toHaveLength(1);
    expect(JSON.stringify(events("call_failed")[0])).toContain("Twilio could not reach ***0500");

    const everything = logs.lines.join("\n");
    for (const driver of drivers) expect(everything).not.toContain(driver.phone_number.slice(1));
    for (const secret of Object.values(TEST_SECRETS)) expect(everything).not.toContain(secret);
  });
});
