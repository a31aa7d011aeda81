// Idempotency-Key on POST /calls/batch and POST /campaigns (and the console's campaign
// form): an operator whose client timed out can send the same request again without
// anyone being dialed twice. Within 24 hours:
//   - same key, same body, first request answered: its answer again (status and body),
//     with `Idempotent-Replayed: true`; nothing runs;
//   - same key, other body: 422 idempotency_key_reused;
//   - same key while the first request is still being answered: 409 idempotency_key_in_use.
// The key is taken before the work starts, in one INSERT ... ON CONFLICT, so two requests
// racing with one key cannot both run: the primary key (scope, key) decides.
//
// What is kept: every answer, except those that promise nothing was done and invite a
// retry with the same key (503 database_unavailable, 429 at_capacity): for those the key
// is released. A request whose Worker died mid-way keeps its key "in use" for the 24
// hours, on purpose: a batch may have dialed part of its drivers, and a replay must never
// dial them again. (The cron deletes keys older than 24 hours.)

import { sql } from "drizzle-orm";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";
import { AppError, errorBody } from "./errors";
import { describeError } from "./log";

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
export const IDEMPOTENCY_TTL_HOURS = 24;

export interface StoredAnswer {
  status: number;
  body: string;
  headers: Record<string, string>;
}

export type IdempotentOutcome =
  | { kind: "ran"; answer: StoredAnswer }
  | { kind: "replayed"; answer: StoredAnswer };

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

interface KeyRow extends Record<string, unknown> {
  mine: boolean;
  request_hash: string;
  state: "in_flight" | "done";
  response_status: number | null;
  response_body: string | null;
  response_headers: Record<string, string> | string | null;
}

/** Answers that say nothing was done: the key is released so the same key may be retried. */
function releasesKey(status: number): boolean {
  return status === 503 || status === 429;
}

/**
 * Runs `work` at most once per (scope, key) and body within 24 hours. `work` returns the
 * answer to store; an AppError it throws is stored as its rendered answer (or releases
 * the key, see above) and thrown again.
 */
export async function runIdempotently(
  db: Database,
  options: { scope: string; key: string; body: string; errorAnswer: (error: AppError) => string },
  work: () => Promise<StoredAnswer>,
): Promise<IdempotentOutcome> {
  const requestHash = await sha256Hex(options.body);
  const { scope, key } = options;
  // Takes the key, or a key whose 24 hours are over (as if it were new); otherwise returns
  // the row as it is. One statement, so two racing requests cannot both take it.
  const { rows } = await withDbRetry(() =>
    db.execute<KeyRow>(sql`
      WITH taken AS (
        INSERT INTO idempotency_keys (scope, key, request_hash, state)
        VALUES (${scope}, ${key}, ${requestHash}, 'in_flight')
        ON CONFLICT (scope, key) DO UPDATE
          SET request_hash = EXCLUDED.request_hash, state = 'in_flight', response_status = NULL,
              response_body = NULL, response_headers = NULL, created_at = now()
          WHERE idempotency_keys.created_at < now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})
        RETURNING true AS mine, request_hash, state, response_status, response_body, response_headers
      )
      SELECT * FROM taken
      UNION ALL
      SELECT false, request_hash, state, response_status, response_body, response_headers
      FROM idempotency_keys
      WHERE scope = ${scope} AND key = ${key} AND NOT EXISTS (SELECT 1 FROM taken)
    `),
  );
  // A request racing ours with the same key inserted it after our statement's snapshot was
  // taken: our INSERT waited for it and skipped, and the SELECT's snapshot cannot see it.
  // A second statement (a fresh snapshot) can.
  const row =
    rows[0] ??
    (
      await withDbRetry(() =>
        db.execute<KeyRow>(sql`
          SELECT false AS mine, request_hash, state, response_status, response_body, response_headers
          FROM idempotency_keys WHERE scope = ${scope} AND key = ${key}
        `),
      )
    ).rows[0];
  if (!row) throw new Error("idempotency key neither taken nor found");
  if (!row.mine) {
    if (row.request_hash !== requestHash) {
      throw new AppError(
        "idempotency_key_reused",
        "This Idempotency-Key was used with a different request body in the last 24 hours. Use a new key for a new request.",
      );
    }
    if (row.state === "in_flight" || row.response_status === null) {
      throw new AppError(
        "idempotency_key_in_use",
        "A request with this Idempotency-Key is still being answered (or stopped before it finished). Wait for its answer; check GET /calls or GET /campaigns before using a new key.",
        { headers: { "Retry-After": "5" } },
      );
    }
    const headers =
      typeof row.response_headers === "string"
        ? (JSON.parse(row.response_headers) as Record<string, string>)
        : (row.response_headers ?? {});
    return {
      kind: "replayed",
      answer: { status: row.response_status, body: row.response_body ?? "", headers },
    };
  }

  let answer: StoredAnswer;
  try {
    answer = await work();
  } catch (error) {
    if (!(error instanceof AppError)) {
      // Unknown: the work may have been done in part. Keep the key in use (see the top).
      throw error;
    }
    if (releasesKey(error.status)) {
      await release(db, scope, key);
      throw error;
    }
    answer = { status: error.status, body: options.errorAnswer(error), headers: error.headers };
    await store(db, scope, key, answer);
    throw error;
  }
  if (releasesKey(answer.status)) await release(db, scope, key);
  else await store(db, scope, key, answer);
  return { kind: "ran", answer };
}

