// The migrations from the legacy conversation_id schema to call_sid, and their rollbacks,
// against a real PostgreSQL: every test gets its own fresh database.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningPostgres, startPostgres } from "../../scripts/lib/embedded-postgres.ts";
import {
  appliedMigrations,
  applyMigrations,
  migrationTags,
  rollbackTo,
} from "../../scripts/lib/migrations.ts";

const TAGS = migrationTags();
const CALL_SID = /^EL_(\d+|UNKNOWN)_\d+(_\d+)?$/;

let postgres: RunningPostgres;

beforeAll(async () => {
  postgres = await startPostgres({
    dataDir: ".data/test-migrations",
    port: 54380,
    persistent: false,
    quiet: true,
  });
}, 60_000);

afterAll(async () => {
  await postgres?.stop();
});

async function freshDatabase(): Promise<string> {
  const name = `mig_${randomBytes(6).toString("hex")}`;
  await postgres.createDatabase(name);
  return postgres.urlFor(name);
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function rows<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  return withClient(url, async (client) => (await client.query<T>(text)).rows);
}

async function count(url: string, text: string): Promise<number> {
  const [row] = await rows<{ count: string }>(url, text);
  return Number(row?.count);
}

/** Everything about the public schema that a migration can change, in a stable order. */
async function catalogSnapshot(url: string) {
  return {
    columns: await rows(
      url,
      `SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default
       FROM information_schema.columns WHERE table_schema = 'public'
       ORDER BY table_name, column_name`,
    ),
    constraints: await rows(
      url,
      `SELECT conrelid::regclass::text AS table_name, conname, contype, pg_get_constraintdef(oid) AS definition
       FROM pg_constraint WHERE connamespace = 'public'::regnamespace
       ORDER BY conrelid::regclass::text, conname`,
    ),
    indexes: await rows(
      url,
      `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
       ORDER BY tablename, indexname`,
    ),
    triggers: await rows(
      url,
      `SELECT tgrelid::regclass::text AS table_name, tgname, pg_get_triggerdef(oid) AS definition
       FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2`,
    ),
    functions: await rows(
      url,
      `SELECT proname, md5(prosrc) AS body FROM pg_proc
       WHERE pronamespace = 'public'::regnamespace ORDER BY proname`,
    ),
  };
}

/**
 * Legacy data, set-based: 1,200 calls over 300 seconds and 7 drivers, so most rows share
 * their driver and second with others; every 10th driver_id is NULL. Plus a burst of four
 * calls of driver 777 within one second whose created_at order is the reverse of their id
 * order (suffixes must follow id), and three transcriptions for every 50th call.
 */
async function seedLegacy(url: string): Promise<void> {
  await withClient(url, async (client) => {
    await client.query(`
      INSERT INTO calls (conversation_id, driver_id, status, created_at)
      SELECT 'conv_' || i,
             CASE WHEN i % 10 = 0 THEN NULL ELSE i % 7 END,
             (ARRAY['IN_PROGRESS', 'COMPLETED', 'FAILED'])[1 + i % 3],
             timestamptz '2025-03-01 10:00:00+00' + (i % 300) * interval '1 second'
               + (i % 1000) * interval '1 millisecond'
      FROM generate_series(1, 1200) AS i`);
    await client.query(`
      INSERT INTO calls (conversation_id, driver_id, created_at)
      VALUES ('burst_a', 777, '2025-03-01 12:00:00.900+00'),
             ('burst_b', 777, '2025-03-01 12:00:00.500+00'),
             ('burst_c', 777, '2025-03-01 12:00:00.200+00'),
             ('burst_d', 777, '2025-03-01 12:00:00.000+00')`);
    await client.query(`
      INSERT INTO call_transcriptions (conversation_id, speaker, message, "timestamp", sequence_number)
      SELECT c.conversation_id, CASE WHEN n % 2 = 1 THEN 'agent' ELSE 'user' END, 'line ' || n,
             c.created_at + n * interval '1 second', n
      FROM calls c CROSS JOIN generate_series(1, 3) AS n
      WHERE c.id % 50 = 0`);
  });
}

