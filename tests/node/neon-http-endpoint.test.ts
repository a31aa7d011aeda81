// The local Neon HTTP endpoint, driven by the real Neon driver (HTTP mode) in Node: its
// answers must be what the driver expects from Neon, or every other test proves nothing.
import { NeonDbError, neon, neonConfig } from "@neondatabase/serverless";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  freePort,
  type RunningPostgres,
  startPostgres,
} from "../../scripts/lib/embedded-postgres.ts";
import {
  type NeonHttpEndpoint,
  startNeonHttpEndpoint,
} from "../../scripts/lib/neon-http-endpoint.ts";

let postgres: RunningPostgres;
let endpoint: NeonHttpEndpoint;
let databaseUrl: string;

beforeAll(async () => {
  postgres = await startPostgres({
    dataDir: `.data/test-neon-endpoint-${process.pid}`,
    port: await freePort(),
    persistent: false,
    quiet: true,
  });
  await postgres.createDatabase("endpoint_test");
  databaseUrl = postgres.urlFor("endpoint_test");
  endpoint = await startNeonHttpEndpoint({});
  neonConfig.fetchEndpoint = endpoint.url;
  await neon(databaseUrl).query(
    "CREATE TABLE items (id serial PRIMARY KEY, name text UNIQUE NOT NULL, seen_at timestamptz, data jsonb, tags text[], price numeric, ok boolean)",
  );
});

afterAll(async () => {
  await endpoint?.stop();
  await postgres?.stop();
});

const scoped = (scope: string) => {
  const url = new URL(databaseUrl);
  url.searchParams.set("scope", scope);
  return neon(url.toString());
};

describe("the local Neon HTTP endpoint", () => {
  it("returns rows the driver parses by type: integers, text, timestamptz, jsonb, arrays, numeric, booleans, NULLs", async () => {
    const sql = neon(databaseUrl);
    const [row] = await sql.query(
      "INSERT INTO items (name, seen_at, data, tags, price, ok) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
      [
        "typed",
        "2026-11-23T08:05:09.120-06:00",
        JSON.stringify({ a: [1, "two"] }),
        ["x", "y"],
        "12.50",
        true,
      ],
    );
    expect(row).toEqual({
      id: expect.any(Number),
      name: "typed",
      seen_at: new Date("2026-11-23T14:05:09.120Z"),
      data: { a: [1, "two"] },
      tags: ["x", "y"],
      price: "12.50",
      ok: true,
    });
    const [nulls] = await sql.query(
      "SELECT NULL::int AS n, NULL::text AS t, NULL::timestamptz AS ts",
    );
    expect(nulls).toEqual({ n: null, t: null, ts: null });
  });

  it("runs sessions in UTC, as Neon does", async () => {
    const [row] = await neon(databaseUrl).query(
      "SELECT current_setting('TimeZone') AS tz, '2026-01-01 00:00'::timestamptz::text AS t",
    );
    expect(row).toEqual({ tz: "UTC", t: "2026-01-01 00:00:00+00" });
  });

  it("answers a Postgres error the way the driver turns into NeonDbError with its code and constraint", async () => {
    const sql = neon(databaseUrl);
    await sql.query("INSERT INTO items (name) VALUES ('dup')");
    const error = await sql
      .query("INSERT INTO items (name) VALUES ('dup')")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NeonDbError);
    expect(error).toMatchObject({
      code: "23505",
      constraint: "items_name_key",
      table: "items",
      severity: "ERROR",
    });
    await expect(sql.query("SELECT * FROM nowhere")).rejects.toMatchObject({ code: "42P01" });
  });

  it("runs a batch as one transaction: a failing statement rolls the earlier ones back", async () => {
    const sql = neon(databaseUrl);
    await expect(
      sql.transaction([
        sql.query("INSERT INTO items (name) VALUES ('batch-1')"),
        sql.query("INSERT INTO items (name) VALUES ('batch-1')"),
      ]),
    ).rejects.toMatchObject({ code: "23505" });
    expect(await sql.query("SELECT * FROM items WHERE name = 'batch-1'")).toEqual([]);
    const [first, second] = await sql.transaction([
      sql.query("INSERT INTO items (name) VALUES ('batch-2') RETURNING name"),
      sql.query("SELECT count(*)::int AS n FROM items WHERE name = 'batch-2'"),
    ]);
    expect(first).toEqual([{ name: "batch-2" }]);
    expect(second).toEqual([{ n: 1 }]);
  });

  it("honours the batch isolation level and read-only flag", async () => {
    const sql = neon(databaseUrl);
    const [[level]] = (await sql.transaction(
      [sql.query("SELECT current_setting('transaction_isolation') AS level")],
      {
        isolationLevel: "Serializable",
      },
    )) as [[{ level: string }]];
    expect(level).toEqual({ level: "serializable" });
    await expect(
      sql.transaction([sql.query("INSERT INTO items (name) VALUES ('ro')")], { readOnly: true }),
    ).rejects.toMatchObject({ code: "25006" });
  });

  it("refuses several statements in one query, as Neon's extended protocol does", async () => {
    await expect(neon(databaseUrl).query("SELECT 1; SELECT 2")).rejects.toMatchObject({
      code: "42601",
    });
  });

  it("injects faults for one scope only: 503, a dropped connection, a lost answer after commit", async () => {
    endpoint.control({ scope: "a", fail: { mode: "http_503", count: 1 } });
    await expect(scoped("b").query("SELECT 1 AS one")).resolves.toEqual([{ one: 1 }]);
    await expect(scoped("a").query("SELECT 1")).rejects.toThrow(/Server error \(HTTP status 503\)/);
    await expect(scoped("a").query("SELECT 1 AS one")).resolves.toEqual([{ one: 1 }]);

    endpoint.control({ scope: "a", fail: { mode: "drop", count: 1 } });
    await expect(scoped("a").query("SELECT 1")).rejects.toThrow(/Error connecting to database/);

    endpoint.control({ scope: "a", fail: { mode: "drop_after_commit", count: 1 } });
    await expect(
      scoped("a").query("INSERT INTO items (name) VALUES ('lost-answer')"),
    ).rejects.toThrow(/Error connecting to database/);
    expect(
      await neon(databaseUrl).query("SELECT name FROM items WHERE name = 'lost-answer'"),
    ).toHaveLength(1);
  });

  it("delays each request of a scope by the set time, and logs the statements it ran", async () => {
    endpoint.control({ scope: "slow", delayMs: 60 });
    const started = performance.now();
    await scoped("slow").query("SELECT 1");
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    expect(endpoint.statements("slow").map((entry) => entry.query)).toEqual(["SELECT 1"]);
    endpoint.control({ scope: "slow", reset: true });
    expect(endpoint.statements("slow")).toEqual([]);
  });

  it("answers 503 (a transient fault for the driver) when Postgres is unreachable", async () => {
    const url = new URL(databaseUrl);
    url.port = String(await freePort());
    await expect(neon(url.toString()).query("SELECT 1")).rejects.toThrow(
      /Server error \(HTTP status 503\)/,
    );
  });
});