async function store(db: Database, scope: string, key: string, answer: StoredAnswer) {
  await withDbRetry(() =>
    db.execute(sql`
      UPDATE idempotency_keys
      SET state = 'done', response_status = ${answer.status}, response_body = ${answer.body},
          response_headers = ${JSON.stringify(answer.headers)}::jsonb
      WHERE scope = ${scope} AND key = ${key}
    `),
  );
}

async function release(db: Database, scope: string, key: string) {
  await withDbRetry(() =>
    db.execute(
      sql`DELETE FROM idempotency_keys WHERE scope = ${scope} AND key = ${key} AND state = 'in_flight'`,
    ),
  );
}

/** Deletes keys past their 24 hours (the cron), at most `limit` a run. */
export async function deleteExpiredIdempotencyKeys(db: Database, limit = 5_000): Promise<number> {
  const result = await withDbRetry(() =>
    db.execute(sql`
      DELETE FROM idempotency_keys WHERE ctid IN (
        SELECT ctid FROM idempotency_keys
        WHERE created_at < now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})
        LIMIT ${limit}
      )
    `),
  );
  return result.rowCount ?? 0;
}

/** The request's Idempotency-Key header, validated; undefined when absent. */
export function idempotencyKeyOf(c: Context<AppEnv>): string | undefined {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new AppError("invalid_request", "The request is invalid: check Idempotency-Key.", {
      details: [{ field: "Idempotency-Key", message: "must be 1..255 printable ASCII characters" }],
    });
  }
  return key;
}

/**
 * A route handler's work under the request's Idempotency-Key (if it has one): runs it, or
 * answers with the stored answer of its first run.
 */
export async function answerIdempotently(
  c: Context<AppEnv>,
  db: Database,
  scope: string,
  work: () => Promise<StoredAnswer>,
): Promise<Response> {
  const key = idempotencyKeyOf(c);
  if (key === undefined) return toResponse(await work());
  const outcome = await runIdempotently(
    db,
    {
      scope,
      key,
      body: await c.req.text(),
      errorAnswer: (error) => JSON.stringify(errorBody(c, error)),
    },
    work,
  ).catch((error: unknown) => {
    if (!(error instanceof AppError))
      c.get("log").error("idempotent_work_failed", describeError(error));
    throw error;
  });
  const response = toResponse(outcome.answer);
  if (outcome.kind === "replayed") response.headers.set("Idempotent-Replayed", "true");
  return response;
}

function toResponse(answer: StoredAnswer): Response {
  return new Response(answer.body, {
    status: answer.status,
    headers: { "content-type": "application/json", ...answer.headers },
  });
}
