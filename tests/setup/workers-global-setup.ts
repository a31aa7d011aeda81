// Runs in Node before the workerd pool starts: a throwaway embedded Postgres, the
// migrations production runs, and the local Neon HTTP endpoint. Tests get the URLs
// through provide/inject and never touch the dev database (.data/postgres).
import { rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import type { TestProject } from "vitest/node";
import {
  postgresCallRowProbe,
  startElevenLabsSimulator,
} from "../../scripts/lib/elevenlabs-simulator.ts";
import { dropExitHooks, freePort, startPostgres } from "../../scripts/lib/embedded-postgres.ts";
import { applyMigrations } from "../../scripts/lib/migrations.ts";
import { startNeonHttpEndpoint } from "../../scripts/lib/neon-http-endpoint.ts";
import { TEST_SECRETS } from "./test-secrets.ts";

declare module "vitest" {
  export interface ProvidedContext {
    labUrl: string;
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

  const lab = await startLab(postgres);
  project.provide("labUrl", lab.url);
  project.provide("databaseUrl", databaseUrl);
  project.provide("neonHttpEndpoint", endpoint.url);
  project.provide("neonControlUrl", endpoint.url.replace(/\/sql$/, "/__control"));
  project.provide("simulatorUrl", simulator.url);
  project.provide("faultDatabaseUrl", faults.databaseUrl);
  project.provide("faultControlUrl", faults.controlUrl);

  return async () => {
    // Last word on the process's exit code: see dropExitHooks.
    dropExitHooks();
    await lab.stop();
    await faults.stop();
    await simulator.stop();
    await callRowProbe.close();
    await endpoint.stop();
    await postgres.stop();
  };
}

/**
 * The lab: what a test that needs the whole database, or ElevenLabs, to itself asks for
 * over HTTP (the tests run inside workerd). The live-call cap counts every live call in a
 * database and the simulator's plan counts every call it plays, so a test that races for
 * the last slots must not share them with test files running in parallel.
 *   POST   /databases                  -> {url}  a fresh database, migrated (a copy of a
 *                                                 template migrated once, in milliseconds)
 *   POST   /simulators {max_live_calls?, call_seconds?, chaos_seed?} -> {url}  a private
 *                                                 simulator in outbox mode (the test delivers
 *                                                 its webhooks); chaos_seed turns its chaos on
 *   POST   /receivers {script}             -> {url}  a fleet's event endpoint: answers the
 *                                                 statuses of `script` in turn (then 200), or
 *                                                 never answers ("hang"); records what came
 *   GET    /receivers/:n/received          -> {requests: [{headers, body, at}]}
 *   POST   /key-sets {keys}                -> {team_domain}  a Cloudflare Access stand-in: the
 *                                                 test's public keys served at
 *                                                 {team_domain}/cdn-cgi/access/certs
 */
async function startLab(postgres: Awaited<ReturnType<typeof startPostgres>>) {
  const template = "driver_calls_template";
  await postgres.createDatabase(template);
  await applyMigrations(postgres.urlFor(template));
  const admin = new pg.Client({ connectionString: postgres.adminUrl });
  await admin.connect();
  let created = 0;
  // One CREATE DATABASE ... TEMPLATE at a time: Postgres refuses a copy while another
  // session is connected to the template.
  let queue: Promise<unknown> = Promise.resolve();
  const simulators: Awaited<ReturnType<typeof startElevenLabsSimulator>>[] = [];
  const keySets: unknown[] = [];
  const receivers: {
    script: number[] | "hang";
    requests: { headers: Record<string, unknown>; body: string; at: number }[];
  }[] = [];
  const hanging = new Set<import("node:http").ServerResponse>();
  let origin = "";

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const delivery = /^\/receivers\/(\d+)$/.exec(request.url ?? "");
      const receiver = delivery ? receivers[Number(delivery[1])] : undefined;
      if (request.method === "POST" && receiver) {
        receiver.requests.push({ headers: request.headers, body: text, at: Date.now() });
        if (receiver.script === "hang") {
          hanging.add(response);
          return;
        }
        const status = receiver.script[receiver.requests.length - 1] ?? 200;
        response.writeHead(status, { "content-type": "text/plain" }).end(`answered ${status}`);
        return;
      }
      const body = text ? JSON.parse(text) : {};
      const answer = async () => {
        if (request.method === "POST" && request.url === "/receivers") {
          receivers.push({ script: body.script ?? [], requests: [] });
          return { url: `${origin}/receivers/${receivers.length - 1}` };
        }
        const received = /^\/receivers\/(\d+)\/received$/.exec(request.url ?? "");
        if (request.method === "GET" && received) {
          return { requests: receivers[Number(received[1])]?.requests ?? [] };
        }
        if (request.method === "POST" && request.url === "/databases") {
          const name = `lab_${process.pid}_${++created}`;
          const done = queue.then(() =>
            admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`),
          );
          queue = done.catch(() => {});
          await done;
          return { url: postgres.urlFor(name) };
        }
        if (request.method === "POST" && request.url === "/key-sets") {
          keySets.push({ keys: body.keys });
          return { team_domain: `${origin}/key-sets/${keySets.length - 1}` };
        }
        const keySet = /^\/key-sets\/(\d+)\/cdn-cgi\/access\/certs$/.exec(request.url ?? "");
        if (request.method === "GET" && keySet) {
          const found = keySets[Number(keySet[1])];
          if (found) return found;
        }
        if (request.method === "POST" && request.url === "/simulators") {
          const simulator = await startElevenLabsSimulator({
            apiKey: TEST_SECRETS.ELEVENLABS_API_KEY,
            transcriptionToken: TEST_SECRETS.TRANSCRIPTION_WEBHOOK_TOKEN,
            webhookSecret: TEST_SECRETS.ELEVENLABS_WEBHOOK_SECRET,
            playbackDelayMs: 5,
            ...(typeof body.max_live_calls === "number"
              ? { maxLiveCalls: body.max_live_calls }
              : {}),
            ...(typeof body.call_seconds === "number" ? { callSeconds: body.call_seconds } : {}),
            ...(typeof body.chaos_seed === "number" ? { chaosSeed: body.chaos_seed } : {}),
          });
          simulators.push(simulator);
          return { url: simulator.url };
        }
        throw new Error(`no lab route ${request.method} ${request.url}`);
      };
      answer().then(
        (result) =>
          response
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify(result)),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  return {
    url: origin,
    async stop() {
      for (const response of hanging) response.destroy();
      server.close();
      for (const simulator of simulators) await simulator.stop();
      await admin.end();
    },
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
