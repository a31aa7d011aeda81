// `npm run bench`: the service's performance figures on this machine, with their targets.
// Starts everything itself on free ports (a throwaway embedded Postgres under
// .data/bench-<pid>, the local Neon HTTP endpoint in this process, the ElevenLabs
// simulator, `wrangler dev`), stops all of it at the end (also on error and Ctrl-C), and
// prints one table. Sections:
//   1. transcription webhook throughput and latency at 1, 16 and 64 senders;
//   2. the no-database ceiling of wrangler dev (unknown route), /health, and our share;
//   3. simulated Worker-to-Neon distance (0 and 20 ms per statement): our one-statement
//      save against the task breakdown's four-statement save (scripts/bench/baseline-worker.ts);
//   4. CPU per request in workerd: a fixed number of requests to our webhook and to the
//      no-database 404 (and, for reference, the diagnostic and baseline routes), with the
//      workerd processes' CPU time read from /proc before and after;
//   5. a 100-driver batch at CALL_CONCURRENCY 1 and 5 against 300 ms ElevenLabs latency;
//   6. the call_sid migrations on 100,000 legacy rows (scripts/bench-backfill.ts).
// Targets are set only on what the service controls (statements, round trips at one
// sender, Worker CPU, batch concurrency). The 16-sender comparisons are reported as info:
// on a 2-core machine they measure CPU contention between Postgres, the endpoint,
// wrangler and the load generator, not the service.
// docs/BENCHMARKS.md has the latest figures and how to read them.
import { spawn } from "node:child_process";
import { copyFileSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { type LoadResult, mergeLoadResults, type RequestParts, runLoad } from "./bench/load.ts";
import {
  CPU_KINDS,
  type CpuKind,
  cpuMsByKind,
  cpuSnapshot,
  otherProcessesShare,
  waitForQuietMachine,
  workerdCpu,
} from "./bench/machine.ts";
import { bundleWorker, startWranglerDev, type WranglerDev } from "./bench/wrangler.ts";
import { type RunningSimulator, startElevenLabsSimulator } from "./lib/elevenlabs-simulator.ts";
import { freePort, startPostgres } from "./lib/embedded-postgres.ts";
import { applyMigrations } from "./lib/migrations.ts";
import { type NeonHttpEndpoint, startNeonHttpEndpoint } from "./lib/neon-http-endpoint.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
/** Loads compared with each other are measured in this many interleaved slices. */
const ROUNDS = 4;
/**
 * How long the bench may wait in all, before its load slices, for other processes to
 * leave the CPU (a shared machine); 0 measures at once. At most QUIET_WAIT_PER_SLICE_MS a slice.
 */
let quietBudgetMs = Number(process.env.BENCH_QUIET_WAIT_S ?? 20) * 1000;
const QUIET_WAIT_PER_SLICE_MS = 10_000;
let quietWaitedMs = 0;
/** Section 1 runs 1 and 64 senders; 16 senders runs in section 2, beside the ceiling. */
const SENDERS = [1, 16, 64];
const FAR_DELAY_MS = 20;
/** Each sender rotates over its own calls: utterances of one call arrive one at a time. */
const CALLS_PER_SENDER = 8;
const SEEDED_CALLS = 3000;
const BATCH_DRIVERS = 100;
const ELEVENLABS_LATENCY_MS = 300;
/** Section 4: requests per route (in ROUNDS interleaved chunks), and senders. */
const CPU_REQUESTS = Number(process.env.BENCH_CPU_REQUESTS ?? 2000);
const CPU_SENDERS = 4;
/**
 * The Worker-CPU target: the webhook may cost at most this many times the workerd CPU of
 * the no-database 404. It is the old "webhook ≥ 60% of the no-database ceiling" target
 * (1 / 0.6) restated on the one resource the service spends itself: a Worker's throughput
 * is bounded by its CPU per request, while the database's CPU is Neon's.
 */
const CPU_RATIO_TARGET = 1 / 0.6;

const API_TOKEN = "bench-api-token";
const WEBHOOK_TOKEN = "bench-webhook-token";
const WEBHOOK_SECRET = "bench-webhook-secret";
const DATABASE = "driver_calls_bench";
const OUR_PATH = "/webhooks/elevenlabs/transcription";
const BASELINE_PATH = "/bench/baseline-transcription";
const WITHOUT_DB_PATH = "/bench/transcription-without-db";

const log = (line: string) => console.log(`[bench] ${line}`);

// ---------------------------------------------------------------------------------------
// Lifecycle: everything started is stopped in reverse order, once.

const stops: { name: string; stop: () => Promise<void> }[] = [];
let stopping: Promise<void> | undefined;

function onStop(name: string, stop: () => Promise<void>) {
  stops.push({ name, stop });
}

function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const { name, stop } of stops.reverse()) {
      await stop().catch((error: unknown) => log(`while stopping ${name}: ${String(error)}`));
    }
  })();
  return stopping;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping everything`);
    void stopAll().then(() => process.exit(signal === "SIGINT" ? 130 : 143));
  });
}

// ---------------------------------------------------------------------------------------
// The stack.

interface Stack {
  databaseUrl: string;
  endpoint: NeonHttpEndpoint;
  simulator: RunningSimulator;
  bundle: string;
  /** wrangler.toml as it was when the bundle was built (see scripts/bench/wrangler.ts). */
  config: string;
  workDir: string;
}

async function startStack(): Promise<Stack> {
  const workDir = resolve(ROOT, `.data/bench-${process.pid}`);
  // Registered first, so it runs last: the Postgres data, the bundle and wrangler's state.
  onStop("work dir", async () => rmSync(workDir, { recursive: true, force: true }));
  const postgres = await startPostgres({
    dataDir: join(workDir, "postgres"),
    port: await freePort(),
    persistent: false,
    quiet: true,
  });
  onStop("postgres", () => postgres.stop());
  await postgres.createDatabase(DATABASE);
  const databaseUrl = postgres.urlFor(DATABASE);
  await applyMigrations(databaseUrl);
  log(`PostgreSQL on port ${postgres.port} (data: ${postgres.dataDir}), migrations applied`);

  // Quiet once stopping: a Ctrl-C also reaches Postgres, whose pooled connections then end.
  const endpoint = await startNeonHttpEndpoint({ log: (line) => stopping ?? log(line) });
  onStop("neon endpoint", () => endpoint.stop());

  // No webhookBaseUrl: the simulator queues the webhooks of the calls it "plays" instead of
  // posting them, so that the batch figures count only the batch's own database work.
  const simulator = await startElevenLabsSimulator({
    apiKey: "simulator-key",
    transcriptionToken: WEBHOOK_TOKEN,
    webhookSecret: WEBHOOK_SECRET,
  });
  onStop("elevenlabs simulator", () => simulator.stop());

  const bundle = await bundleWorker("scripts/bench/baseline-worker.ts", join(workDir, "bundle"));
  const config = join(workDir, "wrangler.toml");
  copyFileSync(join(ROOT, "wrangler.toml"), config);
  log("bundled scripts/bench/baseline-worker.ts (the app + the baseline and diagnostic routes)");
  return { databaseUrl, endpoint, simulator, bundle, config, workDir };
}

async function startWorker(stack: Stack, callConcurrency: number): Promise<WranglerDev> {
  const started = performance.now();
  const worker = await startWranglerDev({
    bundle: stack.bundle,
    port: await freePort(),
    inspectorPort: await freePort(),
    persistTo: join(stack.workDir, "wrangler-state"),
    config: stack.config,
    vars: {
      DATABASE_URL: stack.databaseUrl,
      NEON_HTTP_ENDPOINT: stack.endpoint.url,
      API_TOKEN,
      TRANSCRIPTION_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      ELEVENLABS_WEBHOOK_SECRET: WEBHOOK_SECRET,
      ELEVENLABS_API_KEY: "simulator-key",
      ELEVENLABS_API_BASE_URL: stack.simulator.url,
      ELEVENLABS_AGENT_ID: "agent_bench",
      ELEVENLABS_AGENT_PHONE_NUMBER_ID: "phnum_bench",
      CALL_CONCURRENCY: String(callConcurrency),
      // The live-call cap lets a whole batch through (finishLiveCalls() frees the lines
      // first), so the batch figures measure CALL_CONCURRENCY, not the cap.
      MAX_LIVE_CALLS: String(BATCH_DRIVERS),
    },
    onSpawn: (stop) => onStop(`wrangler dev (CALL_CONCURRENCY ${callConcurrency})`, stop),
  });
  log(
    `wrangler dev on ${worker.url} (CALL_CONCURRENCY ${callConcurrency}), ready in ${ms(performance.now() - started)}`,
  );
  return worker;
}

/** Started calls (conversation_id set), written straight into Postgres. */
async function seedCalls(databaseUrl: string, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO calls (call_sid, driver_id, conversation_id, status, call_start_time)
       SELECT 'EL_' || (900000 + i) || '_1763900000', 900000 + i, 'conv_bench_' || i,
              'IN_PROGRESS', now()
       FROM generate_series(1, $1::int) AS i`,
      [count],
    );
    await client.query("ANALYZE calls");
  } finally {
    await client.end();
  }
}

