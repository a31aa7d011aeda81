// POST /calls/batch against the ElevenLabs simulator (a real local HTTP server). All tests
// that place outbound calls live in this file: its tests run one after another, so the
// simulator's in-flight counts belong to one test at a time.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { createElevenLabsClient } from "../../src/elevenlabs/client";
import { createWorker } from "../../src/index";
import { TEST_SECRETS } from "../setup/test-secrets";
import { freshDriverId } from "../support/calls";
import {
  deliverWebhooks,
  resetSimulator,
  simulatorPlayed,
  simulatorRecords,
  takeOutbox,
} from "../support/simulator";
import { testSql } from "../support/sql";
import {
  callWorker,
  jsonRequest,
  neonControl,
  newScope,
  readError,
  statementsSent,
  UNREACHABLE_ENDPOINT,
} from "../support/worker";

interface BatchBody {
  results: {
    driver_id: number;
    call_sid: string;
    conversation_id: string | null;
    status: string;
    error?: { code: string; message: string };
  }[];
  summary: { requested: number; started: number; failed: number };
}

/**
 * A number no other test's live call has (one number, one live call: the shared test
 * database holds many live calls): a prefix no other test file uses, then a count from a
 * random start, then the four digits that steer the simulator.
 */
let numbersGiven = Math.floor(Math.random() * 500_000);
function phone(lastFour: string) {
  numbersGiven += 1;
  return `+1559${String(100_000 + (numbersGiven % 900_000)).padStart(6, "0")}${lastFour}`;
}

function driver(lastFour = "1234", driverId = freshDriverId()) {
  return {
    driver_id: driverId,
    phone_number: phone(lastFour),
    driver_name: "Ana Ruiz",
    violations: [
      {
        code: "HOS_11H",
        description: "Exceeded the 11-hour driving limit",
        occurred_at: "2026-11-20T14:05:00-06:00",
      },
    ],
  };
}

function batchRequest(drivers: unknown, token: string = TEST_SECRETS.API_TOKEN) {
  return jsonRequest("POST", "/calls/batch", { drivers }, { authorization: `Bearer ${token}` });
}

async function postBatch(drivers: unknown, options: Parameters<typeof callWorker>[1] = {}) {
  const response = await callWorker(batchRequest(drivers), options);
  return { status: response.status, body: (await response.json()) as BatchBody };
}

async function callRows(driverIds: number[]) {
  return (await testSql.query(
    `SELECT call_sid, driver_id, conversation_id, status, failure_reason, failure_detail, call_start_time
     FROM calls WHERE driver_id = ANY($1::int[]) ORDER BY id`,
    [driverIds],
  )) as {
    call_sid: string;
    driver_id: number;
    conversation_id: string | null;
    status: string;
    failure_reason: string | null;
    failure_detail: string | null;
  }[];
}

/** A Worker whose ElevenLabs client gives up after 300 ms instead of 10 s (the 0408 case). */
const impatientWorker = createWorker({
  elevenLabs: (config) =>
    createElevenLabsClient({
      apiKey: config.ELEVENLABS_API_KEY ?? "",
      baseUrl: config.ELEVENLABS_API_BASE_URL,
      agentId: config.ELEVENLABS_AGENT_ID ?? "",
      agentPhoneNumberId: config.ELEVENLABS_AGENT_PHONE_NUMBER_ID ?? "",
      timeoutMs: 300,
    }),
});

beforeEach(async () => {
  await simulatorPlayed();
  await takeOutbox();
  await resetSimulator();
});

