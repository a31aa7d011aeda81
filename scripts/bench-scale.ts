// `npm run bench:scale`: the claim, the minute cron and GET /calls?driver_id= at production
// size (issue "the claim and the crons at flat cost"). Targets: a claim of 50 in at most
// 30 ms of database time; the minute cron's statements in at most 10 ms together when
// nothing is due; GET /calls?driver_id= in at most 5 ms.
//
// It starts a throwaway embedded Postgres (.data/bench-scale-<pid>, a free port), applies
// the migrations, seeds it with set-based SQL (scripts/bench/scale-seed.ts: by default
// 1,000,000 campaign targets, 2,000,000 calls, 10,000 do-not-call numbers), and then runs
// the service's OWN functions (bundled from src/, scripts/bench/scale-service.ts) through
// the real Neon driver and drizzle. The driver's requests are answered by a transport that
// runs every statement twice in one transaction rolled back at the end: under
// EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON), then for real (scripts/bench/scale-transport.ts).
// So the text measured is exactly the text the Worker sends, no copy that can drift, and
// every run starts from the same state.
//
// "db ms" is the plans' Execution Time (summed over a call's statements), p50 over
// SCALE_RUNS runs (default 5) after one warm-up run; planning time is shown beside it.
// The plan shape lists each table scan: Seq Scan or Index (Only) Scan / Bitmap and the index,
// with its loops (probes) and the rows it returned or filtered out. It exits 0 whatever the
// figures: a bench, not a test.
//
// Sizes: SCALE=small (10k targets, 20k calls, 200 do-not-call) for a quick try; or
// SCALE_TARGETS, SCALE_CALLS, SCALE_DNC (and SCALE_CAMPAIGNS, SCALE_DRIVERS).
// SCALE_FIXES=1 also measures the fixes proposed in the findings (scripts/bench/scale-fixes.ts):
// the indexes are built on the seeded database and the rewritten statements run with the
// same parameters. SCALE_PLANS=1 prints every plan in full. SCALE_KEEP=1 leaves Postgres
// running after the figures (its URL is printed) until Ctrl-C, for work by hand.
// The figures and full plans of the last run are written to .data/bench-scale-results.json.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { type FixContext, measureFixes } from "./bench/scale-fixes.ts";
import {
  type Measure,
  type MeasureResult,
  measure,
  printPlans,
  printTable,
  RUNS,
  resultsJson,
  sizeLabel,
} from "./bench/scale-measure.ts";
import { type SeedResult, seed, sizesFromEnv } from "./bench/scale-seed.ts";
import { loadServiceFunctions, type ServiceFunctions } from "./bench/scale-service.ts";
import { RollbackTransport } from "./bench/scale-transport.ts";
import { freePort, startPostgres } from "./lib/embedded-postgres.ts";
import { applyMigrations } from "./lib/migrations.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The claim's live-call cap: room for the seeded live calls plus a claim of 50. */
const MAX_LIVE_CALLS = 100;
const CLAIM_SIZE = 50;
/** What the cron's dispatch run claims first: one target per idle lane (CALL_CONCURRENCY 5). */
const CRON_CLAIM_SIZE = 5;
const PAGE_SIZE = 50;

const log = (line: string) => console.log(`[bench:scale] ${line}`);

/** The measured calls: each runs the service's own functions. */
export function measures(service: ServiceFunctions, db: unknown, seeded: SeedResult): Measure[] {
  const silent = service.createLogger({ bench: "scale" }, () => {});
  const drivers = seeded.sampleDrivers;
  return [
    {
      id: "claim",
      name: `claim of ${CLAIM_SIZE}`,
      target: 30,
      async run(step) {
        await step("claimCampaignTargets", async () => {
          const claim = await service.claimCampaignTargets(db, {
            want: CLAIM_SIZE,
            maxLiveCalls: MAX_LIVE_CALLS,
            now: seeded.t0,
          });
          if (claim.calls.length !== CLAIM_SIZE) {
            throw new Error(`the claim took ${claim.calls.length} targets, not ${CLAIM_SIZE}`);
          }
        });
      },
    },
    {
      id: "cron-idle",
      name: "minute cron, nothing due (sum of its statements)",
      target: 10,
      async run(step) {
        const now = seeded.idleNow;
        await step("deleteExpiredIdempotencyKeys", () => service.deleteExpiredIdempotencyKeys(db));
        await step("sweepInbox", () =>
          service.sweepInbox({ db, queue: undefined, log: silent, now }),
        );
        await step("placeWaitingTargets", async () => {
          const placed = await service.placeWaitingTargets(db, { now });
          if (placed.length !== 0) throw new Error(`placed ${placed.length} at the idle instant`);
        });
        await step("completeFinishedCampaigns", () => service.completeFinishedCampaigns(db));
        await step(`claimCampaignTargets (want ${CRON_CLAIM_SIZE})`, async () => {
          const claim = await service.claimCampaignTargets(db, {
            want: CRON_CLAIM_SIZE,
            maxLiveCalls: MAX_LIVE_CALLS,
            now,
          });
          if (claim.calls.length !== 0) throw new Error("claimed at the idle instant");
        });
      },
    },
    {
      id: "placement",
      name: "minute cron's placement, openings to compute",
      target: null,
      async run(step) {
        await step("placeWaitingTargets", () =>
          service.placeWaitingTargets(db, { now: seeded.t0 }),
        );
      },
    },
    {
      id: "placement-closed",
      name: "minute cron's placement, the due targets' window just closed",
      target: null,
      async run(step) {
        // The seeded due targets' opening ends at t0 + 2 h: a minute later they all need placing.
        const now = new Date(seeded.t0.getTime() + 2 * 3_600_000 + 60_000);
        await step("placeWaitingTargets", () => service.placeWaitingTargets(db, { now }));
      },
    },
    {
      id: "calls-driver",
      name: `GET /calls?driver_id= (limit ${PAGE_SIZE})`,
      target: 5,
      async run(step, run) {
        const driverId = drivers[run % drivers.length] as number;
        await step("listCalls", () => service.listCalls(db, { driverId, limit: PAGE_SIZE }));
      },
    },
    {
      id: "calls-all",
      name: `GET /calls (limit ${PAGE_SIZE}, no filter)`,
      target: null,
      async run(step) {
        await step("listCalls", () => service.listCalls(db, { limit: PAGE_SIZE }));
      },
    },
  ];
}

