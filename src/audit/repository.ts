// Reading the audit trail: newest first, keyset-paginated on (at, id), filterable by
// action, actor and time. The console's Activity page and GET /audit share it.
import { sql } from "drizzle-orm";
import { z } from "zod";
import type { Database } from "../db/client";
import { ISO_US, isoUtc } from "../db/iso";
import { withDbRetry } from "../db/retry";
import type { ActorKind } from "../db/schema";
import { cursorInstant, decodeCursor, encodeCursor } from "../http/cursor";

export interface AuditEventView {
  id: string;
  at: string;
  actor_kind: ActorKind;
  actor_id: string | null;
  actor_name: string;
  action: string;
  subject_type: string | null;
  subject_id: string | null;
  detail: Record<string, unknown>;
  ip: string | null;
  request_id: string | null;
}

interface AuditRow extends AuditEventView, Record<string, unknown> {
  cursor_at: string;
}

export interface AuditQuery {
  action?: string;
  actorId?: string;
  since?: Date;
  limit: number;
  cursor?: string;
}

const auditCursor = z.object({ a: cursorInstant, i: z.string().regex(/^\d{1,19}$/) });

export async function listAuditEvents(
  db: Database,
  query: AuditQuery,
): Promise<{ events: AuditEventView[]; nextCursor: string | null }> {
  const after = query.cursor === undefined ? null : decodeCursor(query.cursor, auditCursor);
  const conditions = [
    query.action === undefined ? null : sql`action = ${query.action}`,
    query.actorId === undefined ? null : sql`actor_id = ${query.actorId}`,
    query.since === undefined ? null : sql`at >= ${query.since.toISOString()}::timestamptz`,
    after === null ? null : sql`(at, id) < (${after.a}::timestamptz, ${after.i}::bigint)`,
  ].filter((condition) => condition !== null);
  const { rows } = await withDbRetry(() =>
    db.execute<AuditRow>(sql`
      SELECT id::text AS id, ${isoUtc(sql`at`)} AS at, actor_kind, actor_id, actor_name, action,
             subject_type, subject_id, detail, ip, request_id,
             ${isoUtc(sql`at`, ISO_US)} AS cursor_at
      FROM audit_events
      WHERE ${conditions.length === 0 ? sql`true` : sql.join(conditions, sql` AND `)}
      ORDER BY at DESC, id DESC
      LIMIT ${query.limit + 1}
    `),
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    events: page.map(({ cursor_at: _cursor, ...event }) => event),
    nextCursor:
      rows.length > query.limit && last ? encodeCursor({ a: last.cursor_at, i: last.id }) : null,
  };
}
