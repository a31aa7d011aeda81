// The retention purge: transcripts, analyses and failure details of calls that ended more
// than RETENTION_DAYS ago go, in batches with short locks, and the Call rows stay; a live
// call is never touched, also when the purge races its completion; the audit trail keeps
// AUDIT_RETENTION_DAYS and refuses every other deletion. Each test has a private database
// (the purge touches every old call of its database) and a fixed clock.
import {
  createExecutionContext,
  createScheduledController,
  waitOnExecutionContext,
} from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { RETENTION_CRON } from "../../src/crons";
import { createDatabase } from "../../src/db/client";
import { createLogger } from "../../src/http/log";
import { createWorker } from "../../src/index";
import { purgeCallDataBatch, runRetention } from "../../src/retention/purge";
import { TEST_SECRETS } from "../setup/test-secrets";
import { movableClock } from "../support/dispatch";
import { privateDatabase } from "../support/lab";
import { signedPostCall, transcriptionEvent } from "../support/post-call";
import "../support/sql";
import { callWorker, newScope, statementsSent, testEnv } from "../support/worker";

const NOW = new Date("2026-12-04T03:17:00Z");
const DAY_MS = 86_400_000;
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY_MS);
const silent = createLogger({}, () => {});

type Sql = Awaited<ReturnType<typeof privateDatabase>>["sql"];

async function retentionLab(env: Record<string, string> = {}) {
  const database = await privateDatabase();
  const worker = createWorker({ clock: movableClock(NOW) });
  const bindings = { ...testEnv, DATABASE_URL: database.url, ...env };
  return {
    ...database,
    worker,
    bindings,
    db: createDatabase(database.url, testEnv.NEON_HTTP_ENDPOINT),
    /** Fires the daily cron as Cloudflare would, and waits for it. */
    async fireRetentionCron() {
      const ctx = createExecutionContext();
      await worker.scheduled(
        createScheduledController({ cron: RETENTION_CRON, scheduledTime: NOW.getTime() }),
        bindings as never,
        ctx,
      );
      await waitOnExecutionContext(ctx);
    },
    request(request: Request) {
      return callWorker(request, { env: bindings, worker });
    },
  };
}

let sequence = 0;

