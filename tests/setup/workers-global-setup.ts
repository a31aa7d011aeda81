// Runs in Node before the workerd pool starts: a throwaway embedded Postgres, the
// migrations production runs, and the local Neon HTTP endpoint. Tests get the URLs
// through provide/inject and never touch the dev database (.data/postgres).
import { rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
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
    faultDatabaseUrl: string;
    faultControlUrl: string;
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
  const faults = await startFaultDatabase();
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
  project.provide("faultDatabaseUrl", faults.databaseUrl);
  project.provide("faultControlUrl", faults.controlUrl);

  return async () => {
    await faults.stop();
    await simulator.stop();
    await callRowProbe.close();
    await endpoint.stop();
    await postgres.stop();
  };
}

/**
 * A second Postgres that a test may stop and start again mid-run (tests/workers/faults),
 * steered over HTTP because the tests run inside workerd. Kept apart from the main test
 * database so that stopping it disturbs no other test file.
 */
async function startFaultDatabase() {
  const dataDir = `.data/test-faults-${process.pid}`;
  const postgres = await startPostgres({
    dataDir,
    port: await freePort(),
    persistent: true,
    quiet: true,
  });
  const databaseUrl = postgres.urlFor("driver_calls_faults");
  await postgres.createDatabase("driver_calls_faults");
  await applyMigrations(databaseUrl);
  let running = true;
  const server = createServer((request, response) => {
    const action =
      request.url === "/stop" && running
        ? postgres.stop().then(() => {
            running = false;
          })
        : request.url === "/start" && !running
          ? postgres.start().then(() => {
              running = true;
            })
          : Promise.resolve();
    action.then(
      () =>
        response
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ running })),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    databaseUrl,
    controlUrl: `http://127.0.0.1:${port}`,
    async stop() {
      server.close();
      if (running) await postgres.stop();
      rmSync(postgres.dataDir, { recursive: true, force: true });
    },
  };
}
