// Private resources for tests that need a database or ElevenLabs to themselves: the
// live-call cap counts every live call in a database, and the simulator's plan every call
// it plays (see tests/setup/workers-global-setup.ts, startLab).
import { neon } from "@neondatabase/serverless";
import { testEnv } from "./worker";

async function lab<T>(path: string, body: unknown = {}): Promise<T> {
  const response = await fetch(`${testEnv.LAB_URL}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`lab ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** A fresh database, migrated as production is, with its own SQL helper. */
export async function privateDatabase() {
  const { url } = await lab<{ url: string }>("/databases");
  return { url, sql: neon(url) };
}

/** A private ElevenLabs simulator (outbox mode) with a plan concurrency and call length. */
export async function privateSimulator(options: {
  maxLiveCalls?: number;
  callSeconds?: number;
  /** The simulator's chaos: every call plays a behaviour drawn from a PRNG with this seed. */
  chaosSeed?: number;
}) {
  const { url } = await lab<{ url: string }>("/simulators", {
    max_live_calls: options.maxLiveCalls,
    call_seconds: options.callSeconds,
    chaos_seed: options.chaosSeed,
  });
  return url;
}

/**
 * A Cloudflare Access stand-in: the lab serves these public keys (JWK) at
 * `{team_domain}/cdn-cgi/access/certs`; the test signs assertions with the private keys
 * and gives the Worker ACCESS_TEAM_DOMAIN = team_domain (the issuer too).
 */
export async function accessKeySet(keys: unknown[]): Promise<string> {
  const { team_domain } = await lab<{ team_domain: string }>("/key-sets", { keys });
  return team_domain;
}