/** A call as a finished one looks: final transcript, analysis, live turns. */
async function insertCall(
  sql: Sql,
  options: {
    status: "COMPLETED" | "FAILED" | "IN_PROGRESS";
    endedAt: Date | null;
    updatedAt?: Date;
    failureReason?: string | null;
    turns?: number;
  },
) {
  sequence += 1;
  const driverId = 4_000_000 + sequence;
  const callSid = `EL_${driverId}_${1_790_000_000 + sequence}`;
  const conversationId = `conv_retention_${crypto.randomUUID()}`;
  const startedAt = new Date((options.endedAt ?? options.updatedAt ?? NOW).getTime() - 120_000);
  const finished = options.status !== "IN_PROGRESS";
  await sql.query(
    `INSERT INTO calls (call_sid, driver_id, conversation_id, status, phone_number, call_start_time,
       call_end_time, created_at, updated_at, failure_reason, failure_detail, final_transcript,
       call_successful, transcript_summary, data_collection, evaluation, termination_reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
    [
      callSid,
      driverId,
      conversationId,
      options.status,
      `+1555${String(sequence).padStart(7, "0")}`,
      startedAt.toISOString(),
      options.endedAt?.toISOString() ?? null,
      (options.updatedAt ?? options.endedAt ?? startedAt).toISOString(),
      options.failureReason ?? null,
      options.failureReason
        ? "ElevenLabs did not answer in time; the call may or may not ring."
        : null,
      finished
        ? JSON.stringify([
            {
              role: "agent",
              message: "Hi, it is the safety team.",
              time_in_call_secs: 0,
              timestamp: startedAt.toISOString(),
            },
          ])
        : null,
      finished ? "success" : null,
      finished ? "The driver acknowledged the violation." : null,
      finished ? JSON.stringify({ acknowledged_violation: true }) : null,
      finished ? JSON.stringify({ polite: "success" }) : null,
      finished ? "Call ended by remote party" : null,
    ],
  );
  for (let n = 1; n <= (options.turns ?? 2); n++) {
    await sql.query(
      `INSERT INTO call_transcriptions (conversation_id, speaker, message, "timestamp", sequence_number)
       VALUES ($1, $2, $3, $4, $5)`,
      [conversationId, n % 2 ? "agent" : "user", `turn ${n}`, startedAt.toISOString(), n],
    );
  }
  await sql.query("UPDATE calls SET last_sequence_number = $2 WHERE call_sid = $1", [
    callSid,
    options.turns ?? 2,
  ]);
  return { callSid, conversationId, startedAt };
}

interface CallState {
  status: string;
  failure_reason: string | null;
  failure_detail: string | null;
  call_end_time: string | null;
  final_transcript: unknown;
  call_successful: string | null;
  transcript_summary: string | null;
  data_collection: unknown;
  evaluation: unknown;
  termination_reason: string | null;
  data_purged_at: string | null;
  turns: number;
}

async function stateOf(sql: Sql, callSid: string): Promise<CallState> {
  const [row] = (await sql.query(
    `SELECT status, failure_reason, failure_detail, call_end_time::text, final_transcript,
            call_successful, transcript_summary, data_collection, evaluation, termination_reason,
            data_purged_at::text,
            (SELECT count(*)::int FROM call_transcriptions t WHERE t.conversation_id = calls.conversation_id) AS turns
     FROM calls WHERE call_sid = $1`,
    [callSid],
  )) as CallState[];
  if (!row) throw new Error(`no call ${callSid}`);
  return row;
}

const PURGED = {
  final_transcript: null,
  transcript_summary: null,
  data_collection: null,
  evaluation: null,
  termination_reason: null,
  failure_detail: null,
  turns: 0,
};

describe("the retention purge", () => {
  it("takes the transcript and analysis of a call that ended 91 days ago and keeps its status; one that ended 89 days ago keeps everything", async () => {
    const lab = await retentionLab();
    const old = await insertCall(lab.sql, { status: "COMPLETED", endedAt: daysAgo(91), turns: 3 });
    const recent = await insertCall(lab.sql, { status: "COMPLETED", endedAt: daysAgo(89) });
    // A dial that failed before anything rang has no end time: its last change is its end.
    const failed = await insertCall(lab.sql, {
      status: "FAILED",
      endedAt: null,
      updatedAt: daysAgo(91),
      failureReason: "elevenlabs_timeout",
      turns: 0,
    });
    const recentBefore = await stateOf(lab.sql, recent.callSid);

    await lab.fireRetentionCron();

    const purged = await stateOf(lab.sql, old.callSid);
    expect(purged).toMatchObject({ ...PURGED, status: "COMPLETED", call_successful: "success" });
    expect(purged.call_end_time).not.toBeNull();
    expect(purged.data_purged_at).not.toBeNull();
    expect(await stateOf(lab.sql, recent.callSid)).toEqual(recentBefore);
    expect(recentBefore).toMatchObject({
      turns: 2,
      call_successful: "success",
      data_purged_at: null,
    });
    expect(recentBefore.final_transcript).not.toBeNull();
    const failedState = await stateOf(lab.sql, failed.callSid);
    expect(failedState).toMatchObject({
      status: "FAILED",
      failure_reason: "elevenlabs_timeout",
      failure_detail: null,
    });
    expect(failedState.data_purged_at).not.toBeNull();

    // The API reads the call as it stays: its status, its outcome, no transcript.
    const response = await lab.request(
      new Request(`http://driver-calls.test/calls/${old.callSid}`, {
        headers: { authorization: `Bearer ${TEST_SECRETS.API_TOKEN}` },
      }),
    );
    const body = (await response.json()) as {
      call: { status: string };
      transcript: unknown[];
      analysis: Record<string, unknown>;
    };
    expect(body.call.status).toBe("COMPLETED");
    expect(body.transcript).toEqual([]);
    expect(body.analysis).toEqual({
      call_successful: "success",
      summary: null,
      data_collection: null,
      evaluation: null,
      termination_reason: null,
    });

    // One data.purged entry for the batch, by the system, with its counts.
    const entries = (await lab.sql`
      SELECT actor_kind, actor_name, subject_type, detail FROM audit_events WHERE action = 'data.purged'`) as {
      actor_kind: string;
      actor_name: string;
      subject_type: string;
      detail: Record<string, unknown>;
    }[];
    expect(entries).toEqual([
      {
        actor_kind: "system",
        actor_name: "system",
        subject_type: "calls",
        detail: {
          calls: 2,
          transcript_turns: 3,
          ended_before: daysAgo(90).toISOString(),
          retention_days: 90,
        },
      },
    ]);

    // Purged calls are not visited again: a second run purges nothing and records nothing.
    await lab.fireRetentionCron();
    const [again] = (await lab.sql`
      SELECT count(*)::int AS n FROM audit_events WHERE action = 'data.purged'`) as { n: number }[];
    expect(again?.n).toBe(1);
  });

  it("follows RETENTION_DAYS", async () => {
    const lab = await retentionLab({ RETENTION_DAYS: "30" });
    const old = await insertCall(lab.sql, { status: "COMPLETED", endedAt: daysAgo(31) });
    const recent = await insertCall(lab.sql, { status: "COMPLETED", endedAt: daysAgo(29) });
    await lab.fireRetentionCron();
    expect((await stateOf(lab.sql, old.callSid)).data_purged_at).not.toBeNull();
    expect((await stateOf(lab.sql, recent.callSid)).data_purged_at).toBeNull();
  });

  it("never touches a live call, however long ago it started", async () => {
    const lab = await retentionLab();
    // Live for 200 days (or a row whose end time was written while it still runs): its
    // turns and everything else stay.
    const live = await insertCall(lab.sql, {
      status: "IN_PROGRESS",
      endedAt: null,
      updatedAt: daysAgo(200),
      turns: 4,
    });
    const liveWithEnd = await insertCall(lab.sql, {
      status: "IN_PROGRESS",
      endedAt: daysAgo(150),
      turns: 1,
    });
    const before = [
      await stateOf(lab.sql, live.callSid),
      await stateOf(lab.sql, liveWithEnd.callSid),
    ];
    await lab.fireRetentionCron();
    expect([
      await stateOf(lab.sql, live.callSid),
      await stateOf(lab.sql, liveWithEnd.callSid),
    ]).toEqual(before);
    expect(before.map((state) => state.turns)).toEqual([4, 1]);
  });

  it("never touches a live call when the purge races its completion, and never writes back what it removed", async () => {
    const lab = await retentionLab();
    const endedBefore = daysAgo(90);
    let purgedDuringRace = 0;
    for (let round = 0; round < 5; round++) {
      // Calls that started 100 days ago and are still live (3 live turns each): their
      // post-call reports (ended 100 days ago) and the purge, in small batches, run at once.
      const calls = await Promise.all(
        Array.from({ length: 12 }, () =>
          insertCall(lab.sql, {
            status: "IN_PROGRESS",
            endedAt: null,
            updatedAt: daysAgo(100),
            turns: 3,
          }),
        ),
      );
      let completionsDone = false;
      const completions = Promise.all(
        calls.map(async (call) => {
          const base = transcriptionEvent({
            conversationId: call.conversationId,
            callSid: call.callSid,
            startTimeUnixSecs: Math.floor(call.startedAt.getTime() / 1000),
            durationSecs: 60,
            transcript: [
              { role: "agent", message: "Hello, safety team here.", time_in_call_secs: 0 },
              { role: "user", message: "Yes, go on.", time_in_call_secs: 4 },
            ],
          });
          const event = {
            ...base,
            data: {
              ...base.data,
              analysis: { call_successful: "success", transcript_summary: "Acknowledged." },
            },
          };
          const response = await lab.request(
            await signedPostCall(event, { timestampSecs: Math.floor(NOW.getTime() / 1000) }),
          );
          expect(response.status).toBe(200);
        }),
      ).finally(() => {
        completionsDone = true;
      });
      const purge = (async () => {
        while (!completionsDone) {
          const batch = await purgeCallDataBatch(lab.db, {
            endedBefore,
            retentionDays: 90,
            limit: 3,
          });
          purgedDuringRace += batch.calls;
        }
      })();
      await Promise.all([completions, purge]);

      for (const call of calls) {
        const state = await stateOf(lab.sql, call.callSid);
        // The completion always lands: a purge never takes a live call.
        expect(state.status, call.callSid).toBe("COMPLETED");
        if (state.data_purged_at === null) {
          // Not purged yet: all of it is there, the live turns included.
          expect(state.turns, call.callSid).toBe(3);
          expect(state.final_transcript, call.callSid).toHaveLength(2);
          expect(state.transcript_summary, call.callSid).not.toBeNull();
        } else {
          // Purged after its completion: nothing of it came back.
          expect(state, call.callSid).toMatchObject(PURGED);
        }
      }
    }
    // The race was run: some calls were purged while others were still being completed.
    expect(purgedDuringRace).toBeGreaterThan(0);

    // And the next run takes the rest, statuses unchanged.
    await lab.fireRetentionCron();
    const [left] = (await lab.sql`
      SELECT count(*) FILTER (WHERE data_purged_at IS NULL)::int AS kept,
             count(*) FILTER (WHERE status <> 'COMPLETED')::int AS not_completed
      FROM calls`) as { kept: number; not_completed: number }[];
    expect(left).toEqual({ kept: 0, not_completed: 0 });
  });

  it("keeps a purged call purged when ElevenLabs reports on it afterwards", async () => {
    const lab = await retentionLab();
    // A dial that may have rung, 95 days ago; the purge takes its failure detail.
    const call = await insertCall(lab.sql, {
      status: "FAILED",
      endedAt: daysAgo(95),
      failureReason: "elevenlabs_timeout",
      turns: 0,
    });
    await lab.fireRetentionCron();
    const purged = await stateOf(lab.sql, call.callSid);
    const event = transcriptionEvent({
      conversationId: call.conversationId,
      callSid: call.callSid,
      startTimeUnixSecs: Math.floor(call.startedAt.getTime() / 1000),
      transcript: [{ role: "agent", message: "Hello again.", time_in_call_secs: 0 }],
    });
    const response = await lab.request(
      await signedPostCall(event, { timestampSecs: Math.floor(NOW.getTime() / 1000) }),
    );
    expect(response.status).toBe(200);
    expect(await stateOf(lab.sql, call.callSid)).toEqual(purged);
    expect(purged).toMatchObject({ ...PURGED, status: "FAILED" });
  });

  it("purges 100,000 old calls in batches of 1,000, each a short transaction of its own", async () => {
    const lab = await retentionLab();
    const ended = daysAgo(120);
    // One statement each: 100,000 finished calls with their data and a live turn each, and
    // a recent call that must stay.
    await lab.sql.query(
      `INSERT INTO calls (call_sid, driver_id, conversation_id, status, call_start_time, call_end_time,
         created_at, updated_at, final_transcript, call_successful, transcript_summary,
         data_collection, evaluation, termination_reason)
       SELECT 'EL_bulk_' || g, 7000000 + g, 'conv_bulk_' || g, 'COMPLETED',
              $1::timestamptz - interval '2 minutes', $1::timestamptz + g * interval '1 second',
              $1::timestamptz - interval '2 minutes', $1::timestamptz + g * interval '1 second',
              '[{"role":"agent","message":"Hello.","time_in_call_secs":0,"timestamp":"2026-08-06T00:00:00.000Z"}]'::jsonb,
              'success', 'The driver acknowledged.', '{"acknowledged_violation": true}'::jsonb,
              '{"polite": "success"}'::jsonb, 'Call ended by remote party'
       FROM generate_series(1, 100000) AS g`,
      [ended.toISOString()],
    );
    await lab.sql.query(
      `INSERT INTO call_transcriptions (conversation_id, speaker, message, "timestamp", sequence_number)
       SELECT 'conv_bulk_' || g, 'agent', 'Hello.', $1::timestamptz, 1 FROM generate_series(1, 100000) AS g`,
      [ended.toISOString()],
    );
    const recent = await insertCall(lab.sql, { status: "COMPLETED", endedAt: daysAgo(10) });

    const scope = newScope();
    const url = new URL(lab.url);
    url.searchParams.set("scope", scope);
    const db = createDatabase(url.toString(), testEnv.NEON_HTTP_ENDPOINT);
    const report = await runRetention({
      db,
      now: NOW,
      retentionDays: 90,
      auditRetentionDays: 730,
      log: silent,
    });

    expect(report).toMatchObject({ calls: 100_000, transcriptTurns: 100_000, unfinished: false });
    // 100 full batches, and one that finds nothing left; then one batch of old events (none
    // here: one statement) and one audit batch.
    const statements = await statementsSent(scope);
    const callBatches = statements.filter((query) =>
      query.includes("UPDATE calls SET final_transcript = NULL"),
    );
    const auditBatches = statements.filter((query) => query.includes("DELETE FROM audit_events"));
    const eventBatches = statements.filter((query) => query.includes("DELETE FROM events"));
    expect(callBatches).toHaveLength(101);
    expect(auditBatches).toHaveLength(1);
    expect(eventBatches).toHaveLength(1);
    // Each batch is one transaction: its timeouts, then its one statement (the events' one
    // statement is its own transaction).
    expect(statements).toHaveLength(2 * (callBatches.length + auditBatches.length) + 1);
    expect(report.batches).toBe(103);
    // Every row lock of a batch lasts at most as long as its round trip: short, where one
    // statement for all 100,000 would hold them all for seconds.
    expect(report.longestBatchMs).toBeLessThan(3_000);

    const [left] = (await lab.sql`
      SELECT count(*) FILTER (WHERE data_purged_at IS NULL)::int AS kept,
             count(*) FILTER (WHERE final_transcript IS NOT NULL)::int AS with_transcript,
             count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed,
             (SELECT count(*)::int FROM call_transcriptions) AS turns,
             (SELECT count(*)::int FROM audit_events WHERE action = 'data.purged') AS entries
      FROM calls`) as Record<string, number>[];
    expect(left).toEqual({
      kept: 1,
      with_transcript: 1,
      completed: 100_001,
      turns: 2,
      entries: 100,
    });
    expect((await stateOf(lab.sql, recent.callSid)).data_purged_at).toBeNull();
  }, 180_000);
});

