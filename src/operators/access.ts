// Cloudflare Access in front of the console: Access signs the person in (the fleet's own
// identity provider, its MFA) and sends a signed JWT with every request in the
// `Cf-Access-Jwt-Assertion` header. The Worker trusts no request on the header's word: it
// verifies the signature with the team's published keys, the audience (this application's
// AUD tag), the issuer (the team domain) and the expiry, with `jose` (made for Workers:
// Web Crypto, fetch, no Node APIs). The keys are fetched once per isolate and cached by
// jose's remote key set, which refetches when a token names a key it has not seen (Access
// rotates its keys every 6 weeks).
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from "jose";

export const ACCESS_ASSERTION_HEADER = "cf-access-jwt-assertion";

/**
 * The team domain as an origin: `myteam.cloudflareaccess.com` or `https://myteam.cloudflareaccess.com`.
 * (Tests give an http://127.0.0.1 origin serving their own key set.)
 */
export function accessOrigin(teamDomain: string): string {
  const withScheme = /^https?:\/\//.test(teamDomain) ? teamDomain : `https://${teamDomain}`;
  return withScheme.replace(/\/+$/, "");
}

const keySets = new Map<string, JWTVerifyGetKey>();

function keySetFor(origin: string): JWTVerifyGetKey {
  let keySet = keySets.get(origin);
  if (!keySet) {
    keySet = createRemoteJWKSet(new URL(`${origin}/cdn-cgi/access/certs`), {
      timeoutDuration: 5000,
      cooldownDuration: 30_000,
    });
    if (keySets.size >= 8) keySets.clear();
    keySets.set(origin, keySet);
  }
  return keySet;
}

export type AccessVerdict = { ok: true; email: string } | { ok: false; reason: string };

/** Verifies an Access assertion; the identity is its `email` claim. */
export async function verifyAccessAssertion(
  assertion: string | undefined,
  config: { teamDomain: string; audience: string },
  now: Date,
): Promise<AccessVerdict> {
  if (!assertion) return { ok: false, reason: "no Cf-Access-Jwt-Assertion header" };
  if (assertion.length > 16_384) return { ok: false, reason: "assertion too long" };
  const origin = accessOrigin(config.teamDomain);
  try {
    const { payload } = await jwtVerify(assertion, keySetFor(origin), {
      issuer: origin,
      audience: config.audience,
      algorithms: ["RS256", "ES256"],
      currentDate: now,
      requiredClaims: ["exp", "email"],
    });
    const email = payload.email;
    if (typeof email !== "string" || !/^[^\s@]{1,200}@[^\s@]{1,200}$/.test(email)) {
      return { ok: false, reason: "assertion has no usable email" };
    }
    return { ok: true, email };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { ok: false, reason: typeof code === "string" ? code : "assertion not verified" };
  }
}
