// The stack of the campaign and console benches: a throwaway Postgres (migrated), the local
// Neon HTTP endpoint, optionally the ElevenLabs simulator posting its webhooks back, and
// the production entry (src/index.ts) bundled as a deploy bundles it and served by
// wrangler dev with its local queue. Everything is stopped, newest first, by stop().
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type RunningSimulator,
  type SimulatorOptions,
  startElevenLabsSimulator,
} from "../lib/elevenlabs-simulator.ts";
import { freePort, startPostgres } from "../lib/embedded-postgres.ts";
import { applyMigrations } from "../lib/migrations.ts";
import { type NeonHttpEndpoint, startNeonHttpEndpoint } from "../lib/neon-http-endpoint.ts";
import { ensureOperatorWithToken } from "../lib/operators.ts";
import { bundleWorker, startWranglerDev, type WranglerDev } from "./wrangler.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export const BENCH_API_TOKEN = "bench-api-token";
export const BENCH_OPERATOR_TOKEN = "dco_bench-operator-token";
const WEBHOOK_TOKEN = "bench-webhook-token";
const WEBHOOK_SECRET = "bench-webhook-secret";

export interface BenchStack {
  /** The database's URL without a scope (for direct `pg` reads). */
  databaseUrl: string;
  endpoint: NeonHttpEndpoint;
  simulator: RunningSimulator | undefined;
  worker: WranglerDev;
  stop(): Promise<void>;
}

export async function startBenchStack(options: {
  /** Names the work directory, `.data/bench-<name>-<pid>`. */
  name: string;
  /** The Worker's statements carry this endpoint scope, so the endpoint counts them. */
  scope?: string;
  /** Start the simulator with these options (webhooks go to the Worker); none: no dialing. */
  simulator?: Omit<
    SimulatorOptions,
    "port" | "webhookBaseUrl" | "transcriptionToken" | "webhookSecret"
  >;
  /** More Worker vars (MAX_LIVE_CALLS, ...). */
  vars?: Record<string, string>;
}): Promise<BenchStack> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.splice(0)) await step().catch(() => {});
  };
  try {
    const workDir = resolve(ROOT, `.data/bench-${options.name}-${process.pid}`);
    stops.push(async () => rmSync(workDir, { recursive: true, force: true }));
    const postgres = await startPostgres({
      dataDir: join(workDir, "postgres"),
      port: await freePort(),
      persistent: false,
      quiet: true,
    });
    stops.unshift(() => postgres.stop());
    await postgres.createDatabase("bench");
    const databaseUrl = postgres.urlFor("bench");
    await applyMigrations(databaseUrl);
    // The console's benches sign in as this operator (API_TOKEN does not open the console).
    await ensureOperatorWithToken(databaseUrl, {
      name: "Bench Operator",
      token: BENCH_OPERATOR_TOKEN,
    });
    const endpoint = await startNeonHttpEndpoint({});
    stops.unshift(() => endpoint.stop());

    const port = await freePort();
    let simulator: RunningSimulator | undefined;
    if (options.simulator) {
      simulator = await startElevenLabsSimulator({
        ...options.simulator,
        port: await freePort(),
        webhookBaseUrl: `http://127.0.0.1:${port}`,
        transcriptionToken: WEBHOOK_TOKEN,
        webhookSecret: WEBHOOK_SECRET,
      });
      const running = simulator;
      stops.unshift(() => running.stop());
    }

    const bundle = await bundleWorker("src/index.ts", join(workDir, "bundle"));
    const worker = await startWranglerDev({
      bundle,
      port,
      inspectorPort: await freePort(),
      persistTo: join(workDir, "wrangler-state"),
      vars: {
        DATABASE_URL: options.scope ? `${databaseUrl}?scope=${options.scope}` : databaseUrl,
        NEON_HTTP_ENDPOINT: endpoint.url,
        API_TOKEN: BENCH_API_TOKEN,
        TRANSCRIPTION_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        ELEVENLABS_WEBHOOK_SECRET: WEBHOOK_SECRET,
        ELEVENLABS_API_KEY: "simulator-key",
        // Without the simulator, nothing answers: nobody may be dialed.
        ELEVENLABS_API_BASE_URL: simulator?.url ?? "http://127.0.0.1:9",
        ELEVENLABS_AGENT_ID: "agent_bench",
        ELEVENLABS_AGENT_PHONE_NUMBER_ID: "phnum_bench",
        ...options.vars,
      },
      onSpawn: (stopWrangler) => stops.unshift(stopWrangler),
    });
    return { databaseUrl, endpoint, simulator, worker, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
