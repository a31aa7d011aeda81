import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_SECRETS } from "./tests/setup/test-secrets";

export default defineConfig({
  test: {
    // Request logs of passing tests are noise; a failing test still shows its own.
    silent: "passed-only",
    projects: [
      {
        // The Worker itself, inside workerd, against the embedded Postgres through the real
        // Neon driver and the local Neon HTTP endpoint. Migrations applied in globalSetup.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml", environment: "test" },
            miniflare: {
              bindings: {
                DATABASE_URL: inject("databaseUrl"),
                NEON_HTTP_ENDPOINT: inject("neonHttpEndpoint"),
                NEON_CONTROL_URL: inject("neonControlUrl"),
                SIMULATOR_URL: inject("simulatorUrl"),
                FAULT_DATABASE_URL: inject("faultDatabaseUrl"),
                FAULT_CONTROL_URL: inject("faultControlUrl"),
                ELEVENLABS_API_BASE_URL: inject("simulatorUrl"),
                LAB_URL: inject("labUrl"),
                // Test files share one database and run in parallel, and many leave calls
                // IN_PROGRESS: the cap is tested on private databases (tests/support/lab.ts).
                MAX_LIVE_CALLS: "1000",
                // Event endpoints on 127.0.0.1: the receivers the tests start.
                ALLOW_LOCAL_EVENT_ENDPOINTS: "true",
                ...TEST_SECRETS,
              },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["tests/workers/**/*.test.ts"],
          globalSetup: ["./tests/setup/workers-global-setup.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        // What must run in Node: migrations up and down, the local Neon HTTP endpoint.
        test: {
          name: "node",
          environment: "node",
          include: ["tests/node/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // The operator console in a real browser (headless Chromium driven by puppeteer-core)
        // against the Worker under `wrangler dev`, Postgres and the ElevenLabs simulator.
        test: {
          name: "browser",
          environment: "node",
          include: ["tests/browser/**/*.test.ts"],
          globalSetup: ["./tests/setup/browser-global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
