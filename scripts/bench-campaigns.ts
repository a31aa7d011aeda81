// `npm run bench:campaigns` (also run by `npm run bench`): the campaign figures.
//   1. Dispatch: 1,000 drivers, MAX_LIVE_CALLS 50, calls of 1 s, through the real Worker
//      (wrangler dev), its local queue, and the ElevenLabs simulator posting its webhooks
//      back: wall time against the ideal (drivers / cap x call length), slot utilization
//      (mean live calls / cap while work waits), max live, double dials, statements per call.
//   2. Creating a 10,000-driver campaign: p50 time and statements.
//   3. Exporting a 10,000-driver campaign as CSV: time and bytes per second.
// It starts its own stack on free ports and stops it; it prints a table and nothing else
// is kept.
import pg from "pg";
import { BENCH_API_TOKEN as API_TOKEN, type BenchStack, startBenchStack } from "./bench/stack.ts";
import type { RunningSimulator } from "./lib/elevenlabs-simulator.ts";

const DRIVERS = 1_000;
const CAP = 50;
/** BENCH_CALL_SECONDS overrides: the handover per freed slot is a fixed cost, so longer
 * calls show how utilization grows with call length. */
const CALL_SECONDS = Number(process.env.BENCH_CALL_SECONDS ?? 1);
const BIG_CAMPAIGN = 10_000;
const CREATE_RUNS = 5;

const log = (line: string) => console.log(`[bench:campaigns] ${line}`);

function driver(id: number) {
  return {
    driver_id: id,
    // Ends in 1: never one of the simulator's failure endings (0500, 0408, 0486, ...).
    phone_number: `+1555${String(id).padStart(6, "0")}1`,
    driver_name: `Driver ${id}`,
    violations: [
      {
        code: "HOS_11H",
        description: "Exceeded the 11-hour driving limit",
        occurred_at: "2026-11-20T14:05:00-06:00",
      },
    ],
  };
}

async function post(url: string, body: unknown) {
  const started = performance.now();
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { campaign: { id: string } };
  if (response.status !== 202)
    throw new Error(`POST /campaigns: ${response.status} ${JSON.stringify(json)}`);
  return { id: json.campaign.id, ms: performance.now() - started };
}

async function main() {
  const scope = "campaigns";
  const stack = await startBenchStack({
    name: "campaigns",
    scope,
    simulator: {
      maxLiveCalls: CAP,
      callSeconds: CALL_SECONDS,
      // Dispatch alone: the live transcription webhooks (3 a call) are measured by
      // `npm run bench`'s webhook figures; here they would only measure this machine's CPU.
      liveUtterances: false,
    },
    vars: { MAX_LIVE_CALLS: String(CAP), CALL_CONCURRENCY: "5" },
  });
  try {
    await measure(stack, scope);
  } finally {
    await stack.stop();
  }
}

