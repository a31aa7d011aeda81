// The ElevenLabs post-call webhook signature: `ElevenLabs-Signature: t=<unix secs>,v0=<hex>`
// where hex is HMAC-SHA256 of "{t}.{raw body}" keyed with the webhook secret.
//
// WebCrypto only, so it runs in workerd and in Node 22 (the simulator signs with it too).
// The MAC is checked with crypto.subtle.verify, which compares in constant time; the SDK's
// own check is a plain string compare. Several v0 values may be present (during a secret
// rotation, as with Stripe): any one that verifies is enough. Unknown keys are ignored.

export type SignatureCheck =
  | { ok: true; timestamp: number }
  | { ok: false; reason: "missing_header" | "malformed_header" | "stale" | "future" | "mismatch" };

export interface VerifySignatureOptions {
  header: string | null | undefined;
  rawBody: string;
  secret: string;
  now: Date;
  /** How old an event may be: 30 minutes, as the contract says. */
  toleranceSecs?: number;
  /** How far ahead of our clock an event may be: 5 minutes of clock skew. */
  futureToleranceSecs?: number;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/i;
const encoder = new TextEncoder();

export async function verifyElevenLabsSignature(
  options: VerifySignatureOptions,
): Promise<SignatureCheck> {
  const header = options.header?.trim();
  if (!header) return { ok: false, reason: "missing_header" };

  let timestampText: string | undefined;
  const candidates: string[] = [];
  let sawV0 = false;
  for (const part of header.split(",")) {
    const separator = part.indexOf("=");
    if (separator < 0) continue;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === "t") timestampText = value;
    if (key === "v0") {
      sawV0 = true;
      // A v0 that is not a SHA-256 hex digest cannot match; the others may still.
      if (HEX_SHA256.test(value)) candidates.push(value);
    }
  }
  if (timestampText === undefined || !/^\d{1,12}$/.test(timestampText) || !sawV0) {
    return { ok: false, reason: "malformed_header" };
  }
  if (candidates.length === 0) return { ok: false, reason: "malformed_header" };
  const timestamp = Number(timestampText);

  // An empty key cannot be imported; the route refuses before this when it is not configured.
  if (!options.secret) return { ok: false, reason: "mismatch" };

  // The MAC first, then the clock: "stale" and "future" then describe authentic events
  // (a replay, a delayed delivery, a skewed clock), which is what an operator needs to know.
  const key = await hmacKey(options.secret, "verify");
  const signed = encoder.encode(`${timestampText}.${options.rawBody}`);
  let matched = false;
  for (const candidate of candidates) {
    // Every candidate is verified, so the time taken does not depend on which one matched.
    if (await crypto.subtle.verify("HMAC", key, hexToBytes(candidate), signed)) matched = true;
  }
  if (!matched) return { ok: false, reason: "mismatch" };

  const nowSecs = Math.floor(options.now.getTime() / 1000);
  if (nowSecs - timestamp > (options.toleranceSecs ?? 1800)) return { ok: false, reason: "stale" };
  if (timestamp - nowSecs > (options.futureToleranceSecs ?? 300)) {
    return { ok: false, reason: "future" };
  }
  return { ok: true, timestamp };
}

/** The full header value ElevenLabs would send for this body at this time. */
export async function signElevenLabsPayload(
  rawBody: string,
  secret: string,
  timestampSecs: number,
): Promise<string> {
  const key = await hmacKey(secret, "sign");
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestampSecs}.${rawBody}`));
  return `t=${timestampSecs},v0=${bytesToHex(new Uint8Array(mac))}`;
}

function hmacKey(secret: string, usage: "sign" | "verify"): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [usage],
  );
}

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(hex.length / 2);
  for (let index = 0; index < bytes.length; index++) {
    bytes[index] = Number.parseInt(hex.slice(index * 2, index * 2 + 2), 16);
  }
  return bytes;
}

function bytesToHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
