// Applies the SQL migrations in drizzle/ with drizzle's own migrator, and rolls them back
// with the `.down.sql` file kept beside each one (drizzle-kit has no down migrations).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { readDevVars } from "./dev-vars.ts";

/** drizzle/ of this checkout, wherever the command is run from. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../../drizzle", import.meta.url));
const DEV_VARS = fileURLToPath(new URL("../../.dev.vars", import.meta.url));

// drizzle's default table; drizzle.config.ts uses the same, so drizzle-kit agrees.
const MIGRATIONS_TABLE = '"drizzle"."__drizzle_migrations"';
// One advisory lock key for every migrate and rollback, so two of them never interleave.
const LOCK_KEY = 7_311_042_205;
// Said by drizzle's migrator on every run after the first (its CREATE ... IF NOT EXISTS).
const MIGRATOR_CHATTER = new Set([
  'schema "drizzle" already exists, skipping',
  'relation "__drizzle_migrations" already exists, skipping',
]);

export interface JournalEntry {
  idx: number;
  version: string;
  when: number;
  tag: string;
  breakpoints: boolean;
}

export interface MigrationOptions {
  /** Progress lines and Postgres NOTICEs (the backfill reports its count this way). */
  log?: (line: string) => void;
  /** Another folder with the same layout; default: this checkout's drizzle/. */
  migrationsFolder?: string;
}

export interface ApplyOptions extends MigrationOptions {
  /** Stop after this migration (tag or number such as `0002`); default: the last one. */
  to?: string;
}

interface Journal {
  entries: JournalEntry[];
  [key: string]: unknown;
}

function readJournalFile(folder: string): Journal {
  return JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")) as Journal;
}

export function readJournal(folder: string = MIGRATIONS_FOLDER): JournalEntry[] {
  return readJournalFile(folder).entries;
}

export function migrationTags(folder: string = MIGRATIONS_FOLDER): string[] {
  return readJournal(folder).map((entry) => entry.tag);
}

/**
 * The journal entry a target names: its full tag or its number (`0003`, `3`).
 * `none` and `-1` mean "before the first migration" and give null.
 */
export function resolveTarget(target: string, entries: JournalEntry[]): JournalEntry | null {
  const wanted = target.trim();
  if (wanted === "none" || wanted === "-1") return null;
  const found = entries.find(
    (entry) =>
      entry.tag === wanted ||
      (/^\d+$/.test(wanted) && Number(entry.tag.split("_")[0]) === Number(wanted)),
  );
  if (!found) {
    throw new Error(
      `Unknown migration "${target}". Use one of: ${entries.map((entry) => entry.tag).join(", ")}; ` +
        `or its number (e.g. 0003), or "none" to undo every migration.`,
    );
  }
  return found;
}

/** Splits a migration file where drizzle's migrator does, dropping empty pieces. */
export function splitStatements(sqlText: string): string[] {
  return sqlText
    .split("--> statement-breakpoint")
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}

async function connect(databaseUrl: string, log?: (line: string) => void): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl });
  // RAISE NOTICE reaches the client as a "notice" event, not as part of a query result.
  client.on("notice", (notice) => {
    const message = notice.message ?? "";
    if (!MIGRATOR_CHATTER.has(message)) log?.(`NOTICE: ${message}`);
  });
  await client.connect();
  return client;
}

/** The `created_at` (= the journal's `when`) of every applied migration, oldest first. */
async function appliedTimes(client: pg.Client): Promise<number[]> {
  const exists = await client.query<{ name: string | null }>(
    `SELECT to_regclass('${MIGRATIONS_TABLE}')::text AS name`,
  );
  if (!exists.rows[0]?.name) return [];
  const result = await client.query<{ created_at: string }>(
    `SELECT created_at FROM ${MIGRATIONS_TABLE} ORDER BY created_at`,
  );
  return result.rows.map((row) => Number(row.created_at));
}

function tagsOf(times: number[], entries: JournalEntry[]): string[] {
  return times.map(
    (when) => entries.find((entry) => entry.when === when)?.tag ?? `unknown (created_at ${when})`,
  );
}

