// The delivery log an endpoint's owner reads (each attempt: when, status code, duration,
// the next try), and resending an event: the same body and the same `webhook-id` again
// (a receiver that dedupes by it ignores what it already has).
import { sql } from "drizzle-orm";
import { z } from "zod";
import type { Database } from "../db/client";
import { isoUtc } from "../db/iso";
import { withDbRetry } from "../db/retry";
import type { DeliveryStatus, EventType } from "../db/schema";
import { decodeCursor, encodeCursor } from "../http/cursor";

export interface AttemptView {
  at: string;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  next_attempt_at: string | null;
}

export interface DeliveryView extends Record<string, unknown> {
  id: string;
  event_id: string;
  event_type: EventType;
  status: DeliveryStatus;
  attempts: AttemptView[];
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
}

const deliveryCursor = z.object({ i: z.string().regex(/^\d{1,19}$/) });

export async function listDeliveries(
  db: Database,
  query: { endpointId: string; status?: DeliveryStatus; limit: number; cursor?: string },
): Promise<{ deliveries: DeliveryView[]; nextCursor: string | null }> {
  const after = query.cursor === undefined ? null : decodeCursor(query.cursor, deliveryCursor);
  const { rows } = await withDbRetry(() =>
    db.execute<DeliveryView>(sql`
      SELECT d.id::text AS id, d.event_id, ev.type AS event_type, d.status,
             ${isoUtc(sql`d.next_attempt_at`)} AS next_attempt_at,
             ${isoUtc(sql`d.created_at`)} AS created_at, ${isoUtc(sql`d.delivered_at`)} AS delivered_at,
             coalesce((
               SELECT jsonb_agg(jsonb_build_object(
                        'at', ${isoUtc(sql`a.attempted_at`)}, 'status_code', a.status_code,
                        'duration_ms', a.duration_ms, 'error', a.error,
                        'next_attempt_at', ${isoUtc(sql`a.next_attempt_at`)}) ORDER BY a.id)
               FROM event_delivery_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) AS attempts
      FROM event_deliveries d JOIN events ev ON ev.id = d.event_id
      WHERE d.endpoint_id = ${query.endpointId}::uuid
        ${query.status ? sql`AND d.status = ${query.status}` : sql``}
        ${after ? sql`AND d.id < ${after.i}::bigint` : sql``}
      ORDER BY d.id DESC
      LIMIT ${query.limit + 1}
    `),
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    deliveries: page,
    nextCursor: rows.length > query.limit && last ? encodeCursor({ i: last.id }) : null,
  };
}

/**
 * Sends an event again to every endpoint it went to (that still exists): each delivery is
 * pending again, due now, with a fresh retry schedule. Null when there is no such event.
 */
export async function resendEvent(
  db: Database,
  eventId: string,
  now: Date,
): Promise<{ deliveries: number } | null> {
  if (!/^msg_[0-9a-f]{32}$/.test(eventId)) return null;
  const { rows } = await withDbRetry(() =>
    db.execute<{ known: boolean; deliveries: number }>(sql`
      WITH resent AS (
        UPDATE event_deliveries d
        SET status = 'pending', attempts = 0, next_attempt_at = ${now.toISOString()}::timestamptz,
            leased_until = NULL, delivered_at = NULL
        FROM event_endpoints e
        WHERE d.event_id = ${eventId} AND e.id = d.endpoint_id AND e.deleted_at IS NULL
        RETURNING d.id
      )
      SELECT EXISTS (SELECT 1 FROM events WHERE id = ${eventId}) AS known,
             (SELECT count(*) FROM resent)::int AS deliveries
    `),
  );
  const row = rows[0];
  return row?.known ? { deliveries: row.deliveries } : null;
}
