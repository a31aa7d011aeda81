// The fleet's registered endpoints: created with a secret shown once, listed without it,
// deleted (their pending deliveries end as failed), secrets rotated with 24 hours in which
// the old one still signs beside the new, re-enabled after five days of failures disabled
// them. Creating and deleting are audited in the same statement.
import { sql } from "drizzle-orm";
import { type AuditStamp, auditInsert } from "../audit/record";
import type { Database } from "../db/client";
import { isoUtc } from "../db/iso";
import { withDbRetry } from "../db/retry";
import type { EventType } from "../db/schema";

/** How long a rotated secret keeps signing beside its successor. */
export const PREVIOUS_SECRET_HOURS = 24;

export interface EndpointView extends Record<string, unknown> {
  id: string;
  url: string;
  events: EventType[];
  created_at: string;
  disabled_at: string | null;
  failing_since: string | null;
  previous_secret_expires_at: string | null;
}

const endpointColumns = sql`id::text AS id, url, event_types AS events,
  ${isoUtc(sql`created_at`)} AS created_at, ${isoUtc(sql`disabled_at`)} AS disabled_at,
  ${isoUtc(sql`failing_since`)} AS failing_since,
  CASE WHEN previous_secret_until > now() THEN ${isoUtc(sql`previous_secret_until`)} END AS previous_secret_expires_at`;

/** A new signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks write it. */
export function newEndpointSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `whsec_${btoa(binary)}`;
}

export function isEndpointId(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
}

export async function createEndpoint(
  db: Database,
  endpoint: { url: string; events: EventType[] },
  audit: AuditStamp,
): Promise<EndpointView & { secret: string }> {
  const secret = newEndpointSecret();
  const { rows } = await withDbRetry(() =>
    db.execute<EndpointView & { secret: string }>(sql`
      WITH created AS (
        INSERT INTO event_endpoints (url, event_types, secret)
        VALUES (${endpoint.url}, ${sql.param([...new Set(endpoint.events)])}::text[], ${secret})
        RETURNING *
      ),
      audited AS (
        ${auditInsert(audit, {
          action: "event_endpoint.created",
          subjectType: "event_endpoint",
          subjectId: sql`created.id::text`,
          detail: sql`jsonb_build_object('url', created.url, 'events', to_jsonb(created.event_types))`,
          from: sql`created`,
        })}
      )
      SELECT ${endpointColumns}, secret FROM created
    `),
  );
  const created = rows[0];
  if (!created) throw new Error("INSERT of an event endpoint returned no row");
  return created;
}

export async function listEndpoints(db: Database): Promise<EndpointView[]> {
  const { rows } = await withDbRetry(() =>
    db.execute<EndpointView>(sql`
      SELECT ${endpointColumns} FROM event_endpoints WHERE deleted_at IS NULL ORDER BY created_at, id
    `),
  );
  return rows;
}

export async function getEndpoint(db: Database, id: string): Promise<EndpointView | null> {
  if (!isEndpointId(id)) return null;
  const { rows } = await withDbRetry(() =>
    db.execute<EndpointView>(sql`
      SELECT ${endpointColumns} FROM event_endpoints WHERE id = ${id}::uuid AND deleted_at IS NULL
    `),
  );
  return rows[0] ?? null;
}

/** Deletes an endpoint (kept, marked deleted, for its delivery log); false when unknown. */
export async function deleteEndpoint(
  db: Database,
  id: string,
  audit: AuditStamp,
): Promise<boolean> {
  if (!isEndpointId(id)) return false;
  const { rows } = await withDbRetry(() =>
    db.execute<{ id: string }>(sql`
      WITH deleted AS (
        UPDATE event_endpoints SET deleted_at = now()
        WHERE id = ${id}::uuid AND deleted_at IS NULL
        RETURNING id, url
      ),
      ended AS (
        UPDATE event_deliveries SET status = 'failed', next_attempt_at = NULL,
               last_error = 'the endpoint was deleted'
        WHERE endpoint_id IN (SELECT id FROM deleted) AND status = 'pending'
      ),
      audited AS (
        ${auditInsert(audit, {
          action: "event_endpoint.deleted",
          subjectType: "event_endpoint",
          subjectId: sql`deleted.id::text`,
          detail: sql`jsonb_build_object('url', deleted.url)`,
          from: sql`deleted`,
        })}
      )
      SELECT id::text AS id FROM deleted
    `),
  );
  return rows.length > 0;
}

/** A new secret; the old one keeps signing beside it for 24 hours. Null when unknown. */
export async function rotateEndpointSecret(
  db: Database,
  id: string,
  now: Date,
): Promise<(EndpointView & { secret: string }) | null> {
  if (!isEndpointId(id)) return null;
  const secret = newEndpointSecret();
  const until = new Date(now.getTime() + PREVIOUS_SECRET_HOURS * 3_600_000);
  const { rows } = await withDbRetry(() =>
    db.execute<EndpointView & { secret: string }>(sql`
      UPDATE event_endpoints
      SET previous_secret = secret, previous_secret_until = ${until.toISOString()}::timestamptz,
          secret = ${secret}
      WHERE id = ${id}::uuid AND deleted_at IS NULL
      RETURNING ${endpointColumns}, secret
    `),
  );
  return rows[0] ?? null;
}

/** Re-enables an endpoint that five days of failures disabled. Null when unknown. */
export async function enableEndpoint(db: Database, id: string): Promise<EndpointView | null> {
  if (!isEndpointId(id)) return null;
  const { rows } = await withDbRetry(() =>
    db.execute<EndpointView>(sql`
      UPDATE event_endpoints SET disabled_at = NULL, failing_since = NULL
      WHERE id = ${id}::uuid AND deleted_at IS NULL
      RETURNING ${endpointColumns}
    `),
  );
  return rows[0] ?? null;
}
