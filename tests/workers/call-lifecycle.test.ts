// What a first production week would have broken, each guarded here: a call that rang
// after a timeout left FAILED, transcripts read out of order or with a reworded turn twice,
// and a reconciler that starves or gives up on nothing.
import {
  createExecutionContext,
  createScheduledController,
  waitOnExecutionContext,
} from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RECONCILER_CRON } from "../../src/crons";
import { type ElevenLabsClient, ElevenLabsUnavailableError } from "../../src/elevenlabs/client";
import { AppError } from "../../src/http/errors";
import { createWorker } from "../../src/index";
import { TEST_SECRETS } from "../setup/test-secrets";
import { freshDriverId, insertTestCall } from "../support/calls";
import { simulatorClient } from "../support/dispatch";
import { privateDatabase } from "../support/lab";
import { captureLogs } from "../support/logs";
import { signedPostCall, type Turn, transcriptionEvent } from "../support/post-call";
import { testSql } from "../support/sql";
import { callWorker, jsonRequest, testEnv } from "../support/worker";

const START = 1_795_500_000;

afterEach(() => vi.restoreAllMocks());

interface CallJson {
  call: {
    status: string;
    conversation_id: string | null;
    call_end_time: string | null;
    failure_reason: string | null;
  };
  transcript: { sequence_number: number; speaker: string; message: string; timestamp: string }[];
}

async function readCall(callSid: string): Promise<CallJson> {
  const response = await callWorker(
    new Request(`http://driver-calls.test/calls/${callSid}`, {
      headers: { authorization: `Bearer ${TEST_SECRETS.API_TOKEN}` },
    }),
  );
  expect(response.status).toBe(200);
  return (await response.json()) as CallJson;
}

async function live(callSid: string, turn: Turn, message = turn.message) {
  const response = await callWorker(
    jsonRequest(
      "POST",
      "/webhooks/elevenlabs/transcription",
      {
        call_sid: callSid,
        speaker: turn.role,
        message,
        timestamp: new Date((START + turn.time_in_call_secs) * 1000).toISOString(),
      },
      { authorization: `Bearer ${TEST_SECRETS.TRANSCRIPTION_WEBHOOK_TOKEN}` },
    ),
  );
  expect(response.status).toBe(200);
}

async function postCall(event: unknown) {
  const response = await callWorker(await signedPostCall(event));
  return { status: response.status, body: (await response.json()) as { status: string } };
}

const FINAL: Turn[] = [
  { role: "agent", message: "T0: Hi Ana, this is the fleet safety team.", time_in_call_secs: 0 },
  { role: "user", message: "T1: Hi.", time_in_call_secs: 2 },
  {
    role: "agent",
    message: "T2: You drove past the 11-hour limit on Friday, is that right?",
    time_in_call_secs: 4,
  },
  { role: "user", message: "T3: Yes, traffic was bad.", time_in_call_secs: 8 },
  { role: "agent", message: "T4: Thanks. Drive safe.", time_in_call_secs: 11 },
];

describe("transcripts in the order spoken, each turn once", () => {
  it("live T0 and a reworded T2, then the final T0..T4: GET gives exactly T0..T4; a redelivery changes nothing", async () => {
    const call = await insertTestCall();
    await live(call.callSid, FINAL[0] as Turn);
    // The live tool's message is written by the agent's model: worded differently.
    await live(
      call.callSid,
      FINAL[2] as Turn,
      "T2: you went over the 11 hour limit friday, right?",
    );

    const before = await readCall(call.callSid);
    expect(before.transcript.map((turn) => [turn.sequence_number, turn.message])).toEqual([
      [1, "T0: Hi Ana, this is the fleet safety team."],
      [2, "T2: you went over the 11 hour limit friday, right?"],
    ]);

    const event = transcriptionEvent({
      conversationId: call.conversationId as string,
      callSid: call.callSid,
      startTimeUnixSecs: START,
      durationSecs: 12,
      transcript: FINAL,
    });
    expect((await postCall(event)).body.status).toBe("processed");
    const after = await readCall(call.callSid);
    expect(after.call.status).toBe("COMPLETED");
    expect(after.transcript).toEqual(
      FINAL.map((turn, index) => ({
        sequence_number: index + 1,
        speaker: turn.role,
        message: turn.message,
        timestamp: new Date((START + turn.time_in_call_secs) * 1000).toISOString(),
      })),
    );
    // The live rows stay stored, as they arrived.
    const liveRows = (await testSql.query(
      "SELECT sequence_number, message FROM call_transcriptions WHERE conversation_id = $1 ORDER BY sequence_number",
      [call.conversationId],
    )) as { sequence_number: number; message: string }[];
    expect(liveRows).toHaveLength(2);

    expect((await postCall(event)).body.status).toBe("unchanged");
    expect(await readCall(call.callSid)).toEqual(after);
  });
});

