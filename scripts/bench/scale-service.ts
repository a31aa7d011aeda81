// The service's own database functions for `npm run bench:scale`, loaded from src/ as the
// Worker runs them. src/ is Worker code with extensionless imports that Node cannot load as
// they are, so esbuild (as in scripts/lint-api.ts) bundles them once into the bench's work
// directory; bundling at start also means that an edit under src/ during a run (other
// people work in this checkout) cannot change the statements in the middle of it. The
// bundle carries its own copy of @neondatabase/serverless: its neonConfig is the one the
// bundled createDatabase() configures, so that is the one exported here.
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

type Db = unknown;

export interface ServiceFunctions {
  createDatabase(databaseUrl: string, localEndpoint?: string): Db;
  neonConfig: { fetchFunction: unknown; fetchEndpoint: unknown };
  claimCampaignTargets(
    db: Db,
    options: { want: number; maxLiveCalls: number; now: Date; claimId?: string },
  ): Promise<{
    calls: unknown[];
    freeSlotsLeft: number;
    moreDue: boolean;
    skippedInCampaigns: string[];
  }>;
  placeWaitingTargets(db: Db, options: { now: Date; targetIds?: number[] }): Promise<unknown[]>;
  completeFinishedCampaigns(db: Db, campaignIds?: string[]): Promise<void>;
  listCalls(
    db: Db,
    query: { driverId?: number; status?: string; limit: number; cursor?: string },
  ): Promise<{ calls: unknown[]; nextCursor: string | null }>;
  deleteExpiredIdempotencyKeys(db: Db, limit?: number): Promise<number>;
  sweepInbox(
    context: { db: Db; queue: undefined; log: unknown; now: Date },
    options?: { applyOnly?: boolean },
  ): Promise<{ applied: number; dropped: number }>;
  createLogger(fields: Record<string, unknown>, sink?: (line: string) => void): unknown;
}

export async function loadServiceFunctions(workDir: string): Promise<ServiceFunctions> {
  const outfile = join(workDir, "service.mjs");
  await build({
    stdin: {
      contents: [
        'export { createDatabase } from "./src/db/client.ts";',
        'export { neonConfig } from "@neondatabase/serverless";',
        'export { claimCampaignTargets } from "./src/dispatch/claim.ts";',
        'export { placeWaitingTargets, completeFinishedCampaigns } from "./src/dispatch/targets.ts";',
        'export { listCalls } from "./src/calls/read.ts";',
        'export { deleteExpiredIdempotencyKeys } from "./src/http/idempotency.ts";',
        'export { sweepInbox } from "./src/elevenlabs/inbox.ts";',
        'export { createLogger } from "./src/http/log.ts";',
      ].join("\n"),
      resolveDir: ROOT,
      loader: "ts",
    },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    outfile,
    logLevel: "error",
  });
  return (await import(pathToFileURL(outfile).href)) as ServiceFunctions;
}
