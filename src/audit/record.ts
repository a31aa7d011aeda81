// Writing the audit trail. An entry is written by the same statement (a CTE) or the same
// transaction (a batch) as the change it records, never after it: a change that committed
// has its entry, and an entry never describes a change that rolled back. So this module
// only builds SQL; the repositories that make changes put it in their statements.

import { SQL, sql } from "drizzle-orm";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import type { ActorKind } from "../db/schema";

/** Every action the trail records. */
export const AUDIT_ACTIONS = [
  "campaign.created",
  "campaign.cancelled",
  "batch.placed",
  "do_not_call.added",
  "do_not_call.removed",
  "driver.opted_out",
  "operator.signed_in",
  "operator.sign_in_failed",
  "operator.signed_out",
  "operator.added",
  "operator.revoked",
  "driver.erased",
  "data.purged",
  "event_endpoint.created",
  "event_endpoint.deleted",
  "event_endpoint.disabled",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Who did it: an operator (by id and the name they had then), the API_TOKEN, or the service. */
export interface Actor {
  kind: ActorKind;
  id: string | null;
  name: string;
}

export const SYSTEM_ACTOR: Actor = { kind: "system", id: null, name: "system" };
export const API_TOKEN_ACTOR: Actor = { kind: "api_token", id: null, name: "API token" };

/** The actor and where the request came from: what every entry of one request shares. */
export interface AuditStamp {
  actor: Actor;
  ip: string | null;
  requestId: string | null;
}

export const SYSTEM_STAMP: AuditStamp = { actor: SYSTEM_ACTOR, ip: null, requestId: null };

/** The stamp of a request that auth has let through (the actor it found). */
export function auditStampOf(c: Context<AppEnv>): AuditStamp {
  return {
    actor: c.get("actor") ?? SYSTEM_ACTOR,
    ip: clientAddress(c),
    requestId: c.get("requestId") ?? null,
  };
}

/** Cloudflare's client address header (set by the edge, not forgeable through it). */
export function clientAddress(c: Context<AppEnv>): string | null {
  return c.req.header("cf-connecting-ip") ?? null;
}

interface Entry {
  action: AuditAction;
  subjectType?: string | null;
  /** A value, or an SQL expression over `from`. */
  subjectId?: string | SQL | null;
  /** A JSON-able value, or an SQL expression (jsonb) over `from`. */
  detail?: Record<string, unknown> | SQL;
  /** A FROM clause (a CTE of the statement): one entry per row; none when it is empty. */
  from?: SQL;
}

const asText = (value: string | SQL | null | undefined) =>
  value === null || value === undefined
    ? sql`NULL::text`
    : typeof value === "string"
      ? sql`${value}::text`
      : value;

/**
 * `INSERT INTO audit_events ...` for one entry (or one per row of `entry.from`): a
 * statement of its own in a batch, or the body of a CTE (`audited AS (${auditInsert(...)})`).
 */
export function auditInsert(stamp: AuditStamp, entry: Entry): SQL {
  const detail =
    entry.detail === undefined
      ? sql`'{}'::jsonb`
      : isSql(entry.detail)
        ? entry.detail
        : sql`${JSON.stringify(entry.detail)}::jsonb`;
  return sql`
    INSERT INTO audit_events (actor_kind, actor_id, actor_name, action, subject_type, subject_id, detail, ip, request_id)
    SELECT ${stamp.actor.kind}, ${stamp.actor.id}, ${stamp.actor.name}, ${entry.action},
           ${entry.subjectType ?? null}, ${asText(entry.subjectId)}, ${detail},
           ${stamp.ip}, ${stamp.requestId}
    ${entry.from ? sql`FROM ${entry.from}` : sql``}
  `;
}

function isSql(value: unknown): value is SQL {
  return value instanceof SQL;
}
