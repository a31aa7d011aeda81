// The signature check itself: how many HMACs a header can make us compute, and that the
// MAC covers the bytes as received (no decoding on the way).
import { describe, expect, it } from "vitest";
import {
  MAX_SIGNATURES,
  type MacVerifier,
  signElevenLabsPayload,
  verifyElevenLabsSignature,
} from "../../src/elevenlabs/signature";

const SECRET = "unit-test-secret";
const NOW = new Date("2026-11-23T12:00:00Z");
const T = Math.floor(NOW.getTime() / 1000);
const BODY = '{"type":"call_initiation_failure","data":{"conversation_id":"conv_1"}}';
const WRONG = `v0=${"0".repeat(64)}`;

/** The real constant-time check, counting how often it runs. */
function countingVerifier() {
  const counter = {
    calls: 0,
    verify: (async (key, mac, message) => {
      counter.calls += 1;
      return crypto.subtle.verify("HMAC", key, mac, message);
    }) as MacVerifier,
  };
  return counter;
}

async function check(header: string, rawBody: string | Uint8Array = BODY) {
  const counter = countingVerifier();
  const result = await verifyElevenLabsSignature({
    header,
    rawBody,
    secret: SECRET,
    now: NOW,
    verifyMac: counter.verify,
  });
  return { result, hmacs: counter.calls };
}

describe("the number of v0 entries", () => {
  it(`computes no HMAC at all for a header with 1,000 v0 entries: malformed`, async () => {
    const valid = await signElevenLabsPayload(BODY, SECRET, T);
    const { result, hmacs } = await check(`${valid}${`,${WRONG}`.repeat(999)}`);
    expect(result).toEqual({ ok: false, reason: "malformed_header" });
    expect(hmacs).toBe(0);
  });

  it(`refuses ${MAX_SIGNATURES + 1} entries before any HMAC, even when one is valid`, async () => {
    const valid = await signElevenLabsPayload(BODY, SECRET, T);
    const { result, hmacs } = await check(`${valid}${`,${WRONG}`.repeat(MAX_SIGNATURES)}`);
    expect(result).toEqual({ ok: false, reason: "malformed_header" });
    expect(hmacs).toBe(0);
  });

  it(`accepts ${MAX_SIGNATURES} entries (a rotation), verifying each one`, async () => {
    const valid = await signElevenLabsPayload(BODY, SECRET, T);
    const { result, hmacs } = await check(`${valid}${`,${WRONG}`.repeat(MAX_SIGNATURES - 1)}`);
    expect(result).toEqual({ ok: true, timestamp: T });
    expect(hmacs).toBe(MAX_SIGNATURES);
  });
});

describe("the bytes signed", () => {
  it("verifies the raw bytes of a body that is not valid UTF-8, and nothing else", async () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"\xff\xfe"}
    const header = await signElevenLabsPayload(bytes, SECRET, T);
    expect((await check(header, bytes)).result).toEqual({ ok: true, timestamp: T });
    // Decoding replaces the two bytes with U+FFFD: a different message, a different MAC.
    const decoded = new TextDecoder().decode(bytes);
    expect((await check(header, decoded)).result).toEqual({ ok: false, reason: "mismatch" });
  });

  it("gives text and its UTF-8 bytes the same signature", async () => {
    const text = '{"message":"¿Qué tal? 🚚"}';
    expect(await signElevenLabsPayload(new TextEncoder().encode(text), SECRET, T)).toBe(
      await signElevenLabsPayload(text, SECRET, T),
    );
  });
});