describe("a call that may have rung is not final", () => {
  it("timeout -> FAILED -> post-call report with its call_sid -> COMPLETED with conversation_id, end time, transcript", async () => {
    // A real dial to the simulator's 0408 number, with a client that gives up after 100 ms.
    const worker = createWorker({ elevenLabs: simulatorClient({ timeoutMs: 100 }) });
    const driverId = freshDriverId();
    const response = await callWorker(
      jsonRequest(
        "POST",
        "/calls/batch",
        {
          drivers: [
            {
              driver_id: driverId,
              phone_number: "+15551230408",
              driver_name: "Ana Ruiz",
              violations: [
                {
                  code: "HOS_11H",
                  description: "11-hour limit",
                  occurred_at: "2026-11-20T14:05:00Z",
                },
              ],
            },
          ],
        },
        { authorization: `Bearer ${TEST_SECRETS.API_TOKEN}` },
      ),
      { worker },
    );
    const batch = (await response.json()) as {
      results: { call_sid: string; status: string; error?: { code: string } }[];
    };
    const result = batch.results[0];
    expect(result).toMatchObject({ status: "FAILED", error: { code: "elevenlabs_timeout" } });
    const callSid = result?.call_sid as string;
    expect((await readCall(callSid)).call).toMatchObject({
      status: "FAILED",
      failure_reason: "elevenlabs_timeout",
      conversation_id: null,
    });

    // ElevenLabs had placed it after all: its post-call report carries our call_sid.
    const conversationId = `conv_rang_${crypto.randomUUID()}`;
    const report = await postCall(
      transcriptionEvent({
        conversationId,
        callSid,
        startTimeUnixSecs: START,
        durationSecs: 12,
        transcript: FINAL,
      }),
    );
    expect(report.body.status).toBe("processed");
    const after = await readCall(callSid);
    expect(after.call).toMatchObject({
      status: "COMPLETED",
      conversation_id: conversationId,
      call_end_time: new Date((START + 12) * 1000).toISOString(),
      failure_reason: null,
    });
    expect(after.transcript.map((turn) => turn.message)).toEqual(FINAL.map((t) => t.message));
  });

  it("a call ElevenLabs refused with a 4xx stays FAILED when a report comes anyway, and it is logged", async () => {
    const call = await insertTestCall({ started: false, status: "FAILED" });
    await testSql.query(
      "UPDATE calls SET failure_reason = 'elevenlabs_http_error' WHERE call_sid = $1",
      [call.callSid],
    );
    const logs = captureLogs();
    const report = await postCall(
      transcriptionEvent({
        conversationId: `conv_never_${crypto.randomUUID()}`,
        callSid: call.callSid,
        startTimeUnixSecs: START,
        transcript: FINAL,
      }),
    );
    expect(report).toEqual({ status: 200, body: { status: "unchanged" } });
    vi.restoreAllMocks();
    expect((await readCall(call.callSid)).call).toMatchObject({
      status: "FAILED",
      failure_reason: "elevenlabs_http_error",
      conversation_id: null,
    });
    expect(logs.events("post_call_for_call_that_never_rang")).toEqual([
      expect.objectContaining({ call_sid: call.callSid, failure_reason: "elevenlabs_http_error" }),
    ]);
  });
});

// The reconciler on a private database, with a fixed clock and a fake ElevenLabs: the
// order in which it checks stuck calls is the point, so no other test's calls may mix in.
class FakeElevenLabs implements ElevenLabsClient {
  failing = new Set<string>();
  asked: string[] = [];
  async placeOutboundCall(): Promise<never> {
    throw new Error("the reconciler never places calls");
  }
  async getConversation(conversationId: string) {
    this.asked.push(conversationId);
    if (this.failing.has(conversationId)) {
      throw new ElevenLabsUnavailableError("ElevenLabs answered HTTP 401: missing read access");
    }
    return {
      status: "done",
      data: {
        conversation_id: conversationId,
        status: "done",
        transcript: FINAL,
        metadata: { start_time_unix_secs: START, call_duration_secs: 12 },
      },
    };
  }
}

async function reconcile(
  databaseUrl: string,
  now: Date,
  elevenLabs: (config: unknown) => ElevenLabsClient,
) {
  const worker = createWorker({ clock: { now: () => now }, elevenLabs });
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ cron: RECONCILER_CRON, scheduledTime: now.getTime() }),
    { ...testEnv, DATABASE_URL: databaseUrl } as never,
    ctx,
  );
  await waitOnExecutionContext(ctx);
}

async function stuckCall(
  sql: Awaited<ReturnType<typeof privateDatabase>>["sql"],
  options: { createdAt: Date; conversationId: string | null },
) {
  const callSid = `EL_${freshDriverId()}_${Math.floor(options.createdAt.getTime() / 1000)}`;
  await sql.query(
    `INSERT INTO calls (call_sid, driver_id, conversation_id, status, call_start_time, created_at, updated_at)
     VALUES ($1, 1, $2, 'IN_PROGRESS', $3, $3, $3)`,
    [callSid, options.conversationId, options.createdAt.toISOString()],
  );
  return callSid;
}

