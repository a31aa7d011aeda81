// `npm run dev`: the whole service on this machine, no accounts, no Docker.
//   embedded PostgreSQL (data kept in .data/postgres) -> migrations -> local Neon HTTP
//   endpoint -> ElevenLabs simulator (unless ELEVENLABS_API_KEY is set in .dev.vars) ->
//   `wrangler dev --test-scheduled` on http://127.0.0.1:8787 (PORT overrides; the
//   simulator takes PORT + 1, SIMULATOR_PORT overrides).
//
// Crons: wrangler dev never fires cron triggers itself, so this script does, on their
// schedule (UTC minutes), through wrangler's /__scheduled?cron=... route:
//   `* * * * *`   every minute (campaign dispatch safety net, idempotency-key cleanup);
//   `*/5 * * * *` every 5 minutes (the reconciler);
//   `17 3 * * *`  daily at 03:17 UTC (the retention purge).
// A firing prints nothing unless it fails. The Cloudflare Queue needs nothing here: wrangler
// dev runs the producer and consumer declared in wrangler.toml.
//
// The simulator plays the ElevenLabs plan's concurrency: `maxLiveCalls` is the Worker's
// MAX_LIVE_CALLS (.dev.vars, default 10, passed to wrangler with --var so both agree), and
// each accepted call lasts SIMULATOR_CALL_SECONDS (environment, else .dev.vars; default 2).
// SIMULATOR_CHAOS=<integer seed> (environment, else .dev.vars) turns on the simulator's
// chaos: each call to an ordinary number plays a behaviour drawn from that seed (busy,
// voicemail, quota refusal, a stuck or silent failure, duplicate webhooks...); the same seed
// and the same order of calls replay the same run.
//
// Ctrl-C stops everything in the reverse order of starting: wrangler, the simulator, the
// Neon endpoint (its pool ends), then Postgres. A terminal's Ctrl-C also reaches Postgres
// directly, whose connections then end under the endpoint's pool: those expected errors
// are not printed while stopping.
import { spawn } from "node:child_process";
import { ensureDevVars, readDevVars } from "./lib/dev-vars.ts";
import { startElevenLabsSimulator } from "./lib/elevenlabs-simulator.ts";
import { startPostgres } from "./lib/embedded-postgres.ts";
import { applyMigrations } from "./lib/migrations.ts";
import { startNeonHttpEndpoint } from "./lib/neon-http-endpoint.ts";
import { ensureOperatorWithToken } from "./lib/operators.ts";

const port = Number(process.env.PORT ?? 8787);
const log = (line: string) => console.log(`[dev] ${line}`);

/** The crons of wrangler.toml's [triggers], and at which minutes (UTC) each fires. */
const CRONS = [
  { cron: "* * * * *", fires: (_at: Date) => true },
  { cron: "*/5 * * * *", fires: (at: Date) => at.getUTCMinutes() % 5 === 0 },
  { cron: "17 3 * * *", fires: (at: Date) => at.getUTCHours() === 3 && at.getUTCMinutes() === 17 },
];
/** A minute that starts sooner than this after wrangler was spawned is skipped (not ready yet). */
const CRON_START_GRACE_MS = 20_000;

/** Started in this order, stopped in the reverse one. */
const stops: { name: string; stop: () => Promise<void> }[] = [];
let shuttingDown = false;

function numberSetting(
  name: string,
  value: string | undefined,
  fallback: number,
  valid: (n: number) => boolean,
  expected: string,
): number {
  if (value === undefined || value.trim() === "") return fallback;
  const parsed = Number(value);
  if (!valid(parsed)) throw new Error(`${name}=${value} is not ${expected}`);
  return parsed;
}