describe("POST /calls/batch", () => {
  it("writes the Call row before ElevenLabs is asked, then stores the conversation_id", async () => {
    const drivers = [driver(), driver()];
    const { status, body } = await postBatch(drivers);
    expect(status).toBe(200);
    const { records } = await simulatorRecords();
    expect(records).toHaveLength(2);
    for (const record of records) {
      // Observed by the simulator, through Postgres, at the moment the request arrived.
      expect(record.callRowExisted).toBe(true);
      expect(record.conversationIdWasNull).toBe(true);
    }
    const rows = await callRows(drivers.map((d) => d.driver_id));
    expect(rows.map((row) => row.conversation_id)).toEqual(
      body.results.map((result) => result.conversation_id),
    );
    expect(
      rows.every(
        (row) => row.status === "IN_PROGRESS" && row.conversation_id?.startsWith("conv_sim_"),
      ),
    ).toBe(true);
    expect(body.summary).toEqual({ requested: 2, started: 2, failed: 0 });
  });

  it("sends ElevenLabs the call_sid, driver and a readable violation summary as dynamic variables", async () => {
    const d = driver();
    const { body } = await postBatch([d]);
    const [record] = (await simulatorRecords()).records;
    expect(record?.callSid).toBe(body.results[0]?.call_sid);
    expect(record?.dynamicVariables).toMatchObject({
      call_sid: body.results[0]?.call_sid,
      driver_id: d.driver_id,
      driver_name: "Ana Ruiz",
      // What the agent's webhook tool puts in its Authorization header.
      secret__transcription_webhook_token: `Bearer ${TEST_SECRETS.TRANSCRIPTION_WEBHOOK_TOKEN}`,
    });
    expect(String(record?.dynamicVariables.violations_summary)).toContain("HOS_11H");
    expect(body.results[0]?.call_sid).toMatch(new RegExp(`^EL_${d.driver_id}_\\d{10}(_\\d+)?$`));
  });

  it("answers a mixed batch per driver, in request order, with a correct summary", async () => {
    const drivers = [
      driver("1111"),
      driver("0500"),
      driver("2222"),
      driver("0422"),
      driver("0200"),
      driver("0299"),
    ];
    const { status, body } = await postBatch(drivers);
    expect(status).toBe(200);
    expect(body.results.map((result) => result.driver_id)).toEqual(drivers.map((d) => d.driver_id));
    expect(body.results.map((result) => result.status)).toEqual([
      "IN_PROGRESS",
      "FAILED",
      "IN_PROGRESS",
      "FAILED",
      "FAILED",
      "FAILED",
    ]);
    // 0500: HTTP 500 (may have rung); 0422: HTTP 422 (refused); 0200: success:false; 0299: a
    // 2xx body that is not the outbound-call JSON.
    const codes = [
      null,
      "elevenlabs_server_error",
      null,
      "elevenlabs_http_error",
      "elevenlabs_rejected",
      "elevenlabs_bad_response",
    ];
    expect(body.results.map((result) => result.error?.code ?? null)).toEqual(codes);
    expect(body.summary).toEqual({ requested: 6, started: 2, failed: 4 });
    // Each row's failure_reason is the same short code; the sentence is in failure_detail.
    const rows = await callRows(drivers.map((d) => d.driver_id));
    const rowOf = new Map(rows.map((row) => [row.driver_id, row]));
    for (const [index, result] of body.results.entries()) {
      const row = rowOf.get(result.driver_id);
      expect(row?.call_sid).toBe(result.call_sid);
      expect(row?.failure_reason).toBe(codes[index]);
      if (codes[index] === null) {
        expect(row).toMatchObject({ status: "IN_PROGRESS", failure_detail: null });
      } else {
        expect(row).toMatchObject({ status: "FAILED", conversation_id: null });
        expect(row?.failure_detail).toEqual(expect.stringMatching(/^ElevenLabs .{10,}/));
        expect(result.error?.message).toContain(row?.failure_detail);
      }
    }
    expect(rows.filter((r) => r.status === "FAILED")).toHaveLength(4);
  });

  it("marks the Call FAILED when ElevenLabs never answers (timeout)", async () => {
    const d = driver("0408");
    const { body } = await postBatch([d], { worker: impatientWorker });
    expect(body.results[0]).toMatchObject({
      status: "FAILED",
      conversation_id: null,
      error: { code: "elevenlabs_timeout" },
    });
    const [row] = await callRows([d.driver_id]);
    expect(row).toMatchObject({
      status: "FAILED",
      conversation_id: null,
      failure_reason: "elevenlabs_timeout",
    });
  });

  it("marks the Call FAILED when ElevenLabs cannot be reached (connection refused)", async () => {
    const d = driver();
    const { body } = await postBatch([d], {
      env: { ELEVENLABS_API_BASE_URL: "http://127.0.0.1:9" },
    });
    expect(body.results[0]).toMatchObject({
      status: "FAILED",
      error: { code: "elevenlabs_unreachable" },
    });
    const [row] = await callRows([d.driver_id]);
    expect(row).toMatchObject({ status: "FAILED", conversation_id: null });
  });

  it("answers 503 and places no call when the Call rows cannot be written", async () => {
    const d = driver();
    const response = await callWorker(batchRequest([d]), {
      env: { NEON_HTTP_ENDPOINT: UNREACHABLE_ENDPOINT },
    });
    expect(response.status).toBe(503);
    expect((await readError(response)).error.code).toBe("database_unavailable");
    expect((await simulatorRecords()).records).toHaveLength(0);
    expect(await callRows([d.driver_id])).toHaveLength(0);
  });

  it("neither duplicates rows nor fails when the INSERT's answer is lost and retried", async () => {
    const drivers = [driver(), driver(), driver()];
    const scope = newScope();
    await neonControl({ scope, fail: { mode: "drop_after_commit", count: 1 } });
    const { status, body } = await postBatch(drivers, { scope });
    expect(status).toBe(200);
    expect(body.summary.started).toBe(3);
    const rows = await callRows(drivers.map((d) => d.driver_id));
    expect(rows).toHaveLength(3);
    expect(rows.map((row) => row.call_sid).sort()).toEqual(
      body.results.map((r) => r.call_sid).sort(),
    );
    expect((await simulatorRecords()).records).toHaveLength(3);
  });

  it("keeps 100 drivers within CALL_CONCURRENCY=5: one Call and one request each", async () => {
    await resetSimulator(40);
    const drivers = Array.from({ length: 100 }, () => driver());
    const scope = newScope();
    const { status, body } = await postBatch(drivers, { scope, env: { CALL_CONCURRENCY: "5" } });
    expect(status).toBe(200);
    expect(body.summary).toEqual({ requested: 100, started: 100, failed: 0 });
    const { records, max_in_flight } = await simulatorRecords();
    expect(max_in_flight).toBe(5);
    expect(records.map((record) => record.callSid).sort()).toEqual(
      body.results.map((r) => r.call_sid).sort(),
    );
    const rows = await callRows(drivers.map((d) => d.driver_id));
    expect(rows).toHaveLength(100);
    expect(new Set(rows.map((row) => row.call_sid)).size).toBe(100);
    // One INSERT for all rows, then one UPDATE per driver (which also looks in the post-call
    // inbox): under 2 round trips per driver.
    const statements = await statementsSent(scope);
    expect(statements.filter((query) => /INSERT INTO calls/.test(query))).toHaveLength(1);
    expect(statements.length).toBe(101);
  });

  it("gives the same driver in two batches within one second two distinct call_sids", async () => {
    const fixedClock = { now: () => new Date("2026-11-23T15:00:00.250Z") };
    const worker = createWorker({ clock: fixedClock });
    const d = driver();
    const first = await postBatch([d], { worker });
    const second = await postBatch([{ ...d, phone_number: phone("4321") }], { worker });
    const third = await postBatch([d], { worker });
    const sids = [first, second, third].map((batch) => batch.body.results[0]?.call_sid);
    const base = `EL_${d.driver_id}_${Math.floor(Date.parse("2026-11-23T15:00:00Z") / 1000)}`;
    expect(sids).toEqual([base, `${base}_2`, `${base}_3`]);
  });

  it("gives concurrent batches for the same driver in the same second distinct call_sids", async () => {
    const worker = createWorker({ clock: { now: () => new Date("2026-11-23T16:00:00Z") } });
    const d = driver();
    const batches = await Promise.all(Array.from({ length: 4 }, () => postBatch([d], { worker })));
    expect(batches.every((batch) => batch.status === 200)).toBe(true);
    const sids = batches.map((batch) => batch.body.results[0]?.call_sid);
    expect(new Set(sids).size).toBe(4);
    expect(await callRows([d.driver_id])).toHaveLength(4);
  });
});

