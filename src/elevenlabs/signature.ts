// The ElevenLabs post-call webhook signature: `ElevenLabs-Signature: t=<unix secs>,v0=<hex>`
// where hex is HMAC-SHA256 of "{t}.{raw body}" keyed with the webhook secret.
//
// WebCrypto only, so it runs in workerd and in Node 22 (the simulator signs with it too).
// The MAC is checked with crypto.subtle.verify, which compares in constant time; the SDK's
// own check is a plain string compare. Several v0 values may be present (during a secret
// rotation, as with Stripe): any one that verifies is enough, but at most
// MAX_SIGNATURES of them: each one is an HMAC over the whole body (up to 32 MiB), so a
// header with a thousand would make one request cost a thousand passes over it. Unknown
// keys are ignored.
//
// The body is taken as the bytes received (the post-call route never decodes a body
// before its signature is checked); a string is accepted for the simulator and tests.

export type SignatureCheck =
  | { ok: true; timestamp: number }
  | { ok: false; reason: "missing_header" | "malformed_header" | "stale" | "future" | "mismatch" };

/** More v0 entries than this is a malformed header: refused before any HMAC is computed. */
export const MAX_SIGNATURES = 5;

/** Checks one MAC; crypto.subtle.verify (constant time) unless a test counts the calls. */
export type MacVerifier = (
  key: CryptoKey,
  mac: BufferSource,
  message: BufferSource,
) => Promise<boolean>;

const subtleVerify: MacVerifier = (key, mac, message) =>
  crypto.subtle.verify("HMAC", key, mac, message);

export interface VerifySignatureOptions {
  header: string | null | undefined;
  /** The body exactly as received: the MAC covers these bytes, not a re-encoding of them. */
  rawBody: string | Uint8Array;
  secret: string;
  now: Date;
  /** How old an event may be: 30 minutes, as the contract says. */
  toleranceSecs?: number;
  /** How far ahead of our clock an event may be: 5 minutes of clock skew. */
  futureToleranceSecs?: number;
  verifyMac?: MacVerifier;
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
  let v0Count = 0;
  for (const part of header.split(",")) {
    const separator = part.indexOf("=");
    if (separator < 0) continue;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === "t") timestampText = value;
    if (key === "v0") {
      v0Count += 1;
      if (v0Count > MAX_SIGNATURES) return { ok: false, reason: "malformed_header" };
      // A v0 that is not a SHA-256 hex digest cannot match; the others may still.
      if (HEX_SHA256.test(value)) candidates.push(value);
    }
  }
  if (timestampText === undefined || !/^\d{1,12}$/.test(timestampText) || v0Count === 0) {
    return { ok: false, reason: "malformed_header" };
  }
  if (candidates.length === 0) return { ok: false, reason: "malformed_header" };
  const timestamp = Number(timestampText);

  // An empty key cannot be imported; the route refuses before this when it is not configured.
  if (!options.secret) return { ok: false, reason: "mismatch" };

  // The MAC first, then the clock: "stale" and "future" then describe authentic events
  // (a replay, a delayed delivery, a skewed clock), which is what an operator needs to know.
  const key = await hmacKey(options.secret, "verify");
  const signed = signedMessage(timestampText, options.rawBody);
  const verifyMac = options.verifyMac ?? subtleVerify;
  let matched = false;
  for (const candidate of candidates) {
    // Every candidate is verified, so the time taken does not depend on which one matched.
    if (await verifyMac(key, hexToBytes(candidate), signed)) matched = true;
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
  rawBody: string | Uint8Array,
  secret: string,
  timestampSecs: number,
): Promise<string> {
  const key = await hmacKey(secret, "sign");
  const mac = await crypto.subtle.sign("HMAC", key, signedMessage(String(timestampSecs), rawBody));
  return `t=${timestampSecs},v0=${bytesToHex(new Uint8Array(mac))}`;
}

/**
 * "{t}." followed by the body. Bytes are copied once behind the prefix (WebCrypto's HMAC
 * takes one buffer), never decoded: a body that is not valid UTF-8 keeps its exact bytes.
 */
function signedMessage(timestamp: string, body: string | Uint8Array): Uint8Array {
  if (typeof body === "string") return encoder.encode(`${timestamp}.${body}`);
  const prefix = encoder.encode(`${timestamp}.`);
  const message = new Uint8Array(prefix.length + body.length);
  message.set(prefix);
  message.set(body, prefix.length);
  return message;
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