describe("a reconciler that cannot starve", () => {
  it("60 stuck calls whose lookups fail and 1 newer one: the newer one completes within 2 runs", async () => {
    const { url, sql } = await privateDatabase();
    const now = new Date("2026-11-30T12:00:00Z");
    const fake = new FakeElevenLabs();
    for (let index = 0; index < 60; index++) {
      const conversationId = `conv_broken_${index}`;
      fake.failing.add(conversationId);
      await stuckCall(sql, { createdAt: new Date("2026-11-30T09:00:00Z"), conversationId });
    }
    const newer = await stuckCall(sql, {
      createdAt: new Date("2026-11-30T11:00:00Z"),
      conversationId: "conv_fine",
    });
    await reconcile(url, now, () => fake);
    await reconcile(url, new Date(now.getTime() + 5 * 60_000), () => fake);
    const [row] = (await sql.query("SELECT status FROM calls WHERE call_sid = $1", [newer])) as {
      status: string;
    }[];
    expect(row?.status).toBe("COMPLETED");
    // Each run looked up at most 50, and every broken call got its turn.
    expect(fake.asked.length).toBeLessThanOrEqual(100);
    const checked = (await sql.query(
      "SELECT count(*)::int AS n FROM calls WHERE reconcile_checks >= 1 AND conversation_id LIKE 'conv_broken_%'",
    )) as { n: number }[];
    expect(checked[0]?.n).toBe(60);
  });

  it("lookups that keep failing: FAILED conversation_stale two hours after the call started, with a log line", async () => {
    const { url, sql } = await privateDatabase();
    const fake = new FakeElevenLabs();
    fake.failing.add("conv_never_answers");
    const callSid = await stuckCall(sql, {
      createdAt: new Date("2026-11-29T08:00:00Z"),
      conversationId: "conv_never_answers",
    });
    const status = async () =>
      (
        (await sql.query("SELECT status, failure_reason FROM calls WHERE call_sid = $1", [
          callSid,
        ])) as { status: string; failure_reason: string | null }[]
      )[0];
    await reconcile(url, new Date("2026-11-29T09:00:00Z"), () => fake);
    await reconcile(url, new Date("2026-11-29T09:59:00Z"), () => fake);
    expect(await status()).toEqual({ status: "IN_PROGRESS", failure_reason: null });

    const logs = captureLogs();
    await reconcile(url, new Date("2026-11-29T10:01:00Z"), () => fake);
    vi.restoreAllMocks();
    expect(await status()).toEqual({ status: "FAILED", failure_reason: "conversation_stale" });
    expect(logs.events("call_failed")).toEqual([
      expect.objectContaining({ call_sid: callSid, reason: "conversation_stale" }),
    ]);
  });

  it("names a call whose lookups were already failing for 24 hours reconcile_gave_up, with a log line", async () => {
    const { url, sql } = await privateDatabase();
    const fake = new FakeElevenLabs();
    fake.failing.add("conv_failing_for_a_day");
    const callSid = await stuckCall(sql, {
      createdAt: new Date("2026-11-28T08:00:00Z"),
      conversationId: "conv_failing_for_a_day",
    });
    await sql.query("UPDATE calls SET reconcile_failing_since = $2 WHERE call_sid = $1", [
      callSid,
      "2026-11-28T08:30:00Z",
    ]);
    const logs = captureLogs();
    await reconcile(url, new Date("2026-11-29T08:31:00Z"), () => fake);
    vi.restoreAllMocks();
    const [row] = (await sql.query("SELECT status, failure_reason FROM calls WHERE call_sid = $1", [
      callSid,
    ])) as { status: string; failure_reason: string }[];
    expect(row).toEqual({ status: "FAILED", failure_reason: "reconcile_gave_up" });
    expect(logs.events("call_failed")).toEqual([
      expect.objectContaining({ call_sid: callSid, reason: "reconcile_gave_up" }),
    ]);
    // Never asked: a day of failed lookups is enough.
    expect(fake.asked).toEqual([]);
  });

  it("a broken ElevenLabs configuration does not stop the sweep of interrupted initiations", async () => {
    const { url, sql } = await privateDatabase();
    const callSid = await stuckCall(sql, {
      createdAt: new Date("2026-11-30T11:00:00Z"),
      conversationId: null,
    });
    await reconcile(url, new Date("2026-11-30T12:00:00Z"), () => {
      throw new AppError("configuration_error", "ElevenLabs is not configured.");
    });
    const [row] = (await sql.query("SELECT status, failure_reason FROM calls WHERE call_sid = $1", [
      callSid,
    ])) as { status: string; failure_reason: string }[];
    expect(row).toEqual({ status: "FAILED", failure_reason: "initiation_interrupted" });
  });
});
