// Operators: the people who use the console and the operator API, each with a token of
// their own or an identity Cloudflare Access asserts. Adding and revoking are audited in
// the same statement; revoking ends the operator's console sessions in the same statement.
import { sql } from "drizzle-orm";
import { type Actor, type AuditStamp, auditInsert } from "../audit/record";
import type { Database } from "../db/client";
import { isoUtc } from "../db/iso";
import { withDbRetry } from "../db/retry";
import { newOperatorToken, sha256Hex } from "./tokens";

export interface OperatorView extends Record<string, unknown> {
  id: string;
  name: string;
  email: string | null;
  has_token: boolean;
  created_at: string;
  revoked_at: string | null;
}

const operatorColumns = sql`id::text AS id, name, email, token_hash IS NOT NULL AS has_token,
  ${isoUtc(sql`created_at`)} AS created_at, ${isoUtc(sql`revoked_at`)} AS revoked_at`;

/** `operator.added` for each row of the statement's `added` CTE. */
function operatorAddedEntry(stamp: AuditStamp, via: "token" | "cloudflare_access") {
  return auditInsert(stamp, {
    action: "operator.added",
    subjectType: "operator",
    subjectId: sql`added.id::text`,
    detail: sql`jsonb_build_object('name', added.name, 'email', added.email, 'via', ${via}::text)`,
    from: sql`added`,
  });
}

export function operatorActor(operator: { id: string; name: string }): Actor {
  return { kind: "operator", id: operator.id, name: operator.name };
}

/** The operator a token belongs to, unless revoked. */
export async function findOperatorByToken(
  db: Database,
  token: string,
): Promise<OperatorView | null> {
  const hash = await sha256Hex(token);
  const { rows } = await withDbRetry(() =>
    db.execute<OperatorView>(sql`
      SELECT ${operatorColumns} FROM operators
      WHERE token_hash = ${hash} AND revoked_at IS NULL
    `),
  );
  return rows[0] ?? null;
}

/**
 * Adds an operator with a new token (returned once, never stored) or with a given one.
 */
export async function addOperator(
  db: Database,
  operator: { name: string; email?: string | null; token?: string },
  stamp: AuditStamp,
): Promise<{ operator: OperatorView; token: string }> {
  const token = operator.token ?? newOperatorToken();
  const tokenHash = await sha256Hex(token);
  const email = operator.email ? operator.email.trim().toLowerCase() : null;
  const { rows } = await withDbRetry(() =>
    db.execute<OperatorView>(sql`
      WITH added AS (
        INSERT INTO operators (name, email, token_hash)
        VALUES (${operator.name}, ${email}, ${tokenHash})
        RETURNING *
      ),
      audited AS (${operatorAddedEntry(stamp, "token")})
      SELECT ${operatorColumns} FROM added
    `),
  );
  const added = rows[0];
  if (!added) throw new Error("INSERT of an operator returned no row");
  return { operator: added, token };
}

/**
 * The operator Cloudflare Access asserted, created on first sight (named by the email's
 * local part until someone renames them) and audited as added by the system. A revoked
 * operator stays revoked: Access letting them in does not undo it.
 */
export async function operatorForAccessEmail(
  db: Database,
  email: string,
  stamp: AuditStamp,
): Promise<OperatorView> {
  const normalized = email.trim().toLowerCase();
  const name = normalized.split("@")[0] || normalized;
  const { rows } = await withDbRetry(() =>
    db.execute<OperatorView>(sql`
      WITH added AS (
        INSERT INTO operators (name, email) VALUES (${name.slice(0, 200)}, ${normalized})
        ON CONFLICT (email) WHERE email IS NOT NULL DO NOTHING
        RETURNING *
      ),
      audited AS (${operatorAddedEntry(stamp, "cloudflare_access")})
      SELECT ${operatorColumns} FROM added
      UNION ALL
      SELECT ${operatorColumns} FROM operators
      WHERE email = ${normalized} AND NOT EXISTS (SELECT 1 FROM added)
    `),
  );
  const operator = rows[0];
  if (!operator) throw new Error("operator neither added nor found");
  return operator;
}

export async function listOperators(db: Database): Promise<OperatorView[]> {
  const { rows } = await withDbRetry(() =>
    db.execute<OperatorView>(sql`SELECT ${operatorColumns} FROM operators ORDER BY created_at, id`),
  );
  return rows;
}

/**
 * Revokes an operator (by id or email): their token stops working and their open console
 * sessions end, in the same statement. Null when nobody matched; a second revoke is a no-op
 * that returns the operator as they are.
 */
export async function revokeOperator(
  db: Database,
  idOrEmail: string,
  stamp: AuditStamp,
): Promise<{ operator: OperatorView; sessionsEnded: number } | null> {
  const isId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrEmail);
  const match = isId
    ? sql`id = ${idOrEmail}::uuid`
    : sql`email = ${idOrEmail.trim().toLowerCase()}`;
  const { rows } = await withDbRetry(() =>
    db.execute<OperatorView & { sessions_ended: number }>(sql`
      WITH revoked AS (
        UPDATE operators SET revoked_at = now()
        WHERE ${match} AND revoked_at IS NULL
        RETURNING *
      ),
      ended AS (
        UPDATE console_sessions SET ended_at = now()
        WHERE operator_id IN (SELECT id FROM revoked) AND ended_at IS NULL
        RETURNING 1
      ),
      audited AS (
        ${auditInsert(stamp, {
          action: "operator.revoked",
          subjectType: "operator",
          subjectId: sql`revoked.id::text`,
          detail: sql`jsonb_build_object('name', revoked.name, 'sessions_ended', (SELECT count(*) FROM ended))`,
          from: sql`revoked`,
        })}
      )
      SELECT ${operatorColumns}, (SELECT count(*) FROM ended)::int AS sessions_ended FROM revoked
      UNION ALL
      SELECT ${operatorColumns}, 0 FROM operators
      WHERE ${match} AND NOT EXISTS (SELECT 1 FROM revoked)
    `),
  );
  const row = rows[0];
  if (!row) return null;
  const { sessions_ended: sessionsEnded, ...operator } = row;
  return { operator, sessionsEnded };
}
