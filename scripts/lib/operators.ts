// Operators from the command line (`npm run operator`) and `npm run dev`'s Dev Operator.
//
// The Worker's own functions (src/operators/repository.ts) run over the Neon HTTP driver
// inside workerd; scripts run in Node, which cannot load src/ (extensionless imports), so
// the three statements are written here again over `pg`, with the same rules: only the
// token's SHA-256 is stored, and every change writes its audit event in the same statement.
import { createHash, randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import pg from "pg";

export interface OperatorRow {
  id: string;
  name: string;
  email: string | null;
  has_token: boolean;
  created_at: string;
  revoked_at: string | null;
}

const COLUMNS = `id::text AS id, name, email, token_hash IS NOT NULL AS has_token,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at,
  to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS revoked_at`;

export function newOperatorToken(): string {
  return `dco_${randomBytes(32).toString("base64url")}`;
}

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/** The audit actor of a command run by hand: the system, naming the OS user who ran it. */
function cliActorName(): string {
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (a container): "unknown" it is.
  }
  return `operator command (${user})`;
}

async function withClient<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function addOperator(
  databaseUrl: string,
  operator: { name: string; email?: string | null; token?: string },
): Promise<{ operator: OperatorRow; token: string }> {
  const token = operator.token ?? newOperatorToken();
  const email = operator.email ? operator.email.trim().toLowerCase() : null;
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<OperatorRow>(
      `WITH added AS (
         INSERT INTO operators (name, email, token_hash) VALUES ($1, $2, $3) RETURNING *
       ),
       audited AS (
         INSERT INTO audit_events (actor_kind, actor_name, action, subject_type, subject_id, detail)
         SELECT 'system', $4, 'operator.added', 'operator', id::text,
                jsonb_build_object('name', name, 'email', email, 'via', 'token')
         FROM added
       )
       SELECT ${COLUMNS} FROM added`,
      [operator.name, email, sha256Hex(token), cliActorName()],
    );
    const added = rows[0];
    if (!added) throw new Error("INSERT of an operator returned no row");
    return { operator: added, token };
  });
}

export async function listOperators(databaseUrl: string): Promise<OperatorRow[]> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<OperatorRow>(
      `SELECT ${COLUMNS} FROM operators ORDER BY created_at, id`,
    );
    return rows;
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Revokes by id or email; their console sessions end in the same statement. */
export async function revokeOperator(
  databaseUrl: string,
  idOrEmail: string,
): Promise<{ operator: OperatorRow; sessionsEnded: number; alreadyRevoked: boolean } | null> {
  const byId = UUID.test(idOrEmail);
  const match = byId ? "id = $1::uuid" : "email = lower($1)";
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<OperatorRow & { sessions_ended: number; changed: boolean }>(
      `WITH revoked AS (
         UPDATE operators SET revoked_at = now() WHERE ${match} AND revoked_at IS NULL RETURNING *
       ),
       ended AS (
         UPDATE console_sessions SET ended_at = now()
         WHERE operator_id IN (SELECT id FROM revoked) AND ended_at IS NULL
         RETURNING 1
       ),
       audited AS (
         INSERT INTO audit_events (actor_kind, actor_name, action, subject_type, subject_id, detail)
         SELECT 'system', $2, 'operator.revoked', 'operator', id::text,
                jsonb_build_object('name', name, 'sessions_ended', (SELECT count(*) FROM ended))
         FROM revoked
       )
       SELECT ${COLUMNS}, (SELECT count(*) FROM ended)::int AS sessions_ended, true AS changed FROM revoked
       UNION ALL
       SELECT ${COLUMNS}, 0, false FROM operators
       WHERE ${match} AND NOT EXISTS (SELECT 1 FROM revoked)`,
      [idOrEmail.trim(), cliActorName()],
    );
    const row = rows[0];
    if (!row) return null;
    const { sessions_ended: sessionsEnded, changed, ...operator } = row;
    return { operator, sessionsEnded, alreadyRevoked: !changed };
  });
}

/**
 * `npm run dev`: the Dev Operator with the token from .dev.vars, so the console opens out
 * of the box. Created once; left alone if an operator already holds that token (even a
 * revoked one: someone revoked it on purpose).
 */
export async function ensureOperatorWithToken(
  databaseUrl: string,
  operator: { name: string; token: string },
): Promise<"created" | "exists"> {
  const exists = await withClient(databaseUrl, async (client) => {
    const { rows } = await client.query("SELECT 1 FROM operators WHERE token_hash = $1", [
      sha256Hex(operator.token),
    ]);
    return rows.length > 0;
  });
  if (exists) return "exists";
  await addOperator(databaseUrl, operator);
  return "created";
}
