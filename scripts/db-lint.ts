// `npm run db:lint`: lints the SQL migrations (drizzle/*.sql, the .down.sql rollbacks too)
// with squawk, the Postgres migration linter that knows which lock each statement takes.
// .squawk.toml sets PostgreSQL 17, says each file runs in a transaction (drizzle's
// migrator and db:rollback do that), and exempts the history 0000-0006. From 0007 on,
// every finding is fixed or carries `-- squawk-ignore <rule> -- <reason>`; this script
// also refuses an ignore without a reason beside it. The rule: docs/DEPLOYMENT.md.
//
// squawk: $SQUAWK_PATH if set, else the binary of the optional dependency
// @squawk-cli/linux-x64 (the only platform package the registry has). Extra arguments
// go to squawk: `npm run db:lint -- --reporter gcc`.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runsOutsideTransaction } from "./lib/migrations.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SQUAWK_PACKAGE = "@squawk-cli/linux-x64";
const PINNED_VERSION = "2.66.0";
const PG_VERSION = "17";

function findSquawk(): string | undefined {
  const fromEnv = process.env.SQUAWK_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) {
      console.error(`[db:lint] SQUAWK_PATH=${fromEnv} does not exist.`);
      process.exit(2);
    }
    return fromEnv;
  }
  try {
    const manifest = createRequire(import.meta.url).resolve(`${SQUAWK_PACKAGE}/package.json`);
    const binary = join(dirname(manifest), "bin", "squawk");
    return existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

const squawk = findSquawk();
if (!squawk) {
  console.error(
    [
      `[db:lint] squawk is not installed for this platform (${process.platform}-${process.arch}).`,
      `The project depends only on ${SQUAWK_PACKAGE} (an optionalDependency): the registry has`,
      "no squawk package for other platforms, so npm skips it here. To lint the migrations:",
      `  - download squawk ${PINNED_VERSION} for your platform from`,
      "    https://github.com/sbdchd/squawk/releases and run",
      "    SQUAWK_PATH=/path/to/squawk npm run db:lint",
      "  - or rely on CI (.ci/run, Linux x64), which runs it on every change.",
    ].join("\n"),
  );
  process.exit(2);
}

const version = spawnSync(squawk, ["--version"], { encoding: "utf8" }).stdout?.trim() ?? "";
if (!version.endsWith(PINNED_VERSION)) {
  console.warn(
    `[db:lint] ${squawk} is "${version || "unknown"}"; CI runs squawk ${PINNED_VERSION}, whose findings may differ.`,
  );
}

const migrations = readdirSync(join(ROOT, "drizzle"))
  .filter((name) => name.endsWith(".sql"))
  .sort()
  .map((name) => `drizzle/${name}`);

// An ignore needs its reason right beside it: after `--` on the same line (the preferred
// form: `-- squawk-ignore <rule> -- <reason>`), or as the comment that follows it (the next
// line that is not another ignore: a comment line, or the statement's trailing comment).
// squawk accepts an ignore without a reason; this project does not.
const IGNORE = /^\s*--\s*squawk-ignore(?:-file)?\b(.*)$/;
const withoutReason: string[] = [];
for (const file of migrations) {
  const lines = readFileSync(join(ROOT, file), "utf8").split("\n");
  lines.forEach((line, index) => {
    const ignore = IGNORE.exec(line);
    if (!ignore || /--\s*\S/.test(ignore[1] ?? "")) return;
    let next = index + 1;
    while (next < lines.length && IGNORE.test(lines[next] ?? "")) next++;
    const following = lines[next] ?? "";
    if (/^\s*--\s*\S/.test(following) || /\S.*--\s*\S/.test(following)) return;
    withoutReason.push(`${file}:${index + 1}: ${line.trim()}`);
  });
}

// A migration marked `-- migrate: no-transaction` (scripts/lib/migrations.ts) runs outside
// a transaction, as CREATE INDEX CONCURRENTLY must: squawk is told so for those files.
const history = /^drizzle\/000[0-6]_/;
const outsideTransaction = migrations.filter((file) =>
  runsOutsideTransaction(readFileSync(join(ROOT, file), "utf8")),
);
const inTransaction = migrations.filter(
  (file) => !outsideTransaction.includes(file) && !history.test(file),
);

function runSquawk(files: string[], extra: string[]): number {
  if (files.length === 0) return 0;
  const result = spawnSync(
    squawk as string,
    [
      "--config",
      ".squawk.toml",
      "--pg-version",
      PG_VERSION,
      ...extra,
      ...process.argv.slice(2),
      ...files,
    ],
    { cwd: ROOT, stdio: "inherit" },
  );
  if (result.error) {
    console.error(`[db:lint] could not run ${squawk}: ${result.error.message}`);
    process.exit(2);
  }
  return result.status ?? 1;
}

const status = Math.max(
  runSquawk(inTransaction, []),
  runSquawk(outsideTransaction, ["--no-assume-in-transaction"]),
);

if (withoutReason.length > 0) {
  console.error(
    "[db:lint] every squawk-ignore needs its reason beside it, best on the same line:\n" +
      "  -- squawk-ignore <rule> -- <why this is safe here>\n" +
      withoutReason.map((line) => `  ${line}`).join("\n"),
  );
}
process.exit(status !== 0 ? status : withoutReason.length > 0 ? 1 : 0);