/** Tags of the migrations the database has applied, oldest first. */
export async function appliedMigrations(
  databaseUrl: string,
  options: MigrationOptions = {},
): Promise<string[]> {
  const entries = readJournal(options.migrationsFolder);
  const client = await connect(databaseUrl);
  try {
    return tagsOf(await appliedTimes(client), entries);
  } finally {
    await client.end();
  }
}

/**
 * drizzle's migrator always runs the whole journal. To stop at a target it gets a copy of
 * the folder whose journal ends there; the SQL files are byte-identical copies, so the
 * hashes it records match those of a full run.
 */
function folderEndingAt(folder: string, last: JournalEntry): string {
  const journal = readJournalFile(folder);
  const copy = mkdtempSync(join(tmpdir(), "driver-calls-migrations-"));
  mkdirSync(join(copy, "meta"));
  journal.entries = journal.entries.filter((entry) => entry.idx <= last.idx);
  for (const entry of journal.entries) {
    copyFileSync(join(folder, `${entry.tag}.sql`), join(copy, `${entry.tag}.sql`));
  }
  writeFileSync(join(copy, "meta", "_journal.json"), JSON.stringify(journal, null, 2));
  return copy;
}

/**
 * The first line that marks a migration to be run outside a transaction, one statement at
 * a time: `CREATE INDEX CONCURRENTLY` on a live table cannot run inside one. Such a
 * migration holds index builds and, at most, catalog-only changes they need (0016), each
 * written to be run again after a failure (`IF NOT EXISTS`), and is recorded only when
 * every index it built is valid.
 */
export const NO_TRANSACTION_MARKER = "-- migrate: no-transaction";

export function runsOutsideTransaction(sqlText: string): boolean {
  return sqlText.trimStart().startsWith(NO_TRANSACTION_MARKER);
}

/**
 * Applies every pending migration (up to `options.to`). Consecutive ordinary migrations
 * run as drizzle's migrator runs them, in one transaction: either all of them land or
 * none. A migration marked NO_TRANSACTION_MARKER runs on its own, statement by statement,
 * and is recorded in drizzle's table exactly as drizzle's migrator records one (the same
 * hash and created_at), so drizzle and drizzle-kit see the same history.
 */
export async function applyMigrations(
  databaseUrl: string,
  options: ApplyOptions = {},
): Promise<{ applied: string[] }> {
  const folder = options.migrationsFolder ?? MIGRATIONS_FOLDER;
  const entries = readJournal(folder);
  const last = options.to === undefined ? undefined : resolveTarget(options.to, entries);
  if (last === null) return { applied: [] };
  const wanted = entries.filter((entry) => last === undefined || entry.idx <= last.idx);
  const files = new Map(
    readMigrationFiles({ migrationsFolder: folder }).map((file) => [file.folderMillis, file]),
  );
  const client = await connect(databaseUrl, options.log);
  const copies: string[] = [];
  try {
    // Session lock: the migrator reads "latest applied" before its transaction starts,
    // so two concurrent runs must be serialised around the whole call.
    await client.query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
    const before = new Set(await appliedTimes(client));
    const latest = Math.max(Number.NEGATIVE_INFINITY, ...before);
    const pending = wanted.filter((entry) => entry.when > latest);
    // Runs of ordinary migrations, split at each one that must run outside a transaction.
    let index = 0;
    while (index < pending.length) {
      const entry = pending[index] as JournalEntry;
      const file = files.get(entry.when);
      if (!file) throw new Error(`drizzle/${entry.tag}.sql is missing`);
      if (runsOutsideTransaction(file.sql.join("--> statement-breakpoint"))) {
        await applyOutsideTransaction(client, entry, file);
        index += 1;
        continue;
      }
      let end = index;
      while (end + 1 < pending.length) {
        const next = files.get((pending[end + 1] as JournalEntry).when);
        if (!next || runsOutsideTransaction(next.sql.join("--> statement-breakpoint"))) break;
        end += 1;
      }
      const runLast = pending[end] as JournalEntry;
      const runFolder =
        runLast.idx === (entries.at(-1) as JournalEntry).idx
          ? folder
          : folderEndingAt(folder, runLast);
      if (runFolder !== folder) copies.push(runFolder);
      await migrate(drizzle(client), { migrationsFolder: runFolder });
      index = end + 1;
    }
    const applied = tagsOf(
      (await appliedTimes(client)).filter((when) => !before.has(when)),
      entries,
    );
    for (const tag of applied) options.log?.(`applied ${tag}`);
    return { applied };
  } finally {
    for (const copy of copies) rmSync(copy, { recursive: true, force: true });
    await client.end();
  }
}

