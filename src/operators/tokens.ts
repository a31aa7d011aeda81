// Operator tokens and console session ids: random, shown or set once, stored only as their
// SHA-256. A token is `dco_` + 32 random bytes (base64url): the prefix tells an operator's
// token from the machines' API_TOKEN at a glance (and in a secret scanner). No slow hash
// is needed: 256 random bits cannot be guessed, so a fast hash is enough to make a stolen
// table useless, and a lookup stays one indexed equality.
const OPERATOR_TOKEN_PREFIX = "dco_";
const encoder = new TextEncoder();

function base64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function randomSecret(bytes = 32): string {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export function newOperatorToken(): string {
  return `${OPERATOR_TOKEN_PREFIX}${randomSecret(32)}`;
}

/** Hex SHA-256: what the database keeps of a token or a session id. */
export async function sha256Hex(value: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(value)));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Shaped like an operator token (the prefix and 43 base64url characters), or a dev token. */
export function looksLikeOperatorToken(value: string): boolean {
  return value.length >= 8 && value.length <= 200 && /^[\x21-\x7e]+$/.test(value);
}
