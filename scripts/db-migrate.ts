// `npm run db:migrate`: applies the pending migrations in drizzle/ to DATABASE_URL
// (from the environment, else from .dev.vars) and prints what it did.
import { applyMigrations, databaseUrlFromEnv, redactUrl } from "./lib/migrations.ts";

const databaseUrl = databaseUrlFromEnv();
if (!databaseUrl) {
  console.error(
    "DATABASE_URL is not set and .dev.vars has none. Set it, e.g.\n" +
      "  DATABASE_URL=postgres://user:pass@host/db npm run db:migrate",
  );
  process.exit(1);
}

console.log(`Migrating ${redactUrl(databaseUrl)}`);
try {
  // NOTICEs (e.g. the backfill's row count) and each applied tag arrive through log.
  const { applied } = await applyMigrations(databaseUrl, {
    log: (line) => console.log(`  ${line}`),
  });
  console.log(
    applied.length === 0
      ? "Nothing to apply: the database is up to date."
      : `Applied ${applied.length} migration(s): ${applied.join(", ")}`,
  );
} catch (error) {
  console.error(`Migration failed, nothing was applied: ${(error as Error).message}`);
  process.exit(1);
}
