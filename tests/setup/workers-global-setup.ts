// Runs in Node before the workerd pool starts: a throwaway embedded Postgres, the
// migrations production runs, and the local Neon HTTP endpoint. Tests get the URLs
// through provide/inject and never touch the dev database (.data/postgres).
import type { TestProject } from "vitest/node";
import {
  postgresCallRowProbe,
  startElevenLabsSimulator,
} from "../../scripts/lib/elevenlabs-simulator.ts";
import { freePort, startPostgres } from "../../scripts/lib/embedded-postgres.ts";
import { applyMigrations } from "../../scripts/lib/migrations.ts";
import { startNeonHttpEndpoint } from "../../scripts/lib/neon-http-endpoint.ts";
import { TEST_SECRETS } from "./test-secrets.ts";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    neonHttpEndpoint: string;
    neonControlUrl: string;
    simulatorUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const postgres = await startPostgres({
    dataDir: `.data/test-workers-${process.pid}`,
    port: await freePort(),
    persistent: false,
    quiet: true,
  });
  const databaseUrl = postgres.urlFor("driver_calls_test");
  await postgres.createDatabase("driver_calls_test");
  await applyMigrations(databaseUrl);
  const endpoint = await startNeonHttpEndpoint({});
  // The ElevenLabs simulator in outbox mode: the Worker runs in-process in the pool, not on
  // a port, so tests fetch the webhooks the simulator would send and deliver them.
  const callRowProbe = postgresCallRowProbe(databaseUrl);
  const simulator = await startElevenLabsSimulator({
    apiKey: TEST_SECRETS.ELEVENLABS_API_KEY,
    transcriptionToken: TEST_SECRETS.TRANSCRIPTION_WEBHOOK_TOKEN,
    webhookSecret: TEST_SECRETS.ELEVENLABS_WEBHOOK_SECRET,
    playbackDelayMs: 20,
    callRowProbe: callRowProbe.probe,
  });

  project.provide("databaseUrl", databaseUrl);
  project.provide("neonHttpEndpoint", endpoint.url);
  project.provide("neonControlUrl", endpoint.url.replace(/\/sql$/, "/__control"));
  project.provide("simulatorUrl", simulator.url);

  return async () => {
    await simulator.stop();
    await callRowProbe.close();
    await endpoint.stop();
    await postgres.stop();
  };
}
