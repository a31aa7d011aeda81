// Runs in Node before the workerd pool starts: a throwaway embedded Postgres, the
// migrations production runs, and the local Neon HTTP endpoint. Tests get the URLs
// through provide/inject and never touch the dev database (.data/postgres).
import type { TestProject } from "vitest/node";
import { startPostgres } from "../../scripts/lib/embedded-postgres.ts";
import { applyMigrations } from "../../scripts/lib/migrations.ts";
import { startNeonHttpEndpoint } from "../../scripts/lib/neon-http-endpoint.ts";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    neonHttpEndpoint: string;
    neonControlUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const postgres = await startPostgres({
    dataDir: ".data/test-workers",
    port: 54371,
    persistent: false,
    quiet: true,
  });
  const databaseUrl = postgres.urlFor("driver_calls_test");
  await postgres.createDatabase("driver_calls_test");
  await applyMigrations(databaseUrl);
  const endpoint = await startNeonHttpEndpoint({});

  project.provide("databaseUrl", databaseUrl);
  project.provide("neonHttpEndpoint", endpoint.url);
  project.provide("neonControlUrl", endpoint.url.replace(/\/sql$/, "/__control"));

  return async () => {
    await endpoint.stop();
    await postgres.stop();
  };
}
