// `npm run bench:csv`: how much heap the console's drivers-file reading takes (parse, then
// the API's schema, as the New campaign form does), for files a Worker must survive within
// its 128 MB whatever they hold:
//   a. 5 MiB of blank lines under a header;
//   b. a real 10,000-driver file (1.4 MiB; numbers written as people write them, every
//      tenth driver with a second violation, a third of the zones left to the form);
//   c. 5 MiB of bad rows (a number too short, empty cells): every row a problem;
//   d. one 5 MiB row of empty cells (commas).
// Each file is read in a fresh Node process (scripts/bench/csv-parse-child.ts) with V8's
// GC trace on: the peak is the largest heap V8 reports before a collection during the
// reading, or at its end. Node's V8 is the engine Workers run, so heap figures carry over
// closely; a Worker also counts the file's own bytes (ArrayBuffers), printed apart.
//
// BENCH_CSV_REF=<git ref> measures the code of that commit instead (its src/ is taken with
// `git archive`), for a before/after: `BENCH_CSV_REF=87dfd80 npm run bench:csv`.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHILD = join(ROOT, "scripts/bench/csv-parse-child.ts");
const MiB = 1024 * 1024;
const HEADER =
  "driver_id,phone_number,driver_name,time_zone,violation_code,violation_description,violation_occurred_at";

const log = (line: string) => console.log(`[bench:csv] ${line}`);

function blankLines(): string {
  return `${HEADER}\n${"\n".repeat(5 * MiB - HEADER.length - 1)}`;
}

/** A 10,000-driver file as a fleet's spreadsheet exports it. */
function realFile(): string {
  const rows = [HEADER];
  const zones = ["America/Chicago", "America/Denver", ""];
  for (let id = 1; id <= 10_000; id++) {
    const line = String(id % 10_000).padStart(4, "0");
    const exchange = String(100 + (id % 900));
    const phone = [
      `"(555) ${exchange}-${line}"`,
      `555-${exchange}-${line}`,
      `+1 555 ${exchange} ${line}`,
      `+1555${exchange}${line}`,
    ][id % 4];
    const zone = zones[id % 3];
    rows.push(
      `${id},${phone},Driver ${id},${zone},HOS_11H,"Exceeded the 11-hour driving limit, by 2 h",2026-11-20T14:05:00-06:00`,
    );
    if (id % 10 === 0) {
      rows.push(
        `${id},${phone},Driver ${id},${zone},SPEED_15,15 mph over,2026-11-21T09:00:00-06:00`,
      );
    }
  }
  return `${rows.join("\r\n")}\r\n`;
}

function badRows(): string {
  const rows = [HEADER];
  let size = HEADER.length;
  for (let id = 1; size < 5 * MiB - 64; id++) {
    const row = `${id},12,N,,,,`;
    rows.push(row);
    size += row.length + 1;
  }
  return rows.join("\n");
}

function oneRowOfCommas(): string {
  return `${HEADER}\n${",".repeat(5 * MiB - HEADER.length - 1)}`;
}

async function bundleFormCode(workDir: string): Promise<string> {
  const ref = process.env.BENCH_CSV_REF;
  let sourceRoot = ROOT;
  if (ref) {
    sourceRoot = join(workDir, "source");
    execFileSync("mkdir", ["-p", sourceRoot]);
    const archive = execFileSync("git", ["-C", ROOT, "archive", ref, "src"], {
      maxBuffer: 64 * MiB,
    });
    execFileSync("tar", ["-x", "-C", sourceRoot], { input: archive });
  }
  const outfile = join(workDir, "form.mjs");
  await build({
    stdin: {
      contents: [
        'export * from "./src/console/campaign-form.ts";',
        'export { parseDriversCsv } from "./src/console/drivers-csv.ts";',
      ].join("\n"),
      resolveDir: sourceRoot,
      loader: "ts",
    },
    nodePaths: [join(ROOT, "node_modules")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    outfile,
    logLevel: "error",
  });
  return outfile;
}

interface Measure {
  ok: boolean;
  ms: number;
  heapBefore: number;
  heapAtEnd: number;
  heapRetained: number;
  arrayBuffers: number;
}

function measure(bundle: string, file: string): Measure & { peak: number } {
  const run = spawnSync(process.execPath, ["--expose-gc", "--trace-gc", CHILD, bundle, file], {
    encoding: "utf8",
    maxBuffer: 256 * MiB,
  });
  if (run.status !== 0) throw new Error(`child failed: ${run.stderr || run.stdout}`);
  const lines = run.stdout.split("\n");
  const result = JSON.parse(lines.filter((line) => line.startsWith("{")).at(-1) ?? "{}") as Measure;
  // "Scavenge 12.3 (14.0) -> 10.1 (15.0) MB": the first figure is the heap used before it.
  let inside = false;
  let peak = result.heapAtEnd;
  for (const line of lines) {
    if (line === "MARK start") inside = true;
    else if (line === "MARK end") inside = false;
    else if (inside) {
      const match = / ([\d.]+) \([\d.]+\) -> [\d.]+ \([\d.]+\) MB/.exec(line);
      if (match) peak = Math.max(peak, Number(match[1]) * MiB);
    }
  }
  return { ...result, peak };
}

async function main() {
  const workDir = mkdtempSync(join(tmpdir(), "driver-calls-bench-csv-"));
  try {
    const bundle = await bundleFormCode(workDir);
    log(`code: ${process.env.BENCH_CSV_REF ? `git ${process.env.BENCH_CSV_REF}` : "working tree"}`);
    const files: [string, string][] = [
      ["a. 5 MiB of blank lines", blankLines()],
      ["b. 10,000 drivers (11,000 rows)", realFile()],
      ["c. 5 MiB of bad rows", badRows()],
      ["d. one 5 MiB row of commas", oneRowOfCommas()],
    ];
    const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
    const rows: string[][] = [];
    for (const [label, content] of files) {
      const path = join(workDir, "drivers.csv");
      writeFileSync(path, content);
      const size = Buffer.byteLength(content);
      const result = measure(bundle, path);
      log(`${label}: peak heap ${mib(result.peak)}, ${result.ms.toFixed(0)} ms`);
      rows.push([
        `${label} (${mib(size)})`,
        mib(result.peak),
        mib(result.peak - result.heapBefore),
        mib(result.heapRetained - result.heapBefore),
        mib(result.arrayBuffers),
        `${result.ms.toFixed(0)} ms`,
        result.ok ? "valid" : "refused",
      ]);
    }
    console.log(
      "\n| file | peak heap | peak above the idle heap | kept after | file bytes (ArrayBuffers) | time | form |",
    );
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`[bench:csv] failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
