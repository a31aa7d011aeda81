// `npm run bench:retention`: the retention purge at size. How long does the purge of
// 100,000 old calls take, in how many batches, and how long does a row lock of the purge
// last (what a webhook or a claim that wants the same row waits at worst)?
//
// It starts a throwaway embedded Postgres (.data/bench-retention-<pid>, a free port), applies
// the migrations, and runs the service's OWN purge (runRetention, bundled from src/ as in
// bench:scale) through the real Neon driver and the local Neon HTTP endpoint, committing as
// production does. For each batch size it seeds afresh (set-based SQL): RETENTION_BENCH_CALLS
// calls that ended 120 days ago (default 100,000), each with its final transcript, analysis
// and RETENTION_BENCH_TURNS live turns (default 4); as many calls that ended 10 days ago
// (kept); RETENTION_BENCH_AUDIT audit events older than 730 days (default 20,000). Then:
//   - duration of the whole run, calls purged a second, batches and statements sent (the
//     endpoint's statement log);
//   - each batch's round trip, p50, p95 and longest: a batch is one transaction, so no row
//     lock it takes lasts longer than its round trip;
//   - a probe: another connection that, all through the run, updates the call at the head
//     of the purge's queue (the row the running batch holds, or is about to), as a webhook
//     would; its longest wait is the longest lock a writer met.
// Batch sizes: RETENTION_BENCH_BATCHES (default "500,1000,2000"); the service's default is
// RETENTION_LIMITS.callsPerBatch. It exits 0 whatever the figures: a bench, not a test.
import { mkdirSync, rmSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import pg from "pg";
import { cpuSnapshot, otherProcessesShare } from "./bench/machine.ts";
import { freePort, startPostgres } from "./lib/embedded-postgres.ts";
import { applyMigrations } from "./lib/migrations.ts";
import { startNeonHttpEndpoint } from "./lib/neon-http-endpoint.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DAY_MS = 86_400_000;
const NOW = new Date("2026-12-04T03:17:00Z");

const log = (line: string) => console.log(`[bench:retention] ${line}`);

function sizeFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number`);
  return value;
}

const OLD_CALLS = sizeFromEnv("RETENTION_BENCH_CALLS", 100_000);
const TURNS = sizeFromEnv("RETENTION_BENCH_TURNS", 4);
const AUDIT_EVENTS = sizeFromEnv("RETENTION_BENCH_AUDIT", 20_000);
const BATCH_SIZES = (process.env.RETENTION_BENCH_BATCHES ?? "500,1000,2000")
  .split(",")
  .map((size) => Number(size.trim()))
  .filter((size) => Number.isInteger(size) && size > 0);

interface Service {
  createDatabase(databaseUrl: string, localEndpoint?: string): unknown;
  neonConfig: { fetchFunction: unknown };
  runRetention(options: {
    db: unknown;
    now: Date;
    retentionDays: number;
    auditRetentionDays: number;
    log: unknown;
    callsPerBatch?: number;
    budgetMs?: number;
  }): Promise<{
    calls: number;
    transcriptTurns: number;
    auditEvents: number;
    batches: number;
    longestBatchMs: number;
    unfinished: boolean;
  }>;
  RETENTION_LIMITS: { callsPerBatch: number };
  createLogger(fields: Record<string, unknown>, sink?: (line: string) => void): unknown;
}

/** The service's purge, bundled from src/ once (an edit during the run changes nothing). */
async function loadService(workDir: string): Promise<Service> {
  const outfile = join(workDir, "service.mjs");
  await build({
    stdin: {
      contents: [
        'export { createDatabase } from "./src/db/client.ts";',
        'export { neonConfig } from "@neondatabase/serverless";',
        'export { runRetention, RETENTION_LIMITS } from "./src/retention/purge.ts";',
        'export { createLogger } from "./src/http/log.ts";',
      ].join("\n"),
      resolveDir: ROOT,
      loader: "ts",
    },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    outfile,
    logLevel: "error",
  });
  return (await import(pathToFileURL(outfile).href)) as Service;
}

/**
 * Into a freshly migrated database: old calls (ended 120 days ago, in id order), as many
 * recent ones, their live turns, old audit events.
 */
async function seed(client: pg.Client) {
  const old = new Date(NOW.getTime() - 120 * DAY_MS).toISOString();
  const recent = new Date(NOW.getTime() - 10 * DAY_MS).toISOString();
  for (const [offset, count, ended] of [
    [0, OLD_CALLS, old],
    [OLD_CALLS, OLD_CALLS, recent],
  ] as const) {
    await client.query(
      `INSERT INTO calls (call_sid, driver_id, conversation_id, status, phone_number, call_start_time,
         call_end_time, created_at, updated_at, final_transcript, call_successful,
         transcript_summary, data_collection, evaluation, termination_reason)
       SELECT 'EL_' || (100000 + g % 50000) || '_' || (1790000000 + g), 100000 + g % 50000,
              'conv_bench_' || g, 'COMPLETED', '+1555' || lpad((g % 10000000)::text, 7, '0'),
              $2::timestamptz - interval '3 minutes', $2::timestamptz + g * interval '10 ms',
              $2::timestamptz - interval '3 minutes', $2::timestamptz + g * interval '10 ms',
              jsonb_build_array(
                jsonb_build_object('role', 'agent', 'message', 'Hi, this is the safety team about your hours.', 'time_in_call_secs', 0),
                jsonb_build_object('role', 'user', 'message', 'Yes, I know, I will take my rest now.', 'time_in_call_secs', 6)),
              'success', 'The driver acknowledged the violation and will rest 10 hours.',
              '{"acknowledged_violation": true, "opt_out": false}'::jsonb,
              '{"polite": "success"}'::jsonb, 'Call ended by remote party'
       FROM generate_series($1::int + 1, $1::int + $3::int) AS g`,
      [offset, ended, count],
    );
  }
  await client.query(
    `INSERT INTO call_transcriptions (conversation_id, speaker, message, "timestamp", sequence_number)
     SELECT 'conv_bench_' || g, CASE WHEN n % 2 = 1 THEN 'agent' ELSE 'user' END,
            'A live turn of the conversation, about as long as one is.', now(), n
     FROM generate_series(1, $1::int) AS g, generate_series(1, $2::int) AS n`,
    [2 * OLD_CALLS, TURNS],
  );
  await client.query(
    `INSERT INTO audit_events (at, actor_kind, actor_name, action, detail)
     SELECT $1::timestamptz + g * interval '1 second', 'api_token', 'API token', 'campaign.created', '{}'
     FROM generate_series(1, $2::int) AS g`,
    [new Date(NOW.getTime() - 800 * DAY_MS).toISOString(), AUDIT_EVENTS],
  );
  await client.query("VACUUM ANALYZE calls");
  await client.query("VACUUM ANALYZE call_transcriptions");
  await client.query("VACUUM ANALYZE audit_events");
}

/**
 * Updates the call at the head of the purge's queue, again and again, until stopped, as a
 * webhook would write a call: the wait of each update is how long a purge lock held it.
 */
function startProbe(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  // Postgres stopping under a failed run must not crash the bench with an unhandled event.
  client.on("error", () => {});
  const waits: number[] = [];
  let stopped = false;
  const done = (async () => {
    await client.connect();
    while (!stopped) {
      const head = await client.query<{ id: number }>(
        `SELECT id FROM calls WHERE data_purged_at IS NULL AND status <> 'IN_PROGRESS'
         ORDER BY coalesce(call_end_time, updated_at) LIMIT 1`,
      );
      const id = head.rows[0]?.id;
      if (id === undefined) break;
      const startedAt = performance.now();
      await client.query("UPDATE calls SET reconcile_checks = reconcile_checks WHERE id = $1", [
        id,
      ]);
      waits.push(performance.now() - startedAt);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await client.end();
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return waits;
    },
  };
}

/**
 * Times each request of the driver (one request = one batch = one transaction), the call
 * batches apart from the audit trail's.
 */
function timedFetch(roundTrips: { calls: number[]; audit: number[] }) {
  return async (input: RequestInfo | URL, init?: RequestInit) => {
    const startedAt = performance.now();
    const response = await fetch(input, init);
    const body = await response.arrayBuffer();
    const audit = String(init?.body ?? "").includes("DELETE FROM audit_events");
    (audit ? roundTrips.audit : roundTrips.calls).push(performance.now() - startedAt);
    return new Response(body, { status: response.status, headers: response.headers });
  };
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

async function main() {
  const workDir = resolve(ROOT, `.data/bench-retention-${process.pid}`);
  const stops: (() => Promise<void>)[] = [
    async () => rmSync(workDir, { recursive: true, force: true }),
  ];
  const stop = async () => {
    for (const step of stops.splice(0)) await step().catch(() => {});
  };
  process.once("SIGINT", () => void stop().finally(() => process.exit(130)));
  process.once("exit", () => rmSync(workDir, { recursive: true, force: true }));
  try {
    mkdirSync(workDir, { recursive: true });
    log(
      `${OLD_CALLS} old calls (${TURNS} live turns each) + ${OLD_CALLS} recent, ${AUDIT_EVENTS} old audit events; batch sizes ${BATCH_SIZES.join(", ")}; ${cpus().length} cores`,
    );
    const postgres = await startPostgres({
      dataDir: join(workDir, "postgres"),
      port: await freePort(),
      persistent: false,
      quiet: true,
    });
    stops.unshift(() => postgres.stop());
    const endpoint = await startNeonHttpEndpoint({});
    stops.unshift(() => endpoint.stop());
    const service = await loadService(workDir);
    const silent = service.createLogger({ bench: "retention" }, () => {});

    const rows: string[][] = [];
    for (const batchSize of BATCH_SIZES) {
      // A database of its own for each batch size: the same start every time (the audit
      // trail cannot be emptied, by design).
      await postgres.createDatabase(`bench_retention_${batchSize}`);
      const databaseUrl = postgres.urlFor(`bench_retention_${batchSize}`);
      await applyMigrations(databaseUrl);
      const seedClient = new pg.Client({ connectionString: databaseUrl });
      seedClient.on("error", () => {});
      await seedClient.connect();
      const seededAt = performance.now();
      try {
        await seed(seedClient);
      } finally {
        await seedClient.end();
      }
      log(`batch ${batchSize}: seeded in ${((performance.now() - seededAt) / 1000).toFixed(1)} s`);

      const scope = `bench${batchSize}${Date.now()}`;
      const scoped = new URL(databaseUrl);
      scoped.searchParams.set("scope", scope);
      const roundTrips = { calls: [] as number[], audit: [] as number[] };
      service.neonConfig.fetchFunction = timedFetch(roundTrips);
      const db = service.createDatabase(scoped.toString(), endpoint.url);
      const probe = startProbe(databaseUrl);
      const cpuBefore = cpuSnapshot();
      const startedAt = performance.now();
      const report = await service.runRetention({
        db,
        now: NOW,
        retentionDays: 90,
        auditRetentionDays: 730,
        log: silent,
        callsPerBatch: batchSize,
        budgetMs: 15 * 60_000,
      });
      const seconds = (performance.now() - startedAt) / 1000;
      const others = otherProcessesShare(cpuBefore, cpuSnapshot());
      const waits = await probe.stop();
      const statements = endpoint.statements(scope).length;
      if (
        report.calls !== OLD_CALLS ||
        report.unfinished ||
        report.batches !== roundTrips.calls.length + roundTrips.audit.length
      ) {
        throw new Error(
          `purged ${report.calls} of ${OLD_CALLS} (unfinished: ${report.unfinished})`,
        );
      }
      rows.push([
        String(batchSize),
        seconds.toFixed(1),
        Math.round(report.calls / seconds).toLocaleString("en"),
        `${roundTrips.calls.length} + ${roundTrips.audit.length}`,
        String(statements),
        percentile(roundTrips.calls, 50).toFixed(0),
        percentile(roundTrips.calls, 95).toFixed(0),
        Math.max(...roundTrips.calls).toFixed(0),
        Math.max(...roundTrips.audit).toFixed(0),
        Math.max(0, ...waits).toFixed(0),
        String(waits.length),
        `${Math.round(others * 100)}%`,
      ]);
      log(
        `batch ${batchSize}: ${report.calls} calls, ${report.transcriptTurns} turns, ${report.auditEvents} audit events in ${seconds.toFixed(1)} s`,
      );
    }

    const header = [
      "calls/batch",
      "total s",
      "calls/s",
      "batches (calls + audit)",
      "statements",
      "call batch p50 ms",
      "p95 ms",
      "longest call batch ms",
      "longest audit batch ms",
      "longest probe wait ms",
      "probes",
      "other CPU",
    ];
    const widths = header.map((title, index) =>
      Math.max(title.length, ...rows.map((row) => (row[index] ?? "").length)),
    );
    const line = (cells: string[]) =>
      `| ${cells.map((cell, index) => cell.padStart(widths[index] ?? 0)).join(" | ")} |`;
    console.log(
      `\nbench:retention: ${OLD_CALLS} calls ended 120 days ago (${TURNS} live turns each), ${OLD_CALLS} kept, ${AUDIT_EVENTS} old audit events; service default ${service.RETENTION_LIMITS.callsPerBatch} calls/batch`,
    );
    console.log(line(header));
    console.log(`|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
    for (const row of rows) console.log(line(row));
    console.log(
      "\nbatches: the call batches (the last one finds less than a full batch) and the audit batches (5,000 events each); statements: 2 a batch (its timeouts, then the purge). A batch is one transaction: none of its row locks lasts longer than its round trip. The probe updates the call at the head of the purge's queue all through the run: its longest wait is the longest a writer waited for the purge.",
    );
  } finally {
    await stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
