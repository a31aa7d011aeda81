// `npm run dev`: the whole service on this machine, no accounts, no Docker.
//   embedded PostgreSQL (data kept in .data/postgres) -> migrations -> local Neon HTTP
//   endpoint -> ElevenLabs simulator (unless ELEVENLABS_API_KEY is set in .dev.vars) ->
//   `wrangler dev` on http://127.0.0.1:8787 (PORT overrides). Ctrl-C stops all of it.
import { spawn } from "node:child_process";
import { ensureDevVars, readDevVars } from "./lib/dev-vars.ts";
import { startElevenLabsSimulator } from "./lib/elevenlabs-simulator.ts";
import { startPostgres } from "./lib/embedded-postgres.ts";
import { applyMigrations } from "./lib/migrations.ts";
import { startNeonHttpEndpoint } from "./lib/neon-http-endpoint.ts";

const port = Number(process.env.PORT ?? 8787);
const log = (line: string) => console.log(`[dev] ${line}`);
const stops: (() => Promise<void>)[] = [];

async function main() {
  if (ensureDevVars()) log("created .dev.vars from .dev.vars.example (dev credentials)");
  const devVars = readDevVars();
  const databaseUrl = new URL(
    devVars.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:54329/driver_calls",
  );
  const databaseName = databaseUrl.pathname.slice(1) || "driver_calls";

  const postgres = await startPostgres({
    dataDir: ".data/postgres",
    port: Number(databaseUrl.port || 54329),
    persistent: true,
    quiet: true,
  });
  stops.push(() => postgres.stop());
  await postgres.createDatabase(databaseName);
  const { applied } = await applyMigrations(postgres.urlFor(databaseName), { log });
  log(
    `PostgreSQL on port ${postgres.port} (data: ${postgres.dataDir}); ${applied.length} migration(s) applied`,
  );

  const endpoint = await startNeonHttpEndpoint({ log });
  stops.push(() => endpoint.stop());
  log(`local Neon HTTP endpoint on ${endpoint.url}`);

  // Bindings that only `npm run dev` knows: passed with --var so that .dev.vars stays
  // what the developer wrote.
  const vars: Record<string, string> = {
    DATABASE_URL: postgres.urlFor(databaseName),
    NEON_HTTP_ENDPOINT: endpoint.url,
  };
  if (devVars.ELEVENLABS_API_KEY) {
    log("ELEVENLABS_API_KEY is set in .dev.vars: calls go to the real ElevenLabs");
  } else {
    const simulator = await startElevenLabsSimulator({
      port: Number(process.env.SIMULATOR_PORT ?? port + 1),
      webhookBaseUrl: `http://127.0.0.1:${port}`,
      transcriptionToken: devVars.TRANSCRIPTION_WEBHOOK_TOKEN ?? "dev-webhook-token",
      webhookSecret: devVars.ELEVENLABS_WEBHOOK_SECRET ?? "dev-webhook-secret",
      log,
    });
    stops.push(() => simulator.stop());
    Object.assign(vars, {
      ELEVENLABS_API_BASE_URL: simulator.url,
      ELEVENLABS_API_KEY: "simulator-key",
      ELEVENLABS_AGENT_ID: devVars.ELEVENLABS_AGENT_ID ?? "agent_simulated",
      ELEVENLABS_AGENT_PHONE_NUMBER_ID:
        devVars.ELEVENLABS_AGENT_PHONE_NUMBER_ID ?? "phnum_simulated",
    });
    log(`ElevenLabs simulator on ${simulator.url} (numbers ending 0500, 0422, 0408, 0486 fail)`);
  }

  const wrangler = spawn(
    "wrangler",
    [
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--show-interactive-dev-session=false",
      ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
    ],
    {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
    },
  );
  stops.unshift(async () => {
    if (wrangler.exitCode === null) {
      wrangler.kill("SIGTERM");
      await new Promise((resolve) => wrangler.once("exit", resolve));
    }
  });
  wrangler.once("exit", (code) => {
    log(`wrangler dev exited (${code ?? "signal"})`);
    void shutdown(code ?? 0);
  });
  log(`serving on http://127.0.0.1:${port} — Ctrl-C stops everything`);
}

let shuttingDown = false;
async function shutdown(exitCode: number) {
  if (shuttingDown) return;
  shuttingDown = true;
  for (const stop of stops) {
    await stop().catch((error: unknown) => log(`while stopping: ${String(error)}`));
  }
  process.exit(exitCode);
}

process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

main().catch(async (error: unknown) => {
  console.error(`[dev] could not start: ${error instanceof Error ? error.message : String(error)}`);
  await shutdown(1);
});
