import { describe, expect, it } from "vitest";
import { TEST_SECRETS } from "../setup/test-secrets";
import { freshDriverId, insertTestCall } from "../support/calls";
import { testSql } from "../support/sql";
import { callWorker, newScope, readError, statementsSent } from "../support/worker";

const CALL_KEYS = [
  "call_end_time",
  "call_sid",
  "call_start_time",
  "conversation_id",
  "created_at",
  "driver_id",
  "failure_reason",
  "status",
  "updated_at",
];
const TRANSCRIPT_KEYS = ["message", "sequence_number", "speaker", "timestamp"];
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface CallJson {
  call_sid: string;
  driver_id: number | null;
  conversation_id: string | null;
  status: string;
  call_start_time: string | null;
  call_end_time: string | null;
  failure_reason: string | null;
  created_at: string;
  updated_at: string;
}

interface CallWithTranscriptJson {
  call: CallJson;
  transcript: { sequence_number: number; speaker: string; message: string; timestamp: string }[];
  analysis: Record<string, unknown>;
}

interface CallListJson {
  calls: CallJson[];
  next_cursor: string | null;
}

function get(path: string, token: string | null = TEST_SECRETS.API_TOKEN): Request {
  return new Request(`http://driver-calls.test${path}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
}

async function readCall(callSid: string) {
  const response = await callWorker(get(`/calls/${encodeURIComponent(callSid)}`));
  return { status: response.status, body: (await response.json()) as CallWithTranscriptJson };
}

async function listPage(query: Record<string, string | number>, options: { scope?: string } = {}) {
  const params = new URLSearchParams(
    Object.entries(query).map(([key, value]) => [key, String(value)]),
  );
  const response = await callWorker(get(`/calls?${params}`), options);
  if (response.status !== 200)
    throw new Error(`GET /calls answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as CallListJson;
}

async function listError(query: string) {
  const response = await callWorker(get(`/calls?${query}`));
  expect(response.status).toBe(400);
  return readError(response);
}

/**
 * Inserts `count` calls of one driver in one statement. Call g (1..count) is created at
 * `createdAt` minus `stepMs * g` milliseconds (stepMs 0: all at the same instant).
 */
async function insertCalls(
  driverId: number,
  count: number,
  options: { createdAt?: string; stepMs?: number; status?: string } = {},
): Promise<string[]> {
  const tag = crypto.randomUUID().slice(0, 8);
  const rows = (await testSql.query(
    `INSERT INTO calls (call_sid, driver_id, status, call_start_time, created_at, updated_at)
     SELECT 'EL_' || $1::int || '_' || $2::text || '_' || g, $1::int, $3::text, at, at, at
     FROM generate_series(1, $4::int) AS g,
          LATERAL (SELECT $5::timestamptz - g * ($6::float8 * interval '1 millisecond') AS at) AS t
     RETURNING call_sid`,
    [
      driverId,
      tag,
      options.status ?? "COMPLETED",
      count,
      options.createdAt ?? "2026-01-01T00:00:00Z",
      options.stepMs ?? 1000,
    ],
  )) as { call_sid: string }[];
  return rows.map((row) => row.call_sid);
}

/** The driver's call_sids in the order the API promises: created_at DESC, id DESC. */
async function expectedOrder(driverId: number): Promise<string[]> {
  const rows = (await testSql.query(
    "SELECT call_sid FROM calls WHERE driver_id = $1 ORDER BY created_at DESC, id DESC",
    [driverId],
  )) as { call_sid: string }[];
  return rows.map((row) => row.call_sid);
}

async function listAll(
  query: Record<string, string | number>,
  between?: (page: number) => Promise<void>,
) {
  const pages: CallJson[][] = [];
  let cursor: string | null = null;
  do {
    const page: CallListJson = await listPage(cursor ? { ...query, cursor } : query);
    pages.push(page.calls);
    cursor = page.next_cursor;
    if (cursor && between) await between(pages.length);
  } while (cursor && pages.length < 50);
  return pages;
}

function base64url(text: string): string {
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

describe("GET /calls/{call_sid} and GET /calls: auth", () => {
  it.each([
    ["no token", null],
    ["a wrong token", "not-the-api-token"],
    ["the transcription webhook's token", TEST_SECRETS.TRANSCRIPTION_WEBHOOK_TOKEN],
  ])("answers 401 unauthorized with %s", async (_name, token) => {
    const call = await insertTestCall();
    for (const path of [`/calls/${call.callSid}`, "/calls", `/calls?driver_id=${call.driverId}`]) {
      const response = await callWorker(get(path, token));
      expect(response.status).toBe(401);
      expect((await readError(response)).error.code).toBe("unauthorized");
    }
  });
});

describe("GET /calls/{call_sid}", () => {
  it("answers 404 call_not_found as JSON for an unknown call_sid", async () => {
    const response = await callWorker(get("/calls/EL_404_1"));
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toContain("application/json");
    const body = await readError(response);
    expect(body.error.code).toBe("call_not_found");
    expect(body.error.message).toContain("EL_404_1");
  });

  it("answers a call_sid Postgres cannot store (NUL byte) with 400, not 500", async () => {
    const response = await callWorker(get("/calls/EL_%00_1"));
    expect(response.status).toBe(400);
    expect((await readError(response)).error.code).toBe("invalid_request");
  });

  it("returns the call and its transcript ordered by sequence_number, with the contract's fields only", async () => {
    const call = await insertTestCall({ createdAt: new Date("2026-11-23T14:00:00.000Z") });
    // Inserted out of order, and with an instant stored at microsecond precision.
    await testSql.query(
      `INSERT INTO call_transcriptions (conversation_id, speaker, message, "timestamp", sequence_number)
       VALUES ($1, 'user', 'third', '2026-11-23T08:05:11.000-06:00', 3),
              ($1, 'agent', 'first', '2026-11-23T14:05:09.120456Z', 1),
              ($1, 'user', 'second', '2026-11-23T14:05:10.5Z', 2)`,
      [call.conversationId],
    );
    const { status, body } = await readCall(call.callSid);
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(["analysis", "call", "transcript"]);
    // The call is not over: every analysis value is still null.
    expect(body.analysis).toEqual({
      call_successful: null,
      summary: null,
      data_collection: null,
      evaluation: null,
      termination_reason: null,
    });
    expect(Object.keys(body.call).sort()).toEqual(CALL_KEYS);
    expect(body.call).toMatchObject({
      call_sid: call.callSid,
      driver_id: call.driverId,
      conversation_id: call.conversationId,
      status: "IN_PROGRESS",
      call_end_time: null,
      failure_reason: null,
      created_at: "2026-11-23T14:00:00.000Z",
      updated_at: "2026-11-23T14:00:00.000Z",
    });
    for (const entry of body.transcript) expect(Object.keys(entry).sort()).toEqual(TRANSCRIPT_KEYS);
    expect(body.transcript).toEqual([
      {
        sequence_number: 1,
        speaker: "agent",
        message: "first",
        timestamp: "2026-11-23T14:05:09.120Z",
      },
      {
        sequence_number: 2,
        speaker: "user",
        message: "second",
        timestamp: "2026-11-23T14:05:10.500Z",
      },
      {
        sequence_number: 3,
        speaker: "user",
        message: "third",
        timestamp: "2026-11-23T14:05:11.000Z",
      },
    ]);
  });

  it("gives every time as an ISO 8601 UTC string ending in Z", async () => {
    const call = await insertTestCall();
    await testSql.query(
      `INSERT INTO call_transcriptions (conversation_id, speaker, message, "timestamp", sequence_number)
       VALUES ($1, 'agent', 'hello', now(), 1)`,
      [call.conversationId],
    );
    await testSql.query(
      "UPDATE calls SET status = 'COMPLETED', call_end_time = now() WHERE id = $1",
      [call.id],
    );
    const { body } = await readCall(call.callSid);
    const times = [
      body.call.call_start_time,
      body.call.call_end_time,
      body.call.created_at,
      body.call.updated_at,
      ...body.transcript.map((entry) => entry.timestamp),
    ];
    expect(times).toHaveLength(5);
    for (const time of times) {
      expect(time).toMatch(ISO_UTC);
      expect(new Date(time ?? "").toISOString()).toBe(time);
    }
  });

  it("shows a FAILED call's failure_reason, no conversation_id and an empty transcript", async () => {
    const call = await insertTestCall({ started: false });
    await testSql.query(
      "UPDATE calls SET status = 'FAILED', failure_reason = 'busy', call_end_time = '2026-11-23T14:06:00Z' WHERE id = $1",
      [call.id],
    );
    const { status, body } = await readCall(call.callSid);
    expect(status).toBe(200);
    expect(body.call).toMatchObject({
      status: "FAILED",
      failure_reason: "busy",
      conversation_id: null,
      call_end_time: "2026-11-23T14:06:00.000Z",
    });
    expect(body.transcript).toEqual([]);
  });

  it("reads the call and its transcript in one SQL statement", async () => {
    const call = await insertTestCall();
    const scope = newScope();
    const response = await callWorker(get(`/calls/${call.callSid}`), { scope });
    expect(response.status).toBe(200);
    expect(await statementsSent(scope)).toHaveLength(1);
  });
});

describe("GET /calls", () => {
  it("lists only the calls of the driver_id asked for, newest first, with the contract's fields", async () => {
    const driverId = freshDriverId();
    const other = freshDriverId();
    await insertCalls(driverId, 3);
    await insertCalls(other, 2);
    const page = await listPage({ driver_id: driverId });
    expect(Object.keys(page).sort()).toEqual(["calls", "next_cursor"]);
    expect(page.calls.map((call) => call.call_sid)).toEqual(await expectedOrder(driverId));
    expect(page.calls).toHaveLength(3);
    expect(page.next_cursor).toBeNull();
    for (const call of page.calls) {
      expect(Object.keys(call).sort()).toEqual(CALL_KEYS);
      expect(call.driver_id).toBe(driverId);
      expect(call.created_at).toMatch(ISO_UTC);
    }
    const times = page.calls.map((call) => call.created_at);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it("filters by status (with driver_id)", async () => {
    const driverId = freshDriverId();
    const failed = await insertCalls(driverId, 2, { status: "FAILED" });
    const completed = await insertCalls(driverId, 3, {
      status: "COMPLETED",
      createdAt: "2026-02-01T00:00:00Z",
    });
    const inProgress = await insertCalls(driverId, 1, { status: "IN_PROGRESS" });
    const sids = async (status: string) =>
      (await listPage({ driver_id: driverId, status })).calls.map((call) => call.call_sid).sort();
    expect(await sids("FAILED")).toEqual([...failed].sort());
    expect(await sids("COMPLETED")).toEqual([...completed].sort());
    expect(await sids("IN_PROGRESS")).toEqual([...inProgress].sort());
    // Without driver_id: at least the two FAILED calls above exist, so the page cannot be
    // empty (an empty page would make the `every` below true for any filter).
    const [{ n: failedCount } = { n: 0 }] = (await testSql.query(
      "SELECT count(*)::int AS n FROM calls WHERE status = 'FAILED'",
    )) as { n: number }[];
    const failedPage = await listPage({ status: "FAILED", limit: 100 });
    expect(failedPage.calls.length).toBeGreaterThanOrEqual(Math.min(100, failedCount));
    expect(failedPage.calls.map((call) => call.status)).toEqual(
      failedPage.calls.map(() => "FAILED"),
    );
  });

  it("answers an unknown driver with an empty page and no cursor", async () => {
    expect(await listPage({ driver_id: freshDriverId() })).toEqual({
      calls: [],
      next_cursor: null,
    });
  });

  it("returns 50 calls by default, and at most limit", async () => {
    const driverId = freshDriverId();
    await insertCalls(driverId, 55);
    const byDefault = await listPage({ driver_id: driverId });
    expect(byDefault.calls).toHaveLength(50);
    expect(byDefault.next_cursor).toEqual(expect.any(String));
    expect((await listPage({ driver_id: driverId, limit: 1 })).calls).toHaveLength(1);
    const all = await listPage({ driver_id: driverId, limit: 100 });
    expect(all.calls).toHaveLength(55);
    expect(all.next_cursor).toBeNull();
  });

  it("gives no next_cursor when the last page is exactly full", async () => {
    const driverId = freshDriverId();
    await insertCalls(driverId, 4);
    const first = await listPage({ driver_id: driverId, limit: 2 });
    const second = await listPage({
      driver_id: driverId,
      limit: 2,
      cursor: first.next_cursor ?? "",
    });
    expect(second.calls).toHaveLength(2);
    expect(second.next_cursor).toBeNull();
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=101", "limit"],
    ["limit=abc", "limit"],
    ["limit=-1", "limit"],
    ["limit=2.5", "limit"],
    ["status=DONE", "status"],
    ["status=completed", "status"],
    ["driver_id=0", "driver_id"],
    ["driver_id=abc", "driver_id"],
    ["driver_id=99999999999", "driver_id"],
  ])("answers %s with 400 invalid_request naming %s", async (query, field) => {
    const body = await listError(query);
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ field })]),
    );
  });

  it.each([
    ["not base64", "!!!"],
    ["empty", ""],
    ["base64 of garbage", base64url("garbage")],
    ["JSON without the fields", base64url(JSON.stringify({ x: 1 }))],
    ["a created_at that is not a time", base64url(JSON.stringify({ c: "yesterday", i: 1 }))],
    [
      "an impossible created_at",
      base64url(JSON.stringify({ c: "2026-13-45T25:00:00.000000Z", i: 1 })),
    ],
    ["a negative id", base64url(JSON.stringify({ c: "2026-01-01T00:00:00.000000Z", i: -1 }))],
    [
      "an id beyond integer",
      base64url(JSON.stringify({ c: "2026-01-01T00:00:00.000000Z", i: 2 ** 40 })),
    ],
  ])(
    "answers a malformed cursor (%s) with 400 invalid_request naming cursor",
    async (_name, cursor) => {
      const body = await listError(`cursor=${encodeURIComponent(cursor)}`);
      expect(body.error.code).toBe("invalid_request");
      expect(body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ field: "cursor" })]),
      );
    },
  );

  it("pages 120 calls in 3 pages, each exactly once and newest first, while 30 newer calls arrive", async () => {
    const driverId = freshDriverId();
    await insertCalls(driverId, 120, { createdAt: "2026-03-01T12:00:00Z" });
    const original = await expectedOrder(driverId);
    expect(original).toHaveLength(120);
    const pages = await listAll({ driver_id: driverId, limit: 50 }, async () => {
      // Newer than every original call: they sort before the cursor, so later pages do not move.
      await insertCalls(driverId, 15, { createdAt: new Date().toISOString(), stepMs: 1 });
    });
    expect(pages.map((page) => page.length)).toEqual([50, 50, 20]);
    expect(pages.flat().map((call) => call.call_sid)).toEqual(original);
    expect(await expectedOrder(driverId)).toHaveLength(150);
  });

  it("splits calls with the same created_at across pages by id, skipping and repeating none", async () => {
    const driverId = freshDriverId();
    // 3 older calls, then 7 created at one instant, then 2 newer: page boundaries (limit 3)
    // fall inside the run of ties.
    await insertCalls(driverId, 3, { createdAt: "2026-04-01T00:00:00Z" });
    const ties = await insertCalls(driverId, 7, { createdAt: "2026-04-02T00:00:00Z", stepMs: 0 });
    await insertCalls(driverId, 2, { createdAt: "2026-04-03T00:00:00Z" });
    const pages = await listAll({ driver_id: driverId, limit: 3 });
    expect(pages.map((page) => page.length)).toEqual([3, 3, 3, 3]);
    const listed = pages.flat().map((call) => call.call_sid);
    expect(listed).toEqual(await expectedOrder(driverId));
    expect(new Set(listed).size).toBe(12);
    expect(listed.slice(2, 9).sort()).toEqual([...ties].sort());
  });

  it("keeps calls apart that differ below the millisecond", async () => {
    const driverId = freshDriverId();
    // JS Dates would round both to .123: the cursor must carry microseconds.
    await insertCalls(driverId, 1, { createdAt: "2026-05-01T00:00:00.123456Z", stepMs: 0 });
    await insertCalls(driverId, 1, { createdAt: "2026-05-01T00:00:00.123789Z", stepMs: 0 });
    await insertCalls(driverId, 1, { createdAt: "2026-05-01T00:00:00.123001Z", stepMs: 0 });
    const pages = await listAll({ driver_id: driverId, limit: 1 });
    expect(pages.flat().map((call) => call.call_sid)).toEqual(await expectedOrder(driverId));
    expect(pages).toHaveLength(3);
  });

  it("lists a page in one SQL statement", async () => {
    const driverId = freshDriverId();
    await insertCalls(driverId, 3);
    const first = await listPage({ driver_id: driverId, limit: 2 });
    const scope = newScope();
    const second = await listPage(
      { driver_id: driverId, limit: 2, cursor: first.next_cursor ?? "" },
      { scope },
    );
    expect(second.calls).toHaveLength(1);
    expect(await statementsSent(scope)).toHaveLength(1);
  });

  it("can walk idx_calls_created_at_id for the keyset page (EXPLAIN)", async () => {
    // As in the call_sid lookup test: a small test table can favour a seq scan, so this
    // checks that the index serves the order and the keyset predicate when scans are off.
    const [, , plan] = await testSql.transaction([
      testSql.query("SET LOCAL enable_seqscan = off"),
      testSql.query("SET LOCAL enable_bitmapscan = off"),
      testSql.query(
        `EXPLAIN SELECT id FROM calls WHERE (created_at, id) < ($1::timestamptz, $2::integer)
         ORDER BY created_at DESC, id DESC LIMIT 51`,
        ["2026-01-01T00:00:00.000000Z", 1000],
      ),
    ]);
    const text = JSON.stringify(plan);
    expect(text).toMatch(/Index (Only )?Scan using idx_calls_created_at_id/);
    expect(text).not.toMatch(/Sort/);
  });
});
