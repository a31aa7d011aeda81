// `npm run db:rollback -- <target>`: undoes the migrations after <target>, newest first,
// in one transaction (see rollbackTo). <target> stays applied; `none` undoes all.
import {
  appliedMigrations,
  databaseUrlFromEnv,
  migrationTags,
  redactUrl,
  rollbackTo,
} from "./lib/migrations.ts";

const target = process.argv[2];
if (!target) {
  console.error(
    "usage: npm run db:rollback -- <target>\n" +
      "  Undoes every migration after <target>; <target> itself stays applied.\n" +
      `  <target>: one of ${migrationTags().join(", ")},\n` +
      '  its number (e.g. 0003), or "none" to undo every migration.',
  );
  process.exit(1);
}

const databaseUrl = databaseUrlFromEnv();
if (!databaseUrl) {
  console.error("DATABASE_URL is not set and .dev.vars has none.");
  process.exit(1);
}

console.log(`Rolling back ${redactUrl(databaseUrl)} to ${target}`);
try {
  const { rolledBack } = await rollbackTo(databaseUrl, target, {
    log: (line) => console.log(`  ${line}`),
  });
  const remaining = await appliedMigrations(databaseUrl);
  console.log(
    rolledBack.length === 0
      ? "Nothing to roll back."
      : `Rolled back ${rolledBack.length} migration(s): ${rolledBack.join(", ")}`,
  );
  console.log(`Applied now: ${remaining.length === 0 ? "none" : remaining.join(", ")}`);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
