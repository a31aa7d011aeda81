// `npm run size [-- --env staging]`: builds the Worker exactly as a deploy would
// (`wrangler deploy --dry-run`), gzips what would be uploaded, prints raw and gzipped sizes
// and the packages that take the most room, and exits 1 over the budget.
//
// Why a budget: the gzipped upload is what Cloudflare limits (3 MiB on the free plan) and
// what workerd parses on every cold start, so growth should be a decision, not an accident.
// The package list comes from the metafile of wrangler's own esbuild run, so it attributes
// the bytes of the real bundle (same conditions, aliases and minify setting as a deploy).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_GZIP_BYTES = 350 * 1024;
const TOP_PACKAGES = 10;
const TOP_FILES = 8;
const UPLOADED = new Set([".js", ".mjs", ".cjs", ".wasm", ".bin", ".txt", ".html"]);

interface Metafile {
  outputs: Record<string, { bytes: number; inputs: Record<string, { bytesInOutput: number }> }>;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const percent = (part: number, whole: number) => `${((part / whole) * 100).toFixed(1)}%`;

/** node_modules/@scope/name/... -> @scope/name; src/calls/x.ts -> src/calls; else the path. */
function packageOf(inputPath: string): string {
  const inModules = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(inputPath);
  if (inModules?.[1]) return inModules[1];
  const inSrc = /(?:^|\/)(src\/[^/]+)\//.exec(inputPath);
  if (inSrc?.[1]) return inSrc[1];
  return inputPath.replace(/^(\.\.\/)+/, "");
}

function run(): number {
  // Default to the top-level environment explicitly (`--env=""`): without it wrangler
  // warns that several environments exist. `npm run size -- --env production` overrides.
  const extraArgs = process.argv.slice(2);
  const envArgs = extraArgs.some(
    (arg) => arg === "--env" || arg.startsWith("--env=") || arg === "-e",
  )
    ? []
    : ["--env="];
  const workDir = mkdtempSync(join(tmpdir(), "driver-calls-size-"));
  const outDir = join(workDir, "bundle");
  const metafilePath = join(workDir, "meta.json");
  try {
    // `wrangler` resolves to node_modules/.bin/wrangler: `npm run` puts it first on PATH
    // (and runs it on the Node 22 of the `node` devDependency).
    const build = spawnSync(
      "wrangler",
      [
        "deploy",
        "--dry-run",
        "--outdir",
        outDir,
        "--metafile",
        metafilePath,
        ...envArgs,
        ...extraArgs,
      ],
      {
        encoding: "utf8",
        env: {
          ...process.env,
          CLOUDFLARE_CF_FETCH_ENABLED: "false",
          WRANGLER_SEND_METRICS: "false",
        },
      },
    );
    if (build.error || build.status !== 0) {
      console.error(build.stdout ?? "", build.stderr ?? "");
      console.error(
        `wrangler deploy --dry-run failed (${build.error?.message ?? `exit ${build.status}`}).` +
          " Run this through `npm run size` so node_modules/.bin is on PATH.",
      );
      return 1;
    }

    const files = readdirSync(outDir).filter((name) => UPLOADED.has(extname(name)));
    if (files.length === 0) {
      console.error(`wrangler wrote no bundle into ${outDir}.`);
      return 1;
    }
    let rawTotal = 0;
    let gzipTotal = 0;
    console.log("Bundle (what `wrangler deploy` uploads, source maps excluded):");
    for (const name of files.sort()) {
      const content = readFileSync(join(outDir, name));
      const gzipped = gzipSync(content).length;
      rawTotal += content.length;
      gzipTotal += gzipped;
      console.log(
        `  ${name.padEnd(24)} raw ${kib(content.length).padStart(11)}   gzip ${kib(gzipped).padStart(10)}`,
      );
    }
    if (files.length > 1) {
      console.log(
        `  ${"total".padEnd(24)} raw ${kib(rawTotal).padStart(11)}   gzip ${kib(gzipTotal).padStart(10)}`,
      );
    }

    printContributors(JSON.parse(readFileSync(metafilePath, "utf8")) as Metafile);

    const verdict = `${kib(gzipTotal)} gzipped of a ${kib(BUDGET_GZIP_BYTES)} budget (${percent(gzipTotal, BUDGET_GZIP_BYTES)})`;
    if (gzipTotal > BUDGET_GZIP_BYTES) {
      console.error(
        `\nOver budget: ${verdict}. Look at the biggest packages above before raising the limit.`,
      );
      return 1;
    }
    console.log(`\nWithin budget: ${verdict}.`);
    return 0;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

function printContributors(metafile: Metafile) {
  const byPackage = new Map<string, number>();
  const byFile: Array<[string, number]> = [];
  let outputBytes = 0;
  for (const [outputPath, output] of Object.entries(metafile.outputs)) {
    if (outputPath.endsWith(".map")) continue;
    outputBytes += output.bytes;
    for (const [inputPath, input] of Object.entries(output.inputs)) {
      const name = packageOf(inputPath);
      byPackage.set(name, (byPackage.get(name) ?? 0) + input.bytesInOutput);
      byFile.push([inputPath.replace(/^(\.\.\/)+/, ""), input.bytesInOutput]);
    }
  }
  const packages = [...byPackage.entries()].sort((a, b) => b[1] - a[1]);
  console.log(
    `\nBiggest contributors by package (bytes in the bundle before gzip, of ${kib(outputBytes)}):`,
  );
  for (const [name, bytes] of packages.slice(0, TOP_PACKAGES)) {
    console.log(
      `  ${kib(bytes).padStart(10)}  ${percent(bytes, outputBytes).padStart(6)}  ${name}`,
    );
  }
  const ownCode = packages
    .filter(([name]) => name.startsWith("src"))
    .reduce((sum, [, b]) => sum + b, 0);
  console.log(`  (our own src/: ${kib(ownCode)}, ${percent(ownCode, outputBytes)})`);

  console.log(`\nBiggest single files:`);
  for (const [path, bytes] of byFile.sort((a, b) => b[1] - a[1]).slice(0, TOP_FILES)) {
    console.log(`  ${kib(bytes).padStart(10)}  ${path}`);
  }
  // A known weight worth naming: zod keeps every locale when its namespace object is used
  // as a value (as @hono/zod-openapi does), and tree shaking cannot drop them.
  const locales = byFile
    .filter(([path]) => path.includes("zod/v4/locales/"))
    .reduce((sum, [, bytes]) => sum + bytes, 0);
  if (locales > 0) {
    console.log(
      `\n  of which zod's locale files: ${kib(locales)} (${percent(locales, outputBytes)})`,
    );
  }
}

process.exitCode = run();
