// How many calls are live right now, for the console's "Live calls: n of MAX_LIVE_CALLS".
// Every dialed call holds one row of live_call_slots until it ends (claim.ts; the trigger
// of migration 0008 frees it), so the count is that table's size: at most MAX_LIVE_CALLS
// rows, cheaper than counting IN_PROGRESS calls in the whole calls table.
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";

export async function countLiveCalls(db: Database): Promise<number> {
  const { rows } = await withDbRetry(() =>
    db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM live_call_slots`),
  );
  return Number(rows[0]?.n ?? 0);
}
