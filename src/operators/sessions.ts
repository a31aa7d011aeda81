// Console sessions on the server. The cookie carries a random 256-bit id and nothing else;
// the database keeps its SHA-256, the operator and the end. So a session can end before
// its cookie does: signing out ends it, revoking the operator ends all of theirs (the
// same statement as the revocation), and every session ends 12 hours after sign-in. Two
// sign-ins, even in the same millisecond, get two different ids.
import { sql } from "drizzle-orm";
import { type AuditStamp, auditInsert } from "../audit/record";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";
import { type OperatorView, operatorActor } from "./repository";
import { randomSecret, sha256Hex } from "./tokens";

export const SESSION_SECONDS = 12 * 60 * 60;

/** The operator whose open session this is (signed-out, expired and revoked ones: null). */
export interface SessionOperator extends Record<string, unknown> {
  id: string;
  name: string;
  email: string | null;
}

/** Whether a cookie value could be a session id at all (43 base64url characters). */
export function isSessionIdShaped(value: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(value);
}

/**
 * Starts a session for an operator who has just proved who they are, and records
 * `operator.signed_in` in the same statement. Returns the id for the cookie.
 */
export async function startSession(
  db: Database,
  operator: OperatorView,
  stamp: Omit<AuditStamp, "actor">,
  now: Date,
): Promise<string> {
  const sessionId = randomSecret(32);
  const idHash = await sha256Hex(sessionId);
  const expiresAt = new Date(now.getTime() + SESSION_SECONDS * 1000);
  await withDbRetry(() =>
    db.execute(sql`
      WITH started AS (
        INSERT INTO console_sessions (id_hash, operator_id, created_at, expires_at)
        SELECT ${idHash}, id, ${now.toISOString()}::timestamptz, ${expiresAt.toISOString()}::timestamptz
        FROM operators WHERE id = ${operator.id}::uuid AND revoked_at IS NULL
        -- A retry after a lost answer finds its own row: the id is chosen here, not by the database.
        ON CONFLICT (id_hash) DO NOTHING
        RETURNING operator_id
      )
      ${auditInsert(
        { ...stamp, actor: operatorActor(operator) },
        {
          action: "operator.signed_in",
          subjectType: "operator",
          subjectId: operator.id,
          from: sql`started`,
        },
      )}
    `),
  );
  return sessionId;
}

export async function sessionOperator(
  db: Database,
  sessionId: string,
  now: Date,
): Promise<SessionOperator | null> {
  if (!isSessionIdShaped(sessionId)) return null;
  const idHash = await sha256Hex(sessionId);
  const { rows } = await withDbRetry(() =>
    db.execute<SessionOperator>(sql`
      SELECT o.id::text AS id, o.name, o.email
      FROM console_sessions s JOIN operators o ON o.id = s.operator_id
      WHERE s.id_hash = ${idHash} AND s.ended_at IS NULL
        AND s.expires_at > ${now.toISOString()}::timestamptz
        AND o.revoked_at IS NULL
    `),
  );
  return rows[0] ?? null;
}

/** Ends a session (sign-out) and records it; a session already over is left as it is. */
export async function endSession(
  db: Database,
  sessionId: string,
  stamp: Omit<AuditStamp, "actor">,
): Promise<void> {
  if (!isSessionIdShaped(sessionId)) return;
  const idHash = await sha256Hex(sessionId);
  await withDbRetry(() =>
    db.execute(sql`
      WITH ended AS (
        UPDATE console_sessions s SET ended_at = now()
        FROM operators o
        WHERE s.id_hash = ${idHash} AND s.ended_at IS NULL AND o.id = s.operator_id
        RETURNING o.id::text AS operator_id, o.name
      )
      INSERT INTO audit_events (actor_kind, actor_id, actor_name, action, subject_type, subject_id, ip, request_id)
      SELECT 'operator', operator_id, name, 'operator.signed_out', 'operator', operator_id,
             ${stamp.ip}, ${stamp.requestId}
      FROM ended
    `),
  );
}

/** Records a refused sign-in (a wrong or revoked token): who tried is not known. */
export async function recordFailedSignIn(
  db: Database,
  stamp: Omit<AuditStamp, "actor">,
  reason: string,
): Promise<void> {
  await withDbRetry(() =>
    db.execute(
      auditInsert(
        { ...stamp, actor: { kind: "system", id: null, name: "unknown" } },
        { action: "operator.sign_in_failed", detail: { reason } },
      ),
    ),
  );
}

/** The cron's housekeeping: sessions over for more than a day are of no use to anyone. */
export async function deleteOldSessions(db: Database, now: Date): Promise<number> {
  const result = await withDbRetry(() =>
    db.execute(sql`
      DELETE FROM console_sessions
      WHERE expires_at < ${now.toISOString()}::timestamptz - interval '1 day'
    `),
  );
  return result.rowCount ?? 0;
}