/**
 * Every IN_PROGRESS call becomes COMPLETED, which frees its live-call line (migration
 * 0008's trigger): the seeded calls and an earlier batch's calls (in outbox mode the
 * simulator never reports them finished) would otherwise take every line of the cap.
 */
async function finishLiveCalls(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `UPDATE calls SET status = 'COMPLETED', call_end_time = now(), updated_at = now()
       WHERE status = 'IN_PROGRESS'`,
    );
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------
// Load runs.

let nextCall = 1;
let utteranceSeq = 0;
const UTTERANCE_EPOCH = Date.parse("2026-11-23T14:00:00.000Z");

/** A webhook load: each request a new utterance, each sender on its own CALLS_PER_SENDER calls. */
function utterances(path: string, connections: number) {
  const firstCall = nextCall;
  nextCall += connections * CALLS_PER_SENDER;
  if (nextCall > SEEDED_CALLS + 1) throw new Error("the bench ran out of seeded calls");
  return (connection: number, n: number): RequestParts => {
    const call = firstCall + connection * CALLS_PER_SENDER + (n % CALLS_PER_SENDER);
    const seq = utteranceSeq++;
    return {
      method: "POST",
      path,
      headers: { "content-type": "application/json", authorization: `Bearer ${WEBHOOK_TOKEN}` },
      body: JSON.stringify({
        call_sid: `EL_${900000 + call}_1763900000`,
        speaker: n % 2 === 0 ? "agent" : "user",
        message: `Bench utterance ${seq}: the driver confirms the stop at the weigh station.`,
        timestamp: new Date(UTTERANCE_EPOCH + seq).toISOString(),
      }),
    };
  };
}

