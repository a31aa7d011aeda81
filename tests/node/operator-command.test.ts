// `npm run operator -- add|list|revoke` against a real Postgres migrated as production is:
// the token printed once and stored only as its SHA-256, the list, revocation ending the
// operator's console sessions, each change in the audit trail, and clear refusals.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  freePort,
  type RunningPostgres,
  startPostgres,
} from "../../scripts/lib/embedded-postgres.ts";
import { applyMigrations } from "../../scripts/lib/migrations.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/operator.ts", import.meta.url));

let postgres: RunningPostgres;
let databaseUrl: string;

beforeAll(async () => {
  postgres = await startPostgres({
    dataDir: `.data/test-operator-command-${process.pid}`,
    port: await freePort(),
    persistent: false,
    quiet: true,
  });
  await postgres.createDatabase("operators");
  databaseUrl = postgres.urlFor("operators");
  await applyMigrations(databaseUrl);
}, 60_000);

afterAll(async () => {
  await postgres?.stop();
});

function operator(...args: string[]) {
  return spawnSync(process.execPath, [SCRIPT, ...args], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    encoding: "utf8",
  });
}

async function query<T extends pg.QueryResultRow>(text: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

describe("npm run operator", () => {
  it("adds an operator and prints the token once; only its SHA-256 is stored; the addition is audited", async () => {
    const added = operator("add", "Ana", "Ruiz", "--email", "Ana@Fleet.example");
    expect(added.status, added.stderr).toBe(0);
    const token = /Token: (dco_[A-Za-z0-9_-]{43})\n/.exec(added.stdout)?.[1];
    expect(token).toBeDefined();
    const [row] = await query<{ name: string; email: string; token_hash: string }>(
      "SELECT name, email, token_hash FROM operators",
    );
    expect(row).toEqual({
      name: "Ana Ruiz",
      email: "ana@fleet.example",
      token_hash: createHash("sha256")
        .update(token ?? "")
        .digest("hex"),
    });
    const audit = await query("SELECT actor_kind, action, detail FROM audit_events");
    expect(audit).toEqual([
      {
        actor_kind: "system",
        action: "operator.added",
        detail: { name: "Ana Ruiz", email: "ana@fleet.example", via: "token" },
      },
    ]);

    const list = operator("list");
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/Ana Ruiz <ana@fleet\.example> {2}\(token, added .*, active\)/);
    expect(list.stdout).not.toContain(token);

    const duplicate = operator("add", "Another Ana", "--email", "ana@fleet.example");
    expect(duplicate.status).toBe(1);
    expect(duplicate.stderr).toContain(
      "An operator with the email ana@fleet.example exists already.",
    );
  });

  it("revokes by email or id: their console sessions end at once; a second revoke says so", async () => {
    const added = operator("add", "Ben Okafor");
    expect(added.status).toBe(0);
    const [ben] = await query<{ id: string }>(
      "SELECT id::text AS id FROM operators WHERE name = 'Ben Okafor'",
    );
    await query(
      "INSERT INTO console_sessions (id_hash, operator_id, expires_at) VALUES ('a', $1, now() + interval '1 hour'), ('b', $1, now() + interval '1 hour')",
      [ben?.id],
    );
    const revoked = operator("revoke", ben?.id ?? "");
    expect(revoked.status, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(
      "Revoked Ben Okafor: their token no longer works, and 2 open console session(s) ended.",
    );
    expect(await query("SELECT 1 FROM console_sessions WHERE ended_at IS NULL")).toEqual([]);
    const again = operator("revoke", ben?.id ?? "");
    expect(again.status).toBe(0);
    expect(again.stdout).toContain("Ben Okafor was already revoked");
    const actions = await query<{ action: string }>(
      "SELECT action FROM audit_events WHERE subject_id = $1 ORDER BY id",
      [ben?.id],
    );
    expect(actions.map((row) => row.action)).toEqual(["operator.added", "operator.revoked"]);
    expect(operator("list").stdout).toMatch(/Ben Okafor {2}\(token, added .*, revoked .*\)/);
  });

  it("refuses unknown commands, a missing name and an unknown operator with exit code 1 and the usage", () => {
    for (const [args, message] of [
      [[], "Usage:"],
      [["delete", "x"], 'Unknown command "delete"'],
      [["add"], "add needs a name"],
      [["add", "Cy", "--email", "not-an-email"], "--email must be an email address"],
      [
        ["revoke", "nobody@fleet.example"],
        'No operator has the id or email "nobody@fleet.example"',
      ],
    ] as const) {
      const result = operator(...args);
      expect(result.status, args.join(" ")).toBe(1);
      expect(result.stderr, args.join(" ")).toContain(message);
    }
  });
});
