// drizzle-kit's configuration (`npm run db:generate`). The schema in src/db/schema.ts is
// the final state; the SQL in drizzle/ is what runs (npm run db:migrate).
import { defineConfig } from "drizzle-kit";

const url = process.env.DATABASE_URL;
if (!url) {
  // Fail loudly rather than let drizzle-kit connect somewhere unintended.
  throw new Error(
    "drizzle.config.ts: DATABASE_URL is not set. Set it to the Postgres you mean, e.g.\n" +
      "  DATABASE_URL=postgres://postgres:postgres@127.0.0.1:54329/driver_calls npx drizzle-kit generate\n" +
      "(the local dev URL is in .dev.vars).",
  );
}

export default defineConfig({
  schema: "./src/db/schema.ts",
  out: "./drizzle",
  dialect: "postgresql",
  dbCredentials: { url },
  // drizzle's defaults, spelled out because scripts/lib/migrations.ts relies on them.
  migrations: { table: "__drizzle_migrations", schema: "drizzle" },
});