async function measure(stack: BenchStack, scope: string) {
  const { endpoint, worker } = stack;
  const simulator = stack.simulator as RunningSimulator;
  log(`Worker on ${worker.url}, simulator plan ${CAP}, calls of ${CALL_SECONDS} s`);
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();

  // 1. Dispatch.
  endpoint.control({ scope, reset: true });
  const started = performance.now();
  const { id } = await post(`${worker.url}/campaigns`, {
    name: "bench",
    time_zone: "UTC",
    calling_window: { start: "00:00", end: "23:59" },
    drivers: Array.from({ length: DRIVERS }, (_, index) => driver(index + 1)),
  });
  const samples: number[] = [];
  let finishedMs = 0;
  while (true) {
    await new Promise((resolveTimer) => setTimeout(resolveTimer, 100));
    const { rows } = await db.query<{ status: string; queued: number }>(
      `SELECT c.status, (SELECT count(*)::int FROM campaign_targets t WHERE t.campaign_id = c.id AND t.status = 'QUEUED') AS queued
       FROM campaigns c WHERE c.id = $1`,
      [id],
    );
    const stats = simulator.stats();
    // Utilization counts only while work waits: at the tail, fewer drivers than lines remain.
    if ((rows[0]?.queued ?? 0) > 0) samples.push(stats.live);
    if (rows[0]?.status !== "RUNNING") {
      finishedMs = performance.now() - started;
      break;
    }
    if (performance.now() - started > 600_000)
      throw new Error("the campaign did not finish in 10 minutes");
  }
  const stats = simulator.stats();
  const dials = Object.values(stats.dials).reduce((sum, count) => sum + count, 0);
  const statements = endpoint.statements(scope).map((entry) => entry.query);
  const transcriptionStatements = statements.filter((query) =>
    /INSERT INTO call_transcriptions/i.test(query),
  ).length;
  const dispatchStatements = statements.length - transcriptionStatements;
  const ideal = (DRIVERS / CAP) * CALL_SECONDS * 1000;
  const utilization = samples.reduce((sum, live) => sum + live, 0) / samples.length / CAP;

  // 2. Creating a 10,000-driver campaign (start_at far ahead: nobody is dialed).
  const big = {
    time_zone: "America/Chicago",
    start_at: "2030-01-01T00:00:00Z",
    drivers: Array.from({ length: BIG_CAMPAIGN }, (_, index) => driver(100_000 + index)),
  };
  const createTimes: number[] = [];
  let createStatements = 0;
  let bigId = "";
  for (let run = 0; run < CREATE_RUNS; run++) {
    endpoint.control({ scope, reset: true });
    const created = await post(`${worker.url}/campaigns`, big);
    createTimes.push(created.ms);
    createStatements = endpoint.statements(scope).length;
    bigId = created.id;
  }
  createTimes.sort((a, b) => a - b);

  // 3. Exporting it.
  const exportStarted = performance.now();
  const csv = await fetch(`${worker.url}/campaigns/${bigId}/results.csv`, {
    headers: { authorization: `Bearer ${API_TOKEN}` },
  });
  const bytes = (await csv.arrayBuffer()).byteLength;
  const exportMs = performance.now() - exportStarted;

  const rows: [string, string, string, string][] = [
    [
      `1,000 drivers, cap 50, ${CALL_SECONDS} s calls: wall time / ideal`,
      `${(finishedMs / 1000).toFixed(1)} s / ${(ideal / 1000).toFixed(1)} s`,
      "—",
      "info",
    ],
    [
      "Slot utilization while work waits",
      `${(utilization * 100).toFixed(0)}%`,
      ">= 90%",
      utilization >= 0.9 ? "met" : "**not met**",
    ],
    [
      "Max live calls (simulator)",
      String(stats.max_live),
      `<= ${CAP}`,
      stats.max_live <= CAP ? "met" : "**not met**",
    ],
    [
      "Double dials",
      String(dials - Object.keys(stats.dials).length),
      "0",
      dials === Object.keys(stats.dials).length ? "met" : "**not met**",
    ],
    [
      "Refused by ElevenLabs for concurrency",
      String(stats.refused_for_concurrency),
      "0",
      stats.refused_for_concurrency === 0 ? "met" : "**not met**",
    ],
    [
      "Statements per call (claim, record, post-call; no live utterances)",
      (dispatchStatements / DRIVERS).toFixed(2),
      "<= 3",
      dispatchStatements / DRIVERS <= 3 ? "met" : "**not met**",
    ],
    [
      "Create a 10,000-driver campaign: p50 (of 5) / statements",
      `${(createTimes[Math.floor(CREATE_RUNS / 2)] ?? 0).toFixed(0)} ms / ${createStatements}`,
      "< 1 s",
      (createTimes[Math.floor(CREATE_RUNS / 2)] ?? 0) < 1000 ? "met" : "**not met**",
    ],
    [
      "Export a 10,000-driver campaign as CSV: time / size / rate",
      `${exportMs.toFixed(0)} ms / ${(bytes / 1024).toFixed(0)} KiB / ${(bytes / 1024 / 1024 / (exportMs / 1000)).toFixed(1)} MiB/s`,
      "< 2 s",
      exportMs < 2000 ? "met" : "**not met**",
    ],
  ];
  console.log("\n| measure | value | target | met |\n| --- | --- | --- | --- |");
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  await db.end();
  console.log(
    `\n(dials ${dials}, samples ${samples.length}, dispatch statements ${dispatchStatements}, transcription statements ${transcriptionStatements})`,
  );
}

main().catch((error: unknown) => {
  console.error(
    `[bench:campaigns] failed: ${error instanceof Error ? error.stack : String(error)}`,
  );
  process.exit(1);
});