async function main() {
  if (ensureDevVars()) log("created .dev.vars from .dev.vars.example (dev credentials)");
  const devVars = readDevVars();
  const databaseUrl = new URL(
    devVars.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:54329/driver_calls",
  );
  const databaseName = databaseUrl.pathname.slice(1) || "driver_calls";
  const maxLiveCalls = numberSetting(
    "MAX_LIVE_CALLS (.dev.vars)",
    devVars.MAX_LIVE_CALLS,
    10,
    (n) => Number.isInteger(n) && n >= 1 && n <= 1000,
    "an integer from 1 to 1000",
  );
  const callSeconds = numberSetting(
    "SIMULATOR_CALL_SECONDS",
    process.env.SIMULATOR_CALL_SECONDS ?? devVars.SIMULATOR_CALL_SECONDS,
    2,
    (n) => Number.isFinite(n) && n > 0,
    "a number of seconds above 0",
  );
  const chaosSetting = process.env.SIMULATOR_CHAOS ?? devVars.SIMULATOR_CHAOS;
  const chaosSeed = chaosSetting?.trim()
    ? numberSetting("SIMULATOR_CHAOS", chaosSetting, 0, Number.isSafeInteger, "an integer seed")
    : undefined;

  const postgres = await startPostgres({
    dataDir: ".data/postgres",
    port: Number(databaseUrl.port || 54329),
    persistent: true,
    quiet: true,
  });
  stops.push({ name: "PostgreSQL", stop: () => postgres.stop() });
  await postgres.createDatabase(databaseName);
  const { applied } = await applyMigrations(postgres.urlFor(databaseName), { log });
  log(
    `PostgreSQL on port ${postgres.port} (data: ${postgres.dataDir}); ${applied.length} migration(s) applied`,
  );
  // The console opens out of the box: sign in with this token (.dev.vars DEV_OPERATOR_TOKEN).
  const devOperatorToken = devVars.DEV_OPERATOR_TOKEN || "dev-operator-token";
  const devOperator = await ensureOperatorWithToken(postgres.urlFor(databaseName), {
    name: "Dev Operator",
    token: devOperatorToken,
  });
  log(
    `console operator "Dev Operator" ${devOperator === "created" ? "created" : "ready"}: sign in with the token ${devOperatorToken}`,
  );

  const endpoint = await startNeonHttpEndpoint({
    // Once stopping, Postgres going away under the pool is expected: not worth a line.
    log: (line) => {
      if (!shuttingDown) log(line);
    },
  });
  stops.push({ name: "local Neon HTTP endpoint", stop: () => endpoint.stop() });
  log(`local Neon HTTP endpoint on ${endpoint.url}`);

  // Bindings that only `npm run dev` knows: passed with --var so that .dev.vars stays
  // what the developer wrote.
  const vars: Record<string, string> = {
    DATABASE_URL: postgres.urlFor(databaseName),
    NEON_HTTP_ENDPOINT: endpoint.url,
    // Event endpoints may be http://127.0.0.1:<port> here (npm run events:receive).
    ALLOW_LOCAL_EVENT_ENDPOINTS: "true",
  };
  if (devVars.ELEVENLABS_API_KEY) {
    log("ELEVENLABS_API_KEY is set in .dev.vars: calls go to the real ElevenLabs");
  } else {
    const simulator = await startElevenLabsSimulator({
      port: Number(process.env.SIMULATOR_PORT ?? port + 1),
      webhookBaseUrl: `http://127.0.0.1:${port}`,
      transcriptionToken: devVars.TRANSCRIPTION_WEBHOOK_TOKEN ?? "dev-webhook-token",
      webhookSecret: devVars.ELEVENLABS_WEBHOOK_SECRET ?? "dev-webhook-secret",
      maxLiveCalls,
      callSeconds,
      chaosSeed,
      log,
    });
    stops.push({ name: "ElevenLabs simulator", stop: () => simulator.stop() });
    Object.assign(vars, {
      ELEVENLABS_API_BASE_URL: simulator.url,
      ELEVENLABS_API_KEY: "simulator-key",
      ELEVENLABS_AGENT_ID: devVars.ELEVENLABS_AGENT_ID ?? "agent_simulated",
      ELEVENLABS_AGENT_PHONE_NUMBER_ID:
        devVars.ELEVENLABS_AGENT_PHONE_NUMBER_ID ?? "phnum_simulated",
      // The simulator's plan and the Worker's limit are the same number.
      MAX_LIVE_CALLS: String(maxLiveCalls),
    });
    log(
      `ElevenLabs simulator on ${simulator.url}: ${maxLiveCalls} live calls at most (MAX_LIVE_CALLS), ` +
        `${callSeconds} s per call (SIMULATOR_CALL_SECONDS); numbers ending 0500, 0422, 0408, 0486 fail` +
        (chaosSeed === undefined ? "" : `; chaos seed ${chaosSeed} (SIMULATOR_CHAOS)`),
    );
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
      // Adds the /__scheduled route that fireCrons() uses.
      "--test-scheduled",
      ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
    ],
    {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
    },
  );
  const wranglerExit = new Promise<void>((resolve) => wrangler.once("exit", () => resolve()));
  stops.push({
    name: "wrangler dev",
    stop: async () => {
      if (wrangler.exitCode === null && wrangler.signalCode === null) wrangler.kill("SIGTERM");
      await wranglerExit;
    },
  });
  wrangler.once("exit", (code) => {
    if (shuttingDown) return;
    log(`wrangler dev exited (${code ?? "signal"})`);
    void shutdown(code ?? 1);
  });
  scheduleCrons(Date.now() + CRON_START_GRACE_MS);
  log(
    `serving on http://127.0.0.1:${port}; crons ${CRONS.map(({ cron }) => `"${cron}"`).join(", ")} ` +
      "fire on schedule — Ctrl-C stops everything",
  );
}

/** Fires each cron at the start of every UTC minute it matches, from `notBefore` on. */
function scheduleCrons(notBefore: number) {
  const tick = () => {
    if (shuttingDown) return;
    const now = new Date();
    // setTimeout may wake a few ms early: the minute is that of the nearest boundary.
    const minute = new Date(Math.round(now.getTime() / 60_000) * 60_000);
    if (now.getTime() >= notBefore) {
      for (const { cron, fires } of CRONS) if (fires(minute)) void fireCron(cron);
    }
    timer = setTimeout(tick, 60_000 - (Date.now() % 60_000));
  };
  let timer = setTimeout(tick, 60_000 - (Date.now() % 60_000));
  stops.push({ name: "cron timer", stop: async () => clearTimeout(timer) });
}

async function fireCron(cron: string) {
  const url = `http://127.0.0.1:${port}/__scheduled?cron=${encodeURIComponent(cron)}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    await response.text();
    if (!response.ok && !shuttingDown) log(`cron "${cron}" did not run: HTTP ${response.status}`);
  } catch (error) {
    if (!shuttingDown) {
      log(`cron "${cron}" did not run: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

async function shutdown(exitCode: number) {
  if (shuttingDown) return;
  shuttingDown = true;
  for (const { name, stop } of stops.reverse()) {
    await stop().catch((error: unknown) =>
      log(`while stopping ${name}: ${error instanceof Error ? error.message : String(error)}`),
    );
  }
  process.exit(exitCode);
}

process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

main().catch(async (error: unknown) => {
  console.error(`[dev] could not start: ${error instanceof Error ? error.message : String(error)}`);
  await shutdown(1);
});