const get = (path: string) => (): RequestParts => ({ method: "GET", path });

interface Measured extends LoadResult {
  label: string;
  statementsPerRequest: number;
  /** Share of the machine's CPU that processes other than the bench's used meanwhile. */
  othersCpu: number;
  /** CPU ms per answered request, by kind of process. */
  cpuPerRequest: Record<CpuKind, number>;
}

interface LoadSpec {
  label: string;
  connections: number;
  request: (connection: number, n: number) => RequestParts;
  /** Simulated Worker-to-Neon distance: the local endpoint's delay per statement, ms. */
  delay?: number;
}

const allRuns: Measured[] = [];
/** Other processes' share of the CPU during each chunk of section 4 (see allRuns' othersCpu). */
const cpuSectionOthers: number[] = [];

/** Waits for other processes to leave the CPU, within what is left of the quiet budget. */
async function waitForQuiet(): Promise<void> {
  if (quietBudgetMs <= 0) return;
  const waited = await waitForQuietMachine({
    maxWaitMs: Math.min(quietBudgetMs, QUIET_WAIT_PER_SLICE_MS),
  });
  quietBudgetMs -= waited;
  quietWaitedMs += waited;
}

/**
 * Measures loads that are to be compared with each other INTERLEAVED: each gets
 * DURATION_S in all, in ROUNDS slices that take turns (A B C, B C A, ...). Other work on
 * the machine then weighs on all of them alike instead of on whichever ran at a bad moment.
 */
async function measure(stack: Stack, worker: WranglerDev, specs: LoadSpec[]): Promise<Measured[]> {
  const rounds = specs.length > 1 ? ROUNDS : 1;
  const slices = specs.map(() => ({
    results: [] as LoadResult[],
    statements: 0,
    others: [] as number[],
    cpuMs: { workerd: 0, wrangler: 0, postgres: 0, bench: 0 } as Record<CpuKind, number>,
  }));
  for (let round = 0; round < rounds; round++) {
    for (let turn = 0; turn < specs.length; turn++) {
      const index = (round + turn) % specs.length;
      const spec = specs[index] as LoadSpec;
      const slice = slices[index] as (typeof slices)[number];
      await waitForQuiet();
      stack.endpoint.control({ delayMs: spec.delay ?? 0 });
      const before = stack.endpoint.statements("*").length;
      const cpuBefore = cpuSnapshot();
      slice.results.push(
        await runLoad({
          url: worker.url,
          connections: spec.connections,
          durationS: DURATION_S / rounds,
          request: spec.request,
        }),
      );
      const cpuAfter = cpuSnapshot();
      slice.others.push(otherProcessesShare(cpuBefore, cpuAfter));
      const used = cpuMsByKind(cpuBefore, cpuAfter);
      for (const kind of CPU_KINDS) slice.cpuMs[kind] += used[kind];
      // Requests still in flight when the slice ended finish their statements: let them.
      await settle(stack.endpoint);
      stack.endpoint.control({ delayMs: 0 });
      slice.statements += stack.endpoint.statements("*").length - before;
    }
  }
  return specs.map((spec, index) => {
    const slice = slices[index] as (typeof slices)[number];
    const result = mergeLoadResults(slice.results);
    const measured: Measured = {
      ...result,
      label: spec.label,
      statementsPerRequest: slice.statements / result.sent,
      othersCpu: slice.others.reduce((sum, share) => sum + share, 0) / slice.others.length,
      cpuPerRequest: Object.fromEntries(
        CPU_KINDS.map((kind) => [kind, slice.cpuMs[kind] / Math.max(1, result.completed)]),
      ) as Record<CpuKind, number>,
    };
    allRuns.push(measured);
    printRun(measured);
    return measured;
  });
}