async function applyOutsideTransaction(
  client: pg.Client,
  entry: JournalEntry,
  file: { sql: string[]; hash: string; folderMillis: number },
) {
  for (const statement of file.sql) {
    if (statement.trim().length > 0) await client.query(statement);
  }
  // A CONCURRENTLY build that failed (a lock timeout, a duplicate in a unique index)
  // leaves an INVALID index behind, which Postgres keeps updating but never uses.
  const invalid = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND NOT i.indisvalid`,
  );
  if (invalid.rows.length > 0) {
    const names = invalid.rows.map((row) => row.name).join(", ");
    throw new Error(
      `${entry.tag}: the index build left invalid indexes (${names}). Drop them ` +
        `(DROP INDEX CONCURRENTLY <name>), fix the cause named above, and migrate again.`,
    );
  }
  await client.query(
    `CREATE SCHEMA IF NOT EXISTS "drizzle";
     CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
  );
  await client.query(`INSERT INTO ${MIGRATIONS_TABLE} ("hash", "created_at") VALUES ($1, $2)`, [
    file.hash,
    file.folderMillis,
  ]);
}

/**
 * Undoes every applied migration after `target` (which stays applied), newest first:
 * runs its `.down.sql`, then deletes its row from drizzle's table (matched on
 * created_at, which drizzle sets to the journal's `when`). `none` undoes all of them.
 *
 * The whole rollback is ONE transaction, not one per step. Postgres DDL is
 * transactional, so when a step refuses (0004's down does while calls without a
 * conversation_id exist) or fails, the steps already run are undone too and the
 * database is exactly as before: no half-rolled-back schema to repair by hand. A
 * pre-flight check could not promise that, since it would have to duplicate every
 * down file's own conditions.
 */
export async function rollbackTo(
  databaseUrl: string,
  target: string,
  options: MigrationOptions = {},
): Promise<{ rolledBack: string[] }> {
  const folder = options.migrationsFolder ?? MIGRATIONS_FOLDER;
  const entries = readJournal(folder);
  const keep = resolveTarget(target, entries);
  const keepUntil = keep ? keep.when : Number.NEGATIVE_INFINITY;
  const client = await connect(databaseUrl, options.log);
  let step = "";
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
    const toUndo = (await appliedTimes(client)).filter((when) => when > keepUntil).reverse();
    const unknown = toUndo.filter((when) => !entries.some((entry) => entry.when === when));
    if (unknown.length > 0) {
      throw new Error(
        `The database has migrations applied that this checkout does not know (created_at ${unknown.join(", ")}). ` +
          "Roll back from the checkout that applied them.",
      );
    }
    const rolledBack: string[] = [];
    for (const when of toUndo) {
      const entry = entries.find((candidate) => candidate.when === when) as JournalEntry;
      step = entry.tag;
      const down = readFileSync(join(folder, `${entry.tag}.down.sql`), "utf8");
      for (const statement of splitStatements(down)) await client.query(statement);
      await client.query(`DELETE FROM ${MIGRATIONS_TABLE} WHERE created_at = $1`, [when]);
      rolledBack.push(entry.tag);
    }
    await client.query("COMMIT");
    // Only now, so that a refused rollback never prints steps that did not stick.
    for (const tag of rolledBack) options.log?.(`rolled back ${tag}`);
    return { rolledBack };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `${step ? `Rollback stopped at ${step}: ` : "Rollback refused: "}${reason}\n` +
        "Nothing was rolled back: the database is unchanged.",
      { cause: error },
    );
  } finally {
    await client.end();
  }
}

/**
 * DATABASE_URL from the environment, else from `.dev.vars` (the local dev database).
 * Returns undefined when neither has one.
 */
export function databaseUrlFromEnv(devVarsPath: string = DEV_VARS): string | undefined {
  const fromEnv = process.env.DATABASE_URL?.trim();
  if (fromEnv) return fromEnv;
  return readDevVars(devVarsPath).DATABASE_URL || undefined;
}

/** The URL without its password, for log lines. */
export function redactUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}