describe("migrations", () => {
  it("migrates a legacy database to call_sid, unique and indexed", async () => {
    const url = await freshDatabase();
    await applyMigrations(url, { to: "0000" });
    await seedLegacy(url);
    const before = await count(url, "SELECT count(*) FROM calls");

    const log: string[] = [];
    const { applied } = await applyMigrations(url, { log: (line) => log.push(line) });

    expect(applied).toEqual(TAGS.slice(1));
    expect(log).toContain(`NOTICE: backfilled ${before} calls with a call_sid`);
    const calls = await rows<{ id: number; call_sid: string }>(
      url,
      "SELECT id, call_sid FROM calls ORDER BY id",
    );
    expect(calls.length).toBe(before);
    for (const call of calls) expect(call.call_sid).toMatch(CALL_SID);
    expect(new Set(calls.map((call) => call.call_sid)).size).toBe(calls.length);
    // Every 10th legacy call has no driver: exactly those 120 are EL_UNKNOWN_, the others
    // carry their own driver_id.
    const drivers = await rows<{ call_sid: string; driver_id: number | null }>(
      url,
      "SELECT call_sid, driver_id FROM calls ORDER BY id",
    );
    expect(drivers.filter((call) => call.driver_id === null)).toHaveLength(120);
    for (const call of drivers) {
      expect(call.call_sid).toMatch(
        call.driver_id === null ? /^EL_UNKNOWN_/ : new RegExp(`^EL_${call.driver_id}_`),
      );
    }

    // The burst: ids in insert order a < b < c < d, all in second 12:00:00.
    const second = Date.parse("2025-03-01T12:00:00Z") / 1000;
    const burst = await rows<{ conversation_id: string; call_sid: string }>(
      url,
      "SELECT conversation_id, call_sid FROM calls WHERE driver_id = 777 ORDER BY id",
    );
    expect(burst).toEqual([
      { conversation_id: "burst_a", call_sid: `EL_777_${second}` },
      { conversation_id: "burst_b", call_sid: `EL_777_${second}_2` },
      { conversation_id: "burst_c", call_sid: `EL_777_${second}_3` },
      { conversation_id: "burst_d", call_sid: `EL_777_${second}_4` },
    ]);

    const columns = await rows<{ column_name: string; is_nullable: string }>(
      url,
      `SELECT column_name, is_nullable FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = 'calls'
         AND column_name IN ('call_sid', 'conversation_id') ORDER BY column_name`,
    );
    expect(columns).toEqual([
      { column_name: "call_sid", is_nullable: "NO" },
      { column_name: "conversation_id", is_nullable: "YES" },
    ]);
    const unique = await rows(
      url,
      `SELECT contype, pg_get_constraintdef(oid) AS definition FROM pg_constraint
       WHERE conname = 'uq_calls_call_sid' AND conrelid = 'calls'::regclass`,
    );
    expect(unique).toEqual([{ contype: "u", definition: "UNIQUE (call_sid)" }]);
    const indexes = await rows(
      url,
      `SELECT indexname, indexdef FROM pg_indexes
       WHERE tablename = 'calls' AND indexname IN ('idx_calls_call_sid', 'idx_calls_call_sid_status')
       ORDER BY indexname`,
    );
    expect(indexes).toEqual([
      {
        indexname: "idx_calls_call_sid",
        indexdef: "CREATE INDEX idx_calls_call_sid ON public.calls USING btree (call_sid)",
      },
      {
        indexname: "idx_calls_call_sid_status",
        indexdef:
          "CREATE INDEX idx_calls_call_sid_status ON public.calls USING btree (call_sid, status)",
      },
    ]);

    const sequences = await rows<{ expected: number; actual: number }>(
      url,
      `SELECT coalesce((SELECT max(t.sequence_number) FROM call_transcriptions t
                        WHERE t.conversation_id = c.conversation_id), 0) AS expected,
              c.last_sequence_number AS actual
       FROM calls c`,
    );
    expect(sequences.filter((row) => row.expected === 3)).toHaveLength(24);
    expect(sequences.filter((row) => row.expected !== row.actual)).toEqual([]);
  });

  it("skips call_sids that are already taken when the backfill meets filled rows", async () => {
    const url = await freshDatabase();
    await applyMigrations(url, { to: "0000" });
    await withClient(url, async (client) => {
      await client.query(`
        INSERT INTO calls (conversation_id, driver_id, created_at)
        SELECT 'c' || i, 5, timestamptz '2025-01-01 00:01:40+00' FROM generate_series(1, 4) AS i`);
    });
    await applyMigrations(url, { to: "0001" });
    const base = `EL_5_${Date.parse("2025-01-01T00:01:40Z") / 1000}`;
    // Taken by rows filled earlier: the bare base and the _3 suffix.
    await withClient(url, async (client) => {
      await client.query(
        `INSERT INTO calls (conversation_id, driver_id, call_sid) VALUES ('x1', 5, $1), ('x2', 5, $2)`,
        [base, `${base}_3`],
      );
    });
    const log: string[] = [];
    await applyMigrations(url, { log: (line) => log.push(line) });

    expect(log).toContain("NOTICE: backfilled 4 calls with a call_sid");
    const sids = await rows<{ conversation_id: string; call_sid: string }>(
      url,
      "SELECT conversation_id, call_sid FROM calls ORDER BY id",
    );
    expect(sids).toEqual([
      { conversation_id: "c1", call_sid: `${base}_2` },
      { conversation_id: "c2", call_sid: `${base}_4` },
      { conversation_id: "c3", call_sid: `${base}_5` },
      { conversation_id: "c4", call_sid: `${base}_6` },
      { conversation_id: "x1", call_sid: base },
      { conversation_id: "x2", call_sid: `${base}_3` },
    ]);
  });

  it("rolls back to 0000 and migrates up again to the same schema", async () => {
    const url = await freshDatabase();
    await applyMigrations(url, { to: "0000" });
    await seedLegacy(url);
    await applyMigrations(url);
    const migrated = await catalogSnapshot(url);
    const sidsBefore = await rows(url, "SELECT id, call_sid FROM calls ORDER BY id");

    const { rolledBack } = await rollbackTo(url, "0000");
    expect(rolledBack).toEqual(TAGS.slice(1).reverse());
    expect(await appliedMigrations(url)).toEqual([TAGS[0]]);
    const { applied } = await applyMigrations(url);
    expect(applied).toEqual(TAGS.slice(1));

    expect(await catalogSnapshot(url)).toEqual(migrated);
    // The backfill is deterministic: the same legacy rows get the same call_sids again.
    expect(await rows(url, "SELECT id, call_sid FROM calls ORDER BY id")).toEqual(sidsBefore);

    // And an empty database migrated in one go ends in that same schema.
    const fresh = await freshDatabase();
    await applyMigrations(fresh);
    expect(await catalogSnapshot(fresh)).toEqual(migrated);
  });

  it("undoes exactly one migration per step, down to nothing", async () => {
    // After rolling back to k the schema must equal a fresh database migrated up to k.
    const url = await freshDatabase();
    await applyMigrations(url);
    for (let k = TAGS.length - 2; k >= -1; k--) {
      const target = k === -1 ? "none" : (TAGS[k] as string);
      const { rolledBack } = await rollbackTo(url, target);
      expect(rolledBack).toEqual([TAGS[k + 1]]);
      expect(await appliedMigrations(url)).toEqual(TAGS.slice(0, k + 1));
      const reference = await freshDatabase();
      await applyMigrations(reference, { to: target });
      expect(await catalogSnapshot(url), `schema after rolling back to ${target}`).toEqual(
        await catalogSnapshot(reference),
      );
    }
  });

  it("removes each step's own changes on the way down", async () => {
    const url = await freshDatabase();
    await applyMigrations(url, { to: "0000" });
    await seedLegacy(url);
    await applyMigrations(url);
    const calls = async () =>
      (await catalogSnapshot(url)).columns.filter((c) => c.table_name === "calls");
    const column = async (name: string) => (await calls()).find((c) => c.column_name === name);
    const names = async () => {
      const snapshot = await catalogSnapshot(url);
      return [
        ...snapshot.constraints.map((c) => c.conname),
        ...snapshot.indexes.map((i) => i.indexname),
      ];
    };

    await rollbackTo(url, "0004");
    expect(await column("failure_reason")).toBeUndefined();
    expect(await column("last_sequence_number")).toBeUndefined();
    for (const gone of [
      "ck_calls_status",
      "idx_calls_created_at_id",
      "idx_calls_status_created_at",
      "uq_call_transcriptions_utterance",
    ]) {
      expect(await names()).not.toContain(gone);
    }

    await rollbackTo(url, "0003");
    expect((await column("conversation_id"))?.is_nullable).toBe("NO");

    await rollbackTo(url, "0002");
    for (const gone of ["uq_calls_call_sid", "idx_calls_call_sid", "idx_calls_call_sid_status"]) {
      expect(await names()).not.toContain(gone);
    }
    expect((await column("call_sid"))?.is_nullable).toBe("YES");
    expect(await count(url, "SELECT count(call_sid) FROM calls")).toBe(1204);

    await rollbackTo(url, "0001");
    expect(await count(url, "SELECT count(call_sid) FROM calls")).toBe(0);

    await rollbackTo(url, "0000");
    expect(await column("call_sid")).toBeUndefined();
    // The legacy data survived the round trip.
    expect(await count(url, "SELECT count(*) FROM calls")).toBe(1204);
  });

  it("refuses the 0004 rollback while calls without a conversation_id exist, changing nothing", async () => {
    const url = await freshDatabase();
    await applyMigrations(url, { to: "0000" });
    await seedLegacy(url);
    await applyMigrations(url);
    await withClient(url, async (client) => {
      await client.query(
        "INSERT INTO calls (call_sid, driver_id, status) VALUES ('EL_1_1', 1, 'FAILED'), ('EL_2_1', 2, 'FAILED')",
      );
    });
    const schema = await catalogSnapshot(url);
    const data = await rows(url, "SELECT * FROM calls ORDER BY id");

    // 0005's down runs first and succeeds; the refusal of 0004 must undo it as well.
    const attempt = rollbackTo(url, "0003");
    await expect(attempt).rejects.toThrow(
      /cannot roll back 0004: 2 calls have a NULL conversation_id/,
    );
    await expect(attempt).rejects.toThrow(/Nothing was rolled back/);

    expect(await catalogSnapshot(url)).toEqual(schema);
    expect(await rows(url, "SELECT * FROM calls ORDER BY id")).toEqual(data);
    expect(await appliedMigrations(url)).toEqual(TAGS);

    // Once they are gone, the same rollback goes through.
    await withClient(url, (client) =>
      client.query("DELETE FROM calls WHERE conversation_id IS NULL"),
    );
    expect((await rollbackTo(url, "0003")).rolledBack).toEqual(TAGS.slice(4).reverse());
  });

  it.each([
    [
      "0005",
      "UPDATE calls SET failure_reason = 'busy' WHERE id = (SELECT min(id) FROM calls)",
      /cannot roll back 0005: 1 calls hold a failure_reason/,
    ],
    [
      "0007",
      `UPDATE calls SET final_transcript = '[]'::jsonb WHERE id = (SELECT min(id) FROM calls)`,
      /cannot roll back 0007: 1 calls hold a final transcript and 0 a failure detail/,
    ],
    [
      "0008",
      "INSERT INTO do_not_call (phone_number, reason) VALUES ('+15551230042', 'opt_out')",
      /cannot roll back 0008: it would delete 0 campaigns and 1 do-not-call entries/,
    ],
    [
      "0009",
      "UPDATE calls SET call_successful = 'success' WHERE id = (SELECT min(id) FROM calls)",
      /cannot roll back 0009: 1 calls hold a post-call analysis/,
    ],
    [
      "0010",
      "INSERT INTO post_call_inbox (conversation_id, event_type, event) VALUES ('conv_early', 'call_initiation_failure', '{}')",
      /cannot roll back 0010: 1 post-call events wait in post_call_inbox/,
    ],
  ])(
    "refuses the %s rollback while it would delete data, changing nothing",
    async (tag, seed, refusal) => {
      const url = await freshDatabase();
      await applyMigrations(url, { to: "0000" });
      await seedLegacy(url);
      await applyMigrations(url);
      await withClient(url, (client) => client.query(seed));
      const schema = await catalogSnapshot(url);
      const data = await rows(url, "SELECT * FROM calls ORDER BY id");
      const attempt = rollbackTo(url, TAGS[TAGS.findIndex((t) => t.startsWith(tag)) - 1] as string);
      await expect(attempt).rejects.toThrow(refusal);
      expect(await catalogSnapshot(url)).toEqual(schema);
      expect(await rows(url, "SELECT * FROM calls ORDER BY id")).toEqual(data);
      expect(await appliedMigrations(url)).toEqual(TAGS);
    },
  );

  it("rolls 0016 back with an erased campaign target, which the code before it can read", async () => {
    const url = await freshDatabase();
    await applyMigrations(url);
    await withClient(url, async (client) => {
      await client.query(
        `INSERT INTO campaigns (id, calling_window, start_at, retry_max_attempts, retry_backoff_minutes, retry_on)
         VALUES ('00000000-0000-4000-8000-000000000016', '{"start":"08:00","end":"21:00","days":null}', now(), 3, 60, '{busy}')`,
      );
      await client.query(
        `INSERT INTO campaign_targets (campaign_id, position, driver_id, driver_name, phone_number, time_zone,
           violations, status, last_failure_reason, erased_at)
         VALUES ('00000000-0000-4000-8000-000000000016', 1, 1042, NULL, NULL, 'America/Chicago', '[]',
                 'CANCELLED', 'driver_erased', now())`,
      );
    });
    const before = TAGS[TAGS.findIndex((tag) => tag.startsWith("0016")) - 1] as string;
    await rollbackTo(url, before);
    const reference = await freshDatabase();
    await applyMigrations(reference, { to: before });
    expect(await catalogSnapshot(url)).toEqual(await catalogSnapshot(reference));
    expect(
      await rows(url, "SELECT driver_name, phone_number, status FROM campaign_targets"),
    ).toEqual([{ driver_name: "(erased)", phone_number: "", status: "CANCELLED" }]);
  });

  it("refuses to drop the legacy tables while they hold data", async () => {
    const url = await freshDatabase();
    await applyMigrations(url, { to: "0000" });
    await seedLegacy(url);
    await expect(rollbackTo(url, "none")).rejects.toThrow(/cannot roll back 0000: .*1204 calls/);
    expect(await appliedMigrations(url)).toEqual([TAGS[0]]);
  });

  it("is a no-op when migrated twice", async () => {
    const url = await freshDatabase();
    await applyMigrations(url, { to: "0000" });
    await seedLegacy(url);
    await applyMigrations(url);
    const schema = await catalogSnapshot(url);
    const data = await rows(url, "SELECT * FROM calls ORDER BY id");

    const log: string[] = [];
    expect(await applyMigrations(url, { log: (line) => log.push(line) })).toEqual({ applied: [] });
    expect(log).toEqual([]);
    expect(await catalogSnapshot(url)).toEqual(schema);
    expect(await rows(url, "SELECT * FROM calls ORDER BY id")).toEqual(data);
    expect(await count(url, "SELECT count(*) FROM drizzle.__drizzle_migrations")).toBe(TAGS.length);
  });

  it("names the known tags for an unknown target and accepts number prefixes", async () => {
    const url = await freshDatabase();
    await applyMigrations(url);
    await expect(rollbackTo(url, "0042")).rejects.toThrow(TAGS.join(", "));
    expect(await appliedMigrations(url)).toEqual(TAGS);
    expect((await rollbackTo(url, "0004")).rolledBack).toEqual(TAGS.slice(5).reverse());
  });

  it("db:rollback prints usage without a target and exits 1 on refusal", async () => {
    const url = await freshDatabase();
    await applyMigrations(url);
    await withClient(url, (client) =>
      client.query("INSERT INTO calls (call_sid, status) VALUES ('EL_3_1', 'FAILED')"),
    );
    const script = fileURLToPath(new URL("../../scripts/db-rollback.ts", import.meta.url));
    // process.execPath is the Node 22 that runs vitest (via npx), which runs .ts directly.
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [script, ...args], {
        env: { ...process.env, DATABASE_URL: url },
        encoding: "utf8",
      });

    const usage = run();
    expect(usage.status).toBe(1);
    expect(usage.stderr).toContain("usage: npm run db:rollback -- <target>");

    const refused = run("0003");
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("cannot roll back 0004: 1 calls have a NULL conversation_id");
    expect(await appliedMigrations(url)).toEqual(TAGS);
  });
});