function printRun(run: Measured) {
  console.log(
    `  ${run.label.padEnd(46)} ${String(run.connections).padStart(2)} senders ${run.reqPerSec
      .toFixed(0)
      .padStart(5)} req/s  p50 ${fmt(run.p50)}  p95 ${fmt(run.p95)}  p99 ${fmt(run.p99)} ms  ` +
      `non-2xx ${run.non2xx}  errors ${run.errors}  stmts/req ${run.statementsPerRequest.toFixed(2)}  ` +
      `other CPU ${percent(run.othersCpu)}`,
  );
  const cpu = CPU_KINDS.map((kind) => `${kind} ${run.cpuPerRequest[kind].toFixed(1)}`);
  const total = CPU_KINDS.reduce((sum, kind) => sum + run.cpuPerRequest[kind], 0);
  console.log(`    CPU ms per request: ${cpu.join(", ")}; total ${total.toFixed(1)}`);
  if (run.non2xx > 0) console.log(`    status codes: ${JSON.stringify(run.statusCodes)}`);
}

/** Waits until no statement has reached the endpoint for 250 ms (at most 10 s). */
async function settle(endpoint: NeonHttpEndpoint): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = -1;
  while (Date.now() < deadline) {
    const now = endpoint.statements("*").length;
    if (now === last) return;
    last = now;
    await sleep(250);
  }
}

/**
 * Statements per request, exactly: `count` requests one after the other, on a quiet
 * endpoint, each checked to be a 200 with the next sequence number.
 */
async function statementsPerRequest(
  stack: Stack,
  worker: WranglerDev,
  path: string,
  count = 20,
): Promise<number> {
  await settle(stack.endpoint);
  const request = utterances(path, 1);
  const before = stack.endpoint.statements("*").length;
  for (let n = 0; n < count; n++) {
    const parts = request(0, n * CALLS_PER_SENDER); // always the same call
    const response = await fetch(`${worker.url}${parts.path}`, {
      method: parts.method,
      headers: parts.headers,
      body: parts.body,
    });
    const body = (await response.json()) as { sequence_number?: number };
    if (response.status !== 200 || body.sequence_number !== n + 1) {
      throw new Error(
        `${path} answered ${response.status} ${JSON.stringify(body)} to request ${n + 1}`,
      );
    }
  }
  return (stack.endpoint.statements("*").length - before) / count;
}

// ---------------------------------------------------------------------------------------
// CPU per request in workerd.

interface CpuSpec {
  label: string;
  request: (connection: number, n: number) => RequestParts;
}

interface WorkerCpu {
  label: string;
  requests: number;
  non2xx: number;
  /** CPU ms per answered request of the workerd that runs the Worker. */
  msPerRequest: number;
  /** The same for wrangler dev's proxy workerd (not in production). */
  proxyMsPerRequest: number;
}

/**
 * CPU_REQUESTS requests per route, CPU_SENDERS at a time, in ROUNDS interleaved chunks;
 * the CPU time of the Worker's workerd process (from /proc/<pid>/stat) over each chunk,
 * divided by the answers, and the same for wrangler dev's proxy workerd. CPU time, unlike
 * latency or throughput, hardly depends on how busy the machine is: it is what the Worker
 * spends on a request.
 */
async function measureWorkerCpu(
  stack: Stack,
  worker: WranglerDev,
  specs: CpuSpec[],
): Promise<WorkerCpu[]> {
  const totals = specs.map(() => ({ requests: 0, non2xx: 0, workerMs: 0, proxyMs: 0 }));
  const servedPort = Number(new URL(worker.url).port);
  stack.endpoint.control({ delayMs: 0 });
  for (let round = 0; round < ROUNDS; round++) {
    for (let turn = 0; turn < specs.length; turn++) {
      const index = (round + turn) % specs.length;
      const spec = specs[index] as CpuSpec;
      const total = totals[index] as (typeof totals)[number];
      await waitForQuiet();
      const machineBefore = cpuSnapshot();
      const before = workerdCpu(servedPort);
      const result = await runLoad({
        url: worker.url,
        connections: CPU_SENDERS,
        durationS: DURATION_S,
        amount: Math.round(CPU_REQUESTS / ROUNDS),
        request: spec.request,
      });
      const after = workerdCpu(servedPort);
      cpuSectionOthers.push(otherProcessesShare(machineBefore, cpuSnapshot()));
      if (after.workerMs === 0) {
        throw new Error("could not read the Worker's workerd CPU time (Linux /proc only)");
      }
      total.workerMs += after.workerMs - before.workerMs;
      total.proxyMs += after.proxyMs - before.proxyMs;
      total.requests += result.completed;
      total.non2xx += result.non2xx + result.errors;
      await settle(stack.endpoint);
    }
  }
  return specs.map((spec, index) => {
    const total = totals[index] as (typeof totals)[number];
    const figures = {
      label: spec.label,
      requests: total.requests,
      non2xx: total.non2xx,
      msPerRequest: total.workerMs / Math.max(1, total.requests),
      proxyMsPerRequest: total.proxyMs / Math.max(1, total.requests),
    };
    console.log(
      `  ${spec.label.padEnd(46)} ${String(figures.requests).padStart(5)} requests  ` +
        `CPU ms/request: Worker ${figures.msPerRequest.toFixed(2)}, proxy ${figures.proxyMsPerRequest.toFixed(2)}  ` +
        `non-2xx ${figures.non2xx}`,
    );
    return figures;
  });
}

