// `npm run lint:api`: lints the OpenAPI 3.1 document the app serves at /openapi.json with
// Redocly CLI's `recommended` ruleset (redocly.yaml), without a running server. Any
// problem fails it, warnings included: a new route without an operationId, a 4xx
// response or a `security` decision does not slip through.
//
// src/ is Worker code with extensionless imports, which Node cannot load as it is: esbuild
// (wrangler's own, from node_modules) bundles createApp() into a temporary module, this
// script asks that app for GET /openapi.json, as a client would, and writes the answer to
// .data/openapi.json (kept, to read or to feed a client generator), where
// .redocly.lint-ignore.yaml finds it to apply the exceptions recorded there.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DOCUMENT = join(ROOT, ".data", "openapi.json");
const REDOCLY = join(
  dirname(createRequire(import.meta.url).resolve("@redocly/cli/package.json")),
  "bin/cli.js",
);

async function generateDocument(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), "driver-calls-openapi-"));
  try {
    const bundle = join(workDir, "app.mjs");
    await build({
      stdin: {
        contents: 'export { createApp } from "./src/app.ts";',
        resolveDir: ROOT,
        loader: "ts",
      },
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node22",
      outfile: bundle,
      logLevel: "error",
    });
    const { createApp } = (await import(pathToFileURL(bundle).href)) as {
      createApp: () => { request(path: string, init: RequestInit, env: object): Promise<Response> };
    };
    // An empty env: the document needs no binding. The app's request log line is not
    // for this output.
    const log = console.log;
    console.log = () => {};
    const response = await createApp()
      .request("/openapi.json", {}, {})
      .finally(() => {
        console.log = log;
      });
    if (response.status !== 200) {
      throw new Error(`GET /openapi.json answered ${response.status}: ${await response.text()}`);
    }
    mkdirSync(dirname(DOCUMENT), { recursive: true });
    writeFileSync(DOCUMENT, `${JSON.stringify(await response.json(), null, 2)}\n`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

function redocly(format: "json" | "codeframe") {
  return spawnSync(
    process.execPath,
    [REDOCLY, "lint", DOCUMENT, "--config", join(ROOT, "redocly.yaml"), "--format", format],
    {
      cwd: ROOT,
      encoding: "utf8",
      stdio: format === "json" ? ["ignore", "pipe", "pipe"] : "inherit",
      // No usage telemetry, no update check: CI reaches only the npm registry.
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
    },
  );
}

try {
  await generateDocument();
  // JSON first, for exact totals (redocly's exit code counts errors only); then, if there
  // is anything to fix, the readable report with code frames.
  const json = redocly("json");
  if (json.error) throw json.error;
  let totals: { errors: number; warnings: number; ignored: number };
  try {
    totals = (JSON.parse(json.stdout) as { totals: typeof totals }).totals;
  } catch {
    throw new Error(`redocly lint failed (exit ${json.status}):\n${json.stdout}${json.stderr}`);
  }
  const where = relative(ROOT, DOCUMENT);
  if (totals.errors + totals.warnings > 0) {
    redocly("codeframe");
    console.error(
      `[lint:api] ${where}: ${totals.errors} error(s), ${totals.warnings} warning(s); both fail. ` +
        "Fix the route definition, or record a justified exception in .redocly.lint-ignore.yaml.",
    );
    process.exit(1);
  }
  console.log(
    `[lint:api] ${where}: no problems (redocly recommended` +
      `${totals.ignored > 0 ? `; ${totals.ignored} recorded exception(s) in .redocly.lint-ignore.yaml` : ""})`,
  );
} catch (error) {
  console.error(`[lint:api] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