describe("audit retention", () => {
  async function insertAuditEvent(sql: Sql, at: Date, action = "campaign.created") {
    const [row] = (await sql.query(
      `INSERT INTO audit_events (at, actor_kind, actor_name, action, detail)
       VALUES ($1, 'api_token', 'API token', $2, '{}') RETURNING id::text AS id`,
      [at.toISOString(), action],
    )) as { id: string }[];
    return row?.id as string;
  }

  it("deletes only the events older than AUDIT_RETENTION_DAYS, and says so in the trail", async () => {
    const lab = await retentionLab();
    const old = [
      await insertAuditEvent(lab.sql, daysAgo(731)),
      await insertAuditEvent(lab.sql, daysAgo(900)),
    ];
    const kept = await insertAuditEvent(lab.sql, daysAgo(729));

    await lab.fireRetentionCron();

    const ids = (
      (await lab.sql`SELECT id::text AS id FROM audit_events WHERE action <> 'data.purged'`) as {
        id: string;
      }[]
    ).map((row) => row.id);
    expect(ids).toEqual([kept]);
    expect(ids).not.toContain(old[0]);
    const [entry] = (await lab.sql`
      SELECT actor_kind, subject_type, detail FROM audit_events WHERE action = 'data.purged'`) as {
      actor_kind: string;
      subject_type: string;
      detail: Record<string, unknown>;
    }[];
    expect(entry).toEqual({
      actor_kind: "system",
      subject_type: "audit_events",
      detail: { audit_events: 2, before: daysAgo(730).toISOString(), audit_retention_days: 730 },
    });
  });

  it("still refuses every other DELETE, a DELETE of newer events under the purge's setting, and every UPDATE", async () => {
    const lab = await retentionLab();
    const recent = await insertAuditEvent(lab.sql, daysAgo(10));
    const old = await insertAuditEvent(lab.sql, daysAgo(800));

    await expect(lab.sql.query("DELETE FROM audit_events WHERE id = $1", [old])).rejects.toThrow(
      /append-only: DELETE refused/,
    );
    await expect(
      lab.sql.transaction((sql) => [
        sql`SELECT set_config('driver_calls.audit_purge_before', ${daysAgo(730).toISOString()}, true)`,
        sql`DELETE FROM audit_events WHERE id = ${recent}`,
      ]),
    ).rejects.toThrow(/append-only: DELETE refused/);
    await expect(
      lab.sql.query("UPDATE audit_events SET actor_name = 'someone else' WHERE id = $1", [old]),
    ).rejects.toThrow(/append-only: UPDATE refused/);
    // The setting is the transaction's own: set in one, it lets nothing through in the next.
    await lab.sql.transaction((sql) => [
      sql`SELECT set_config('driver_calls.audit_purge_before', ${daysAgo(730).toISOString()}, true)`,
    ]);
    await expect(lab.sql.query("DELETE FROM audit_events WHERE id = $1", [old])).rejects.toThrow(
      /append-only: DELETE refused/,
    );
    const [count] = (await lab.sql`SELECT count(*)::int AS n FROM audit_events`) as { n: number }[];
    expect(count?.n).toBe(2);
  });
});
