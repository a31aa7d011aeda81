// Runs in Node before the `browser` project's tests: the whole service as an operator's
// browser meets it, on real ports. A throwaway embedded Postgres with the migrations, the
// local Neon HTTP endpoint, the ElevenLabs simulator posting its webhooks back to the
// Worker (short calls), the Worker bundled once as a deploy would bundle it and served by
// `wrangler dev` (its local queue runs the dispatcher), and one headless Chromium
// (@sparticuz/chromium, or CHROMIUM_PATH) that the test files connect to. Each test file
// opens its own incognito browser contexts, so sessions never leak between tests.
import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import chromium from "@sparticuz/chromium";
import puppeteer, { type Browser } from "puppeteer-core";
import type { TestProject } from "vitest/node";
import { bundleWorker, startWranglerDev } from "../../scripts/bench/wrangler.ts";
import { startElevenLabsSimulator } from "../../scripts/lib/elevenlabs-simulator.ts";
import { dropExitHooks, freePort, startPostgres } from "../../scripts/lib/embedded-postgres.ts";
import { applyMigrations } from "../../scripts/lib/migrations.ts";
import { startNeonHttpEndpoint } from "../../scripts/lib/neon-http-endpoint.ts";
import { ensureOperatorWithToken } from "../../scripts/lib/operators.ts";
import { TEST_OPERATOR, TEST_SECRETS } from "./test-secrets.ts";

declare module "vitest" {
  export interface ProvidedContext {
    consoleBaseUrl: string;
    consoleDatabaseUrl: string;
    browserWSEndpoint: string;
    consoleMaxLiveCalls: number;
  }
}

/** The simulator's plan and the Worker's MAX_LIVE_CALLS. */
const MAX_LIVE_CALLS = 10;
/** Each simulated call, accepted to final webhook. */
const CALL_SECONDS = 0.6;

/**
 * Chromium's flags: @sparticuz/chromium's own (made for AWS Lambda), minus the two that
 * switch browser security off (the tests check the console's own security) and
 * --single-process (it cannot open a page in a second incognito context), plus what a
 * machine without internet needs to stay quiet.
 */
function chromiumArgs(): string[] {
  const off = new Set([
    "--disable-web-security",
    "--allow-running-insecure-content",
    "--single-process",
  ]);
  return [
    ...chromium.args.filter((arg) => !off.has(arg)),
    ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
  ];
}

export default async function setup(project: TestProject) {
  const workDir = resolve(`.data/test-browser-${process.pid}`);
  mkdirSync(workDir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    // Last word on the process's exit code: see dropExitHooks.
    dropExitHooks();
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => console.warn(`[browser setup] ${String(error)}`));
    }
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const postgres = await startPostgres({
      dataDir: join(workDir, "postgres"),
      port: await freePort(),
      persistent: false,
      quiet: true,
    });
    stops.push(() => postgres.stop());
    await postgres.createDatabase("console_test");
    const databaseUrl = postgres.urlFor("console_test");
    await applyMigrations(databaseUrl);
    await ensureOperatorWithToken(databaseUrl, TEST_OPERATOR);
    const endpoint = await startNeonHttpEndpoint({});
    stops.push(() => endpoint.stop());

    const port = await freePort();
    const simulator = await startElevenLabsSimulator({
      port: await freePort(),
      webhookBaseUrl: `http://127.0.0.1:${port}`,
      apiKey: TEST_SECRETS.ELEVENLABS_API_KEY,
      transcriptionToken: TEST_SECRETS.TRANSCRIPTION_WEBHOOK_TOKEN,
      webhookSecret: TEST_SECRETS.ELEVENLABS_WEBHOOK_SECRET,
      maxLiveCalls: MAX_LIVE_CALLS,
      callSeconds: CALL_SECONDS,
    });
    stops.push(() => simulator.stop());

    // Bundled once and served as is: an edit under src/ during the run (other people work
    // in this checkout) cannot reload the Worker under the tests.
    const [bundle, executablePath] = await Promise.all([
      bundleWorker("src/index.ts", join(workDir, "bundle")),
      process.env.CHROMIUM_PATH ?? chromium.executablePath(),
    ]);
    const worker = await startWranglerDev({
      bundle,
      port,
      inspectorPort: await freePort(),
      persistTo: join(workDir, "wrangler-state"),
      vars: {
        ...TEST_SECRETS,
        DATABASE_URL: databaseUrl,
        NEON_HTTP_ENDPOINT: endpoint.url,
        ELEVENLABS_API_BASE_URL: simulator.url,
        MAX_LIVE_CALLS: String(MAX_LIVE_CALLS),
        CALL_CONCURRENCY: "5",
        // Event endpoints on 127.0.0.1: the receivers the tests start.
        ALLOW_LOCAL_EVENT_ENDPOINTS: "true",
      },
      onSpawn: (stop) => stops.push(stop),
    });

    const browser: Browser = await puppeteer.launch({
      executablePath,
      args: chromiumArgs(),
      headless: true,
    });
    stops.push(() => browser.close());

    project.provide("consoleBaseUrl", worker.url);
    project.provide("consoleDatabaseUrl", databaseUrl);
    project.provide("browserWSEndpoint", browser.wsEndpoint());
    project.provide("consoleMaxLiveCalls", MAX_LIVE_CALLS);
  } catch (error) {
    await stopAll();
    throw error;
  }
  return stopAll;
}
