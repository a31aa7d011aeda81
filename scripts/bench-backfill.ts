// `npm run bench:backfill`: how long the call_sid migrations take on 100,000 legacy calls.
// A throwaway embedded Postgres, three identical databases migrated to 0000 only and filled
// with the same deterministic legacy data:
// - "one-shot" applies 0001..0005 in one run, as `npm run db:migrate` would in production;
// - "stepwise" applies them one at a time, which gives the time of each step;
// - "statement" is brought to 0001 and runs only the backfill statement of 0002.
// Separate databases so that no measurement pays for another one's dead rows.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { startPostgres } from "./lib/embedded-postgres.ts";
import {
  applyMigrations,
  MIGRATIONS_FOLDER,
  migrationTags,
  splitStatements,
} from "./lib/migrations.ts";

const ROWS = 100_000;

/**
 * Set-based legacy data shaped to stress the backfill: calls come in groups of five per
 * second (i / 5), the first three of a group from the same driver (same-driver-same-second
 * collisions: bare, _2, _3), the other two from other drivers; one driver_id in 20 is NULL
 * (EL_UNKNOWN_...). Every 1,000th call has 3 transcriptions (0005 backfills
 * last_sequence_number from them).
 */
async function seed(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO calls (conversation_id, driver_id, status, call_start_time, created_at)
       SELECT 'conv_' || i,
              CASE WHEN i % 20 = 0 THEN NULL
                   WHEN i % 5 < 3 THEN 1000 + (i / 5) % 800
                   ELSE 5000 + i % 800 END,
              (ARRAY['IN_PROGRESS', 'COMPLETED', 'FAILED'])[1 + i % 3],
              ts, ts
       FROM generate_series(1, $1::int) AS i,
            LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00'
                       + (i / 5) * interval '1 second'
                       + (i % 5) * interval '150 milliseconds' AS ts) AS t`,
      [ROWS],
    );
    await client.query(
      `INSERT INTO call_transcriptions (conversation_id, speaker, message, "timestamp", sequence_number)
       SELECT c.conversation_id, CASE WHEN n % 2 = 1 THEN 'agent' ELSE 'user' END,
              'utterance ' || n, c.created_at + n * interval '2 seconds', n
       FROM calls c CROSS JOIN generate_series(1, 3) AS n
       WHERE c.id % 1000 = 0`,
    );
    await client.query("ANALYZE calls; ANALYZE call_transcriptions");
  } finally {
    await client.end();
  }
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await work();
  return [result, performance.now() - start];
}

/** Times the backfill statement (0002's DO block) by itself, on a database at 0001. */
async function timeBackfillStatement(databaseUrl: string, tag: string): Promise<number> {
  const statements = splitStatements(readFileSync(join(MIGRATIONS_FOLDER, `${tag}.sql`), "utf8"));
  const backfill = statements.find((statement) => statement.includes("DO $$"));
  if (!backfill) throw new Error(`${tag}.sql has no DO block`);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("BEGIN");
    const [, ms] = await timed(() => client.query(backfill));
    await client.query("ROLLBACK");
    return ms;
  } finally {
    await client.end();
  }
}

async function scalar(databaseUrl: string, text: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ value: string }>(text);
    return String(result.rows[0]?.value);
  } finally {
    await client.end();
  }
}

const postgres = await startPostgres({
  dataDir: ".data/bench-backfill",
  port: 54390,
  persistent: false,
  quiet: true,
});
try {
  const tags = migrationTags();
  const notices: string[] = [];
  const log = (line: string) => {
    if (line.startsWith("NOTICE")) notices.push(line);
  };

  const databases = {
    oneShot: "bench_one_shot",
    stepwise: "bench_stepwise",
    statement: "bench_statement",
  };
  for (const name of Object.values(databases)) {
    await postgres.createDatabase(name);
    await applyMigrations(postgres.urlFor(name), { to: "0000" });
  }
  const [, seedMs] = await timed(() => seed(postgres.urlFor(databases.oneShot)));
  await seed(postgres.urlFor(databases.stepwise));
  await seed(postgres.urlFor(databases.statement));

  const oneShotUrl = postgres.urlFor(databases.oneShot);
  const [{ applied }, totalMs] = await timed(() => applyMigrations(oneShotUrl, { log }));

  const stepwiseUrl = postgres.urlFor(databases.stepwise);
  const stepMs: [string, number][] = [];
  for (const tag of tags.slice(1)) {
    const [, ms] = await timed(() => applyMigrations(stepwiseUrl, { to: tag }));
    stepMs.push([tag, ms]);
  }

  const statementUrl = postgres.urlFor(databases.statement);
  await applyMigrations(statementUrl, { to: "0001" });
  const backfillTag = tags.find((tag) => tag.startsWith("0002")) as string;
  const statementMs = await timeBackfillStatement(statementUrl, backfillTag);

  // Check what was measured actually did the job.
  const check = await scalar(
    oneShotUrl,
    `SELECT json_build_object(
       'rows', count(*), 'distinct', count(DISTINCT call_sid),
       'suffixed', count(*) FILTER (WHERE call_sid ~ '^EL_[^_]+_[^_]+_[0-9]+$'),
       'unknown', count(*) FILTER (WHERE call_sid LIKE 'EL_UNKNOWN_%'))::text AS value
     FROM calls`,
  );
  const counts = JSON.parse(check) as Record<string, number>;
  if (counts.rows !== ROWS || counts.distinct !== ROWS || applied.length !== tags.length - 1) {
    throw new Error(`backfill check failed: ${check}, applied ${applied.join(", ")}`);
  }

  const ms = (value: number) => `${value.toFixed(0)} ms`;
  console.log(`\nLegacy rows: ${ROWS.toLocaleString("en")} (seeded in ${ms(seedMs)})`);
  console.log(
    `  ${counts.suffixed} got a _n suffix, ${counts.unknown} are EL_UNKNOWN_*, all ${counts.distinct} distinct`,
  );
  console.log(`  ${notices.join("; ")}\n`);
  console.table([
    { measure: "0002 backfill UPDATE statement", ms: Math.round(statementMs) },
    { measure: "every migration after 0000, one run (db:migrate)", ms: Math.round(totalMs) },
    ...stepMs.map(([tag, value]) => ({ measure: `  step ${tag}`, ms: Math.round(value) })),
  ]);
} finally {
  await postgres.stop();
}