describe("bad batch requests write nothing", () => {
  const badCases: [string, () => unknown, string][] = [
    ["an empty list", () => [], "drivers"],
    ["101 drivers", () => Array.from({ length: 101 }, () => driver()), "drivers"],
    [
      "a phone number that is not E.164",
      () => [{ ...driver(), phone_number: "555-123-0042" }],
      "drivers.0.phone_number",
    ],
    [
      "a phone number without +",
      () => [{ ...driver(), phone_number: "15551230042" }],
      "drivers.0.phone_number",
    ],
    ["driver_id a string", () => [{ ...driver(), driver_id: "1042" }], "drivers.0.driver_id"],
    ["driver_id negative", () => [{ ...driver(), driver_id: -4 }], "drivers.0.driver_id"],
    ["driver_id fractional", () => [{ ...driver(), driver_id: 1.5 }], "drivers.0.driver_id"],
    ["no violations", () => [{ ...driver(), violations: [] }], "drivers.0.violations"],
    [
      "a violation without a zone",
      () => [
        {
          ...driver(),
          violations: [{ code: "X", description: "y", occurred_at: "2026-11-20T14:05:00" }],
        },
      ],
      "drivers.0.violations.0.occurred_at",
    ],
    [
      "driver_name missing",
      () => [{ ...driver(), driver_name: undefined }],
      "drivers.0.driver_name",
    ],
  ];

  it.each(badCases)("%s -> 400 naming the field", async (_name, makeDrivers, field) => {
    const drivers = makeDrivers() as { driver_id?: unknown }[];
    const response = await callWorker(batchRequest(drivers));
    expect(response.status).toBe(400);
    const body = await readError(response);
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ field })]),
    );
    const ids = drivers
      .map((d) => d.driver_id)
      .filter((id): id is number => typeof id === "number" && id > 0 && Number.isInteger(id));
    expect(await callRows(ids)).toHaveLength(0);
    expect((await simulatorRecords()).records).toHaveLength(0);
  });

  it("refuses the same driver twice in one batch, naming the second entry", async () => {
    const d = driver();
    const response = await callWorker(
      batchRequest([d, driver(), { ...d, phone_number: phone("9999") }]),
    );
    expect(response.status).toBe(400);
    const body = await readError(response);
    expect(body.error.details).toEqual([expect.objectContaining({ field: "drivers.2.driver_id" })]);
    expect(await callRows([d.driver_id])).toHaveLength(0);
  });

  it.each([
    ["no token", {}],
    ["a wrong token", { authorization: "Bearer nope" }],
    [
      "the webhook's token",
      { authorization: `Bearer ${TEST_SECRETS.TRANSCRIPTION_WEBHOOK_TOKEN}` },
    ],
  ])("%s -> 401, nothing written, no call placed", async (_name, headers) => {
    const d = driver();
    const response = await callWorker(
      jsonRequest("POST", "/calls/batch", { drivers: [d] }, headers),
    );
    expect(response.status).toBe(401);
    expect(await callRows([d.driver_id])).toHaveLength(0);
    expect((await simulatorRecords()).records).toHaveLength(0);
  });
});