async function main() {
  const sizes = sizesFromEnv();
  const workDir = resolve(ROOT, `.data/bench-scale-${process.pid}`);
  const stops: (() => Promise<void>)[] = [
    async () => rmSync(workDir, { recursive: true, force: true }),
  ];
  const stop = async () => {
    for (const step of stops.splice(0)) await step().catch(() => {});
  };
  const onSignal = () => {
    stop().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  // embedded-postgres stops its server on a signal and exits by itself (async-exit-hook),
  // possibly before stop() above is done: the work directory still goes.
  process.once("exit", () => rmSync(workDir, { recursive: true, force: true }));
  try {
    mkdirSync(workDir, { recursive: true });
    log(
      `sizes: ${sizeLabel(sizes)}, ${sizes.campaigns} campaigns, ${sizes.drivers} drivers; ${cpus().length} cores`,
    );
    const postgres = await startPostgres({
      dataDir: join(workDir, "postgres"),
      port: await freePort(),
      persistent: false,
      quiet: true,
    });
    stops.unshift(() => postgres.stop());
    await postgres.createDatabase("bench_scale");
    const databaseUrl = postgres.urlFor("bench_scale");
    await applyMigrations(databaseUrl);
    // Now, with the migrations: the statements and the schema are the checkout's of one moment.
    const service = await loadServiceFunctions(workDir);

    const seedClient = new pg.Client({ connectionString: databaseUrl });
    await seedClient.connect();
    let seeded: SeedResult;
    try {
      seeded = await seed(seedClient, sizes, (line) => log(`seed ${line}`));
      const settings = await seedClient.query<{ datcollate: string; server_version: string }>(
        "SELECT datcollate, current_setting('server_version') AS server_version FROM pg_database WHERE datname = current_database()",
      );
      const tableSizes = await seedClient.query<{ name: string; size: string }>(
        `SELECT c.relname AS name, pg_size_pretty(pg_total_relation_size(c.oid)) AS size
         FROM pg_class c WHERE c.relname IN ('calls', 'campaign_targets', 'do_not_call') ORDER BY 1`,
      );
      log(
        `seeded in ${seeded.seconds.toFixed(0)} s: ${Object.entries(seeded.counts)
          .map(([name, n]) => `${name} ${n}`)
          .join(", ")}`,
      );
      log(
        `Postgres ${settings.rows[0]?.server_version}, collation ${settings.rows[0]?.datcollate}; ` +
          tableSizes.rows.map((row) => `${row.name} ${row.size}`).join(", "),
      );
    } finally {
      await seedClient.end();
    }

    const transport = new RollbackTransport(databaseUrl);
    await transport.open();
    stops.unshift(() => transport.close());
    service.neonConfig.fetchFunction = transport.fetch;
    // The URL the driver would fetch (never reached: the transport answers).
    const db = service.createDatabase(databaseUrl, "http://127.0.0.1:9/sql");

    const results: MeasureResult[] = [];
    for (const item of measures(service, db, seeded)) {
      log(`measuring: ${item.name}`);
      results.push(await measure(transport, item));
    }
    printTable(
      `bench:scale (${RUNS} runs each, rolled back; db ms = EXPLAIN ANALYZE Execution Time)`,
      results,
      sizes,
    );
    printPlans(results, process.env.SCALE_PLANS === "1");

    let fixResults: MeasureResult[] = [];
    if (process.env.SCALE_FIXES === "1") {
      const context: FixContext = {
        transport,
        service,
        db,
        seeded,
        sizes,
        baseline: results,
        measures: measures(service, db, seeded),
        log,
      };
      fixResults = await measureFixes(context);
      printTable("bench:scale, proposed fixes (scripts/bench/scale-fixes.ts)", fixResults, sizes);
      printPlans(fixResults, process.env.SCALE_PLANS === "1");
    }
    const resultsFile = resolve(ROOT, ".data/bench-scale-results.json");
    writeFileSync(
      resultsFile,
      `${JSON.stringify(
        {
          sizes,
          seeded: { ...seeded, t0: seeded.t0.toISOString() },
          results: resultsJson(results),
          fixes: resultsJson(fixResults),
        },
        null,
        2,
      )}\n`,
    );
    log(`figures and plans written to ${resultsFile}`);

    if (process.env.SCALE_KEEP === "1") {
      log(`keeping Postgres: ${databaseUrl} (t0 ${seeded.t0.toISOString()}); Ctrl-C to stop`);
      await new Promise(() => {});
    }
  } finally {
    await stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    // A bench: report and exit 0 only when it measured; a broken setup is an error.
    process.exit(1);
  },
);