// ---------------------------------------------------------------------------------------
// Batch.

interface BatchFigures {
  concurrency: number;
  wallMs: number;
  started: number;
  statementsPerDriver: number;
  maxInFlight: number;
}

let nextDriver = 1;

async function measureBatch(
  stack: Stack,
  worker: WranglerDev,
  concurrency: number,
): Promise<BatchFigures> {
  const drivers = Array.from({ length: BATCH_DRIVERS }, (_, index) => {
    const driverId = nextDriver++;
    return {
      driver_id: driverId,
      // Last four digits 1001..1200: none of the simulator's failure numbers.
      phone_number: `+1555300${String(1000 + driverId).padStart(4, "0")}`,
      driver_name: `Bench Driver ${driverId}`,
      violations: [
        {
          code: "HOS_11H",
          description: `Exceeded the 11-hour driving limit (${index})`,
          occurred_at: "2026-11-20T14:05:00-06:00",
        },
      ],
    };
  });
  await finishLiveCalls(stack.databaseUrl);
  stack.simulator.reset();
  stack.simulator.setLatency(ELEVENLABS_LATENCY_MS);
  const before = stack.endpoint.statements("*").length;
  const started = performance.now();
  const response = await fetch(`${worker.url}/calls/batch`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${API_TOKEN}` },
    body: JSON.stringify({ drivers }),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await response.text();
  const wallMs = performance.now() - started;
  const statements = stack.endpoint.statements("*").length - before;
  if (response.status !== 200) {
    throw new Error(`POST /calls/batch answered ${response.status}: ${text.slice(0, 500)}`);
  }
  const body = JSON.parse(text) as { summary: { started: number } };
  const figures = {
    concurrency,
    wallMs,
    started: body.summary.started,
    statementsPerDriver: statements / BATCH_DRIVERS,
    maxInFlight: stack.simulator.maxInFlight(),
  };
  console.log(
    `  CALL_CONCURRENCY ${concurrency}: ${BATCH_DRIVERS} drivers in ${ms(wallMs)}, ${figures.started} started, ` +
      `${statements} statements (${figures.statementsPerDriver.toFixed(2)}/driver), ` +
      `max ${figures.maxInFlight} outbound calls in flight`,
  );
  return figures;
}

// ---------------------------------------------------------------------------------------
// Backfill: scripts/bench-backfill.ts, run as it is (its own throwaway Postgres).

interface BackfillFigures {
  statementMs: number;
  migrateMs: number;
}

async function measureBackfill(): Promise<BackfillFigures> {
  const child = spawn(process.execPath, [join(ROOT, "scripts/bench-backfill.ts")], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: on Ctrl-C the bench interrupts it AND its Postgres together.
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  onStop("bench-backfill", async () => {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(-child.pid, "SIGINT");
    await exited;
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`scripts/bench-backfill.ts failed (exit ${code}):\n${output}`);
  const rows = [...output.matchAll(/'([^']+)'\s*│\s*(\d+)/g)].map(
    ([, label, value]) => [String(label).trim(), Number(value)] as const,
  );
  const statement = rows.find(([label]) => label.includes("backfill UPDATE"));
  const migrate = rows.find(([label]) => label.includes("one run"));
  if (!statement || !migrate) throw new Error(`unexpected bench-backfill output:\n${output}`);
  for (const line of output.split("\n")) {
    if (line.trim() !== "" && !line.startsWith(">")) console.log(`  ${line}`);
  }
  return { statementMs: statement[1], migrateMs: migrate[1] };
}

// ---------------------------------------------------------------------------------------
// Report.

const CPU_BOUND_NOTE =
  "Note (CPU-bound, info only): with 16 senders on this machine's cores, Postgres, the local " +
  "Neon endpoint, wrangler dev and the load generator compete for the CPU, so those figures " +
  "measure CPU contention on this machine, not the service's round trips.";

interface Row {
  measure: string;
  value: string;
  target: string;
  met: string;
}

function verdict(met: boolean): string {
  return met ? "met" : "**not met**";
}

function markdownTable(rows: Row[]): string {
  const header = "| measure | value | target | met |\n| --- | --- | --- | --- |";
  return [
    header,
    ...rows.map((row) => `| ${row.measure} | ${row.value} | ${row.target} | ${row.met} |`),
  ].join("\n");
}

function fmt(value: number): string {
  return Number.isNaN(value) ? "n/a" : value.toFixed(1);
}

function ms(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(0)} ms`;
}

function percent(share: number): string {
  return Number.isNaN(share) ? "n/a" : `${(share * 100).toFixed(0)}%`;
}

function sleep(milliseconds: number) {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

function loadSummary(run: LoadResult): string {
  return `${run.reqPerSec.toFixed(0)} req/s; p50/p95/p99 ${fmt(run.p50)}/${fmt(run.p95)}/${fmt(run.p99)} ms`;
}

// ---------------------------------------------------------------------------------------

async function main() {
  const benchStarted = performance.now();
  log(
    `${cpus().length} CPU cores, Node ${process.version}, ${DURATION_S} s per load run (BENCH_DURATION_S), ` +
      `load average ${loadavg()
        .map((value) => value.toFixed(2))
        .join(" ")}`,
  );
  const stack = await startStack();
  await seedCalls(stack.databaseUrl, SEEDED_CALLS);
  log(`seeded ${SEEDED_CALLS} started calls`);
  const worker = await startWorker(stack, 5);

  // Warm both routes up (first requests compile code paths and open pooled connections),
  // and make sure they answer 200 before anything is measured.
  for (const path of [OUR_PATH, BASELINE_PATH]) {
    const warm = await runLoad({
      url: worker.url,
      connections: 8,
      durationS: 2,
      request: utterances(path, 8),
    });
    if (warm.statusCodes["200"] !== warm.completed) {
      throw new Error(`${path} answers ${JSON.stringify(warm.statusCodes)} during warm-up`);
    }
  }
  await settle(stack.endpoint);

  console.log("\n1. Transcription webhook (each request a new utterance; 0 ms database distance)");
  const webhook = (
    senders: number,
    path = OUR_PATH,
    label = "POST /webhooks/elevenlabs/transcription",
  ) => ({
    label,
    connections: senders,
    request: utterances(path, senders),
  });
  // Beside the wrangler dev floor: the same single sender on a route without any work.
  const [ours1, floor] = (await measure(stack, worker, [
    webhook(1),
    { label: "GET /nope (unknown route: 404, no database)", connections: 1, request: get("/nope") },
  ])) as [Measured, Measured];
  const [ours64] = (await measure(stack, worker, [webhook(64)])) as [Measured];

  console.log(
    `\n2. The no-database ceiling of wrangler dev (16 senders, ${ROUNDS} interleaved slices each)`,
  );
  const [ours16, ceiling, withoutDb, health] = (await measure(stack, worker, [
    webhook(16),
    {
      label: "GET /nope (unknown route: 404, no database)",
      connections: 16,
      request: get("/nope"),
    },
    webhook(16, WITHOUT_DB_PATH, "webhook without its statement (diagnostic)"),
    { label: "GET /health (SELECT 1 cached 5 s)", connections: 16, request: get("/health") },
  ])) as [Measured, Measured, Measured, Measured];
  const ours: Record<number, Measured> = { 1: ours1, 16: ours16, 64: ours64 };

  console.log(
    `\n3. Simulated database distance: ours vs the task breakdown's baseline, 0 and ${FAR_DELAY_MS} ms per statement (interleaved)`,
  );
  const statements = {
    ours: await statementsPerRequest(stack, worker, OUR_PATH),
    baseline: await statementsPerRequest(stack, worker, BASELINE_PATH),
  };
  console.log(
    `  statements/request (20 sequential saves on one call, each checked): ours ${statements.ours.toFixed(2)}, baseline ${statements.baseline.toFixed(2)}`,
  );
  // All four (route × distance) of one sender count interleaved, the delay switched per slice.
  const distance: Record<string, Measured> = {};
  for (const senders of [1, 16]) {
    const keys: string[] = [];
    const specs: LoadSpec[] = [];
    for (const delay of [0, FAR_DELAY_MS]) {
      for (const [route, path] of [
        ["ours", OUR_PATH],
        ["baseline", BASELINE_PATH],
      ] as const) {
        keys.push(`${route} ${delay} ${senders}`);
        specs.push({ ...webhook(senders, path, `${route}, ${delay} ms per statement`), delay });
      }
    }
    const runs = await measure(stack, worker, specs);
    keys.forEach((key, index) => {
      distance[key] = runs[index] as Measured;
    });
  }

  console.log(
    `\n4. CPU per request in workerd (${CPU_REQUESTS} requests per route, ${CPU_SENDERS} senders, ${ROUNDS} interleaved chunks)`,
  );
  const [cpuOurs, cpuFloor, cpuWithoutDb, cpuBaseline] = (await measureWorkerCpu(stack, worker, [
    {
      label: "POST /webhooks/elevenlabs/transcription",
      request: utterances(OUR_PATH, CPU_SENDERS),
    },
    { label: "GET /nope (unknown route: 404, no database)", request: get("/nope") },
    {
      label: "webhook without its statement (diagnostic)",
      request: utterances(WITHOUT_DB_PATH, CPU_SENDERS),
    },
    { label: "baseline (4 statements)", request: utterances(BASELINE_PATH, CPU_SENDERS) },
  ])) as [WorkerCpu, WorkerCpu, WorkerCpu, WorkerCpu];
  const cpuRatio = cpuOurs.msPerRequest / cpuFloor.msPerRequest;

  console.log(
    `\n5. Batch of ${BATCH_DRIVERS} drivers, ElevenLabs answering in ${ELEVENLABS_LATENCY_MS} ms`,
  );
  const batch5 = await measureBatch(stack, worker, 5);
  await worker.stop();
  const serial = await startWorker(stack, 1);
  const batch1 = await measureBatch(stack, serial, 1);
  await serial.stop();
  stack.simulator.setLatency(0);

  console.log("\n6. call_sid migrations on 100,000 legacy rows (scripts/bench-backfill.ts)");
  const backfill = await measureBackfill();

  // -------------------------------------------------------------------------------------
  const runs = allRuns;
  const webhookRuns = runs.filter((run) => !run.label.startsWith("GET"));
  const failures =
    webhookRuns.reduce((sum, run) => sum + run.non2xx + run.errors, 0) +
    cpuOurs.non2xx +
    cpuWithoutDb.non2xx +
    cpuBaseline.non2xx;
  const share = ours16.reqPerSec / ceiling.reqPerSec;
  const d = (key: string) => distance[key] as Measured;
  const ratio = (delay: number, senders: number) =>
    d(`baseline ${delay} ${senders}`).p50 / d(`ours ${delay} ${senders}`).p50;
  const added = (route: "ours" | "baseline") =>
    d(`${route} ${FAR_DELAY_MS} 1`).p50 - d(`${route} 0 1`).p50;
  const roundTripTarget = 1.5 * FAR_DELAY_MS + 10;
  /** Our save is one statement: 20 ms per statement may add one round trip, with 50% slack. */
  const addedTarget = 1.5 * FAR_DELAY_MS;
  const speedUp = batch1.wallMs / batch5.wallMs;
  const maxStatementsPerDriver = Math.max(batch1.statementsPerDriver, batch5.statementsPerDriver);

  const rows: Row[] = [
    ...SENDERS.map((senders) => ({
      measure: `Webhook, ${senders} sender${senders > 1 ? "s" : ""}`,
      value: loadSummary(ours[senders] as Measured),
      target: "—",
      met: "info",
    })),
    {
      measure: "Webhook errors + non-2xx (all webhook runs, ours and baseline)",
      value: String(failures),
      target: "0",
      met: verdict(failures === 0),
    },
    {
      measure: "wrangler dev floor: GET unknown route (404), 1 sender",
      value: loadSummary(floor),
      target: "—",
      met: "info",
    },
    {
      measure: "No-database ceiling: GET unknown route (404), 16 senders",
      value: loadSummary(ceiling),
      target: "—",
      met: "info",
    },
    {
      measure:
        "Diagnostic: the webhook without its statement (same auth, validation, 2 log lines), 16 senders",
      value: `${loadSummary(withoutDb)} (webhook = ${percent(ours16.reqPerSec / withoutDb.reqPerSec)} of it)`,
      target: "—",
      met: "info",
    },
    {
      measure: "GET /health (its SELECT 1 cached 5 s per isolate), 16 senders",
      value: loadSummary(health),
      target: "—",
      met: "info",
    },
    {
      measure: "Webhook share of the no-database ceiling, 16 senders (CPU-bound: see note)",
      value: percent(share),
      target: "—",
      met: "info",
    },
    {
      measure: "Statements per request: ours / baseline",
      value: `${statements.ours.toFixed(2)} / ${statements.baseline.toFixed(2)}`,
      target: "ours 1 (baseline 4)",
      met: verdict(statements.ours <= 1.005),
    },
    ...[0, FAR_DELAY_MS].flatMap((delay) =>
      [1, 16].map((senders) => {
        const targeted = delay === FAR_DELAY_MS && senders === 1;
        return {
          measure: `p50 at ${delay} ms per statement, ${senders} sender${senders > 1 ? "s" : ""}: ours / baseline${senders > 1 ? " (CPU-bound: see note)" : ""}`,
          value: `${fmt(d(`ours ${delay} ${senders}`).p50)} / ${fmt(d(`baseline ${delay} ${senders}`).p50)} ms (${ratio(delay, senders).toFixed(2)}x)`,
          target: targeted ? "baseline ≥ 3x ours" : "—",
          met: targeted ? verdict(ratio(delay, senders) >= 3) : "info",
        };
      }),
    ),
    {
      measure: `Latency added by ${FAR_DELAY_MS} ms per statement (p50 at ${FAR_DELAY_MS} ms − p50 at 0 ms, 1 sender): ours (1 round trip) / baseline (4)`,
      value: `+${fmt(added("ours"))} / +${fmt(added("baseline"))} ms (${(added("baseline") / added("ours")).toFixed(2)}x; per round trip ${fmt(added("ours"))} / ${fmt(added("baseline") / 4)} ms)`,
      target: `ours ≤ ${addedTarget} ms (1 round trip × 1.5)`,
      met: verdict(added("ours") <= addedTarget),
    },
    {
      measure: `Round trip at ${FAR_DELAY_MS} ms: our p50, 1 sender`,
      value: `${fmt(d(`ours ${FAR_DELAY_MS} 1`).p50)} ms`,
      target: `< ${roundTripTarget} ms (1.5 × ${FAR_DELAY_MS} + 10)`,
      met: verdict(d(`ours ${FAR_DELAY_MS} 1`).p50 < roundTripTarget),
    },
    {
      measure: `Worker CPU per request (its workerd process; ${CPU_SENDERS} senders, ${cpuOurs.requests} / ${cpuFloor.requests} requests): webhook / unknown-route 404 (no database)`,
      value: `${cpuOurs.msPerRequest.toFixed(2)} / ${cpuFloor.msPerRequest.toFixed(2)} ms (${cpuRatio.toFixed(2)}x)`,
      target: `≤ ${CPU_RATIO_TARGET.toFixed(2)}x the 404 (the 60% share, on the Worker's own CPU)`,
      met: verdict(cpuRatio <= CPU_RATIO_TARGET),
    },
    {
      measure:
        "Worker CPU per request: webhook without its statement (diagnostic) / baseline (4 statements)",
      value: `${cpuWithoutDb.msPerRequest.toFixed(2)} / ${cpuBaseline.msPerRequest.toFixed(2)} ms`,
      target: "—",
      met: "info",
    },
    {
      measure: "wrangler dev's proxy workerd, CPU per request (not in production): webhook / 404",
      value: `${cpuOurs.proxyMsPerRequest.toFixed(2)} / ${cpuFloor.proxyMsPerRequest.toFixed(2)} ms`,
      target: "—",
      met: "info",
    },
    {
      measure: `Batch of ${BATCH_DRIVERS}, CALL_CONCURRENCY 1 / 5 (ElevenLabs ${ELEVENLABS_LATENCY_MS} ms)`,
      value: `${ms(batch1.wallMs)} / ${ms(batch5.wallMs)}`,
      target: "—",
      met: batch1.started + batch5.started === 2 * BATCH_DRIVERS ? "info" : "**calls failed**",
    },
    {
      measure: "Batch speed-up, CALL_CONCURRENCY 5 vs 1",
      value: `${speedUp.toFixed(2)}x`,
      target: "≥ 4.5x",
      met: verdict(speedUp >= 4.5),
    },
    {
      measure: "Database round trips per driver (batch)",
      value: `${batch1.statementsPerDriver.toFixed(2)} / ${batch5.statementsPerDriver.toFixed(2)}`,
      target: "< 2",
      met: verdict(maxStatementsPerDriver < 2),
    },
    {
      measure: "100,000 legacy rows: backfill UPDATE (0002) alone",
      value: ms(backfill.statementMs),
      target: "—",
      met: "info",
    },
    {
      measure: "100,000 legacy rows: every migration after 0000 in one run (db:migrate)",
      value: ms(backfill.migrateMs),
      target: "—",
      met: "info",
    },
  ];

  const othersCpu = [...runs.map((run) => run.othersCpu), ...cpuSectionOthers].filter(
    (share) => !Number.isNaN(share),
  );
  const othersMean = othersCpu.reduce((sum, share) => sum + share, 0) / othersCpu.length;
  rows.push({
    measure: "CPU used by other processes during the load runs (mean / max)",
    value: `${percent(othersMean)} / ${percent(Math.max(...othersCpu))} (waited ${ms(quietWaitedMs)} for quiet)`,
    target: "≈ 0% for clean figures",
    met: othersMean < 0.1 ? "clean" : "**noisy run**",
  });

  console.log(
    `\n## Summary (${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, ` +
      `${DURATION_S} s per load run, bench took ${ms(performance.now() - benchStarted)})\n`,
  );
  console.log(markdownTable(rows));
  console.log(`\n${CPU_BOUND_NOTE}\n`);
}

main()
  .then(
    () => stopAll(),
    async (error: unknown) => {
      console.error(`[bench] failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
      await stopAll();
    },
  )
  .then(() => process.exit());