describe("end to end with the simulator", () => {
  it("batch -> live utterances -> rows numbered 1..N for that call_sid", async () => {
    const d = driver();
    const { body } = await postBatch([d]);
    const callSid = body.results[0]?.call_sid ?? "";
    await simulatorPlayed();
    const webhooks = await takeOutbox(callSid);
    const utterances = webhooks.filter((webhook) => webhook.kind === "transcription");
    expect(utterances.length).toBeGreaterThanOrEqual(2);
    expect(await deliverWebhooks(utterances)).toEqual(utterances.map(() => 200));
    const rows = await testSql.query(
      `SELECT t.sequence_number, t.speaker FROM call_transcriptions t
       JOIN calls c ON c.conversation_id = t.conversation_id WHERE c.call_sid = $1 ORDER BY t.sequence_number`,
      [callSid],
    );
    expect(rows.map((row) => row.sequence_number)).toEqual(utterances.map((_, i) => i + 1));
    expect(new Set(rows.map((row) => row.speaker))).toEqual(new Set(["agent", "user"]));
  });

  it("batch -> live utterances -> post-call -> GET /calls/{call_sid} shows the whole call", async () => {
    const ordinary = driver();
    const busy = driver("0486");
    const { body } = await postBatch([ordinary, busy]);
    const [answered, rejected] = body.results;
    expect(answered?.status).toBe("IN_PROGRESS");
    // 0486: ElevenLabs accepts the call, then reports that the line was busy.
    expect(rejected?.status).toBe("IN_PROGRESS");
    await simulatorPlayed();

    const answeredWebhooks = await takeOutbox(answered?.call_sid);
    expect(answeredWebhooks.at(-1)?.kind).toBe("post_call");
    expect(await deliverWebhooks(answeredWebhooks)).toEqual(answeredWebhooks.map(() => 200));
    // The busy call's failure webhook carries no call_sid: it is matched by conversation_id.
    const busyWebhooks = (await takeOutbox()).filter(
      (webhook) => webhook.conversationId === rejected?.conversation_id,
    );
    expect(busyWebhooks).toHaveLength(1);
    expect(await deliverWebhooks(busyWebhooks)).toEqual([200]);

    const read = async (callSid: string | undefined) => {
      const response = await callWorker(
        new Request(`http://driver-calls.test/calls/${callSid}`, {
          headers: { authorization: `Bearer ${TEST_SECRETS.API_TOKEN}` },
        }),
      );
      expect(response.status).toBe(200);
      return (await response.json()) as {
        call: { status: string; failure_reason: string | null; call_end_time: string | null };
        transcript: { sequence_number: number; speaker: string; message: string }[];
      };
    };
    const completed = await read(answered?.call_sid);
    expect(completed.call.status).toBe("COMPLETED");
    expect(completed.call.call_end_time).not.toBeNull();
    // Once the call is over, the transcript is ElevenLabs' final one, spoken turns only, in
    // its order: the simulator words one live agent message differently, and the reader
    // sees the final wording once, never both.
    const report = JSON.parse(answeredWebhooks.at(-1)?.body ?? "{}") as {
      data: {
        transcript: { role: string; message: string | null; time_in_call_secs: number }[];
        metadata: { start_time_unix_secs: number };
      };
    };
    const spoken = report.data.transcript.filter(
      (turn) => (turn.role === "agent" || turn.role === "user") && turn.message,
    );
    expect(spoken.length).toBeGreaterThanOrEqual(2);
    expect(completed.transcript).toEqual(
      spoken.map((turn, i) => ({
        sequence_number: i + 1,
        speaker: turn.role,
        message: turn.message,
        timestamp: new Date(
          (report.data.metadata.start_time_unix_secs + turn.time_in_call_secs) * 1000,
        ).toISOString(),
      })),
    );
    // The live rows stay stored as they arrived: one per live utterance.
    const utterances = answeredWebhooks.filter((webhook) => webhook.kind === "transcription");
    const liveMessages = utterances.map(
      (webhook) => (JSON.parse(webhook.body) as { message: string }).message,
    );
    expect(liveMessages).not.toEqual(spoken.map((turn) => turn.message));
    const liveRows = await testSql.query(
      `SELECT t.message FROM call_transcriptions t JOIN calls c ON c.conversation_id = t.conversation_id
       WHERE c.call_sid = $1 ORDER BY t.sequence_number`,
      [answered?.call_sid],
    );
    expect(liveRows.map((row) => row.message)).toEqual(liveMessages);
    const failed = await read(rejected?.call_sid);
    expect(failed.call).toMatchObject({ status: "FAILED", failure_reason: "busy" });
    expect(failed.transcript).toEqual([]);
  });

  it("leaves no call without an answer when the database fails at random during a batch", async () => {
    const drivers = Array.from({ length: 20 }, () => driver());
    const scope = newScope();
    await neonControl({ scope, randomFailureRate: 0.3 });
    // The Worker's logs say which follow-up writes failed on every try (checked below).
    const logLines: Record<string, unknown>[] = [];
    const logSpy = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
      logLines.push(JSON.parse(String(line)) as Record<string, unknown>);
    });
    const response = await callWorker(batchRequest(drivers), { scope }).finally(() =>
      logSpy.mockRestore(),
    );
    await neonControl({ scope, reset: true });
    const rows = await callRows(drivers.map((d) => d.driver_id));
    if (response.status === 503) {
      // The INSERT never got through: no row, and no phone rang.
      expect(rows).toHaveLength(0);
      expect((await simulatorRecords()).records).toHaveLength(0);
      return;
    }
    expect(response.status).toBe(200);
    const body = (await response.json()) as BatchBody;
    // Every driver has a final answer in the response.
    expect(body.results.map((result) => result.driver_id)).toEqual(drivers.map((d) => d.driver_id));
    expect(body.results.every((result) => ["IN_PROGRESS", "FAILED"].includes(result.status))).toBe(
      true,
    );
    expect(rows).toHaveLength(20);
    // Each row exactly as its driver's answer says, except where the Worker logged that
    // storing the conversation_id failed on every try: that row is as the INSERT left it,
    // IN_PROGRESS without a conversation_id, which the reconciler's first rule fails after
    // 10 minutes (proven in reconciler.test.ts).
    const notSaved = new Set(
      logLines
        .filter((line) => line.event === "call_conversation_id_not_saved")
        .map((line) => line.call_sid),
    );
    const rowOf = new Map(rows.map((row) => [row.call_sid, row]));
    for (const result of body.results) {
      // Every number ends in 1234, which the simulator always accepts: only the database fails.
      expect(result).toMatchObject({
        status: "IN_PROGRESS",
        conversation_id: expect.stringMatching(/^conv_/),
      });
      expect(rowOf.get(result.call_sid), result.call_sid).toMatchObject({
        driver_id: result.driver_id,
        status: "IN_PROGRESS",
        conversation_id: notSaved.has(result.call_sid) ? null : result.conversation_id,
        failure_reason: null,
      });
    }
  });
});
