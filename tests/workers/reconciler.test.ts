// The scheduled reconciler, called as the cron trigger would call it. ElevenLabs is a fake
// behind the client interface; the clock is fixed in the year 2000 so that only this file's
// (backdated) calls are old enough to be touched while other files run in parallel.
import {
  createExecutionContext,
  createScheduledController,
  waitOnExecutionContext,
} from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ConversationDetails, ElevenLabsClient } from "../../src/elevenlabs/client";
import { ElevenLabsUnavailableError } from "../../src/elevenlabs/client";
import { createWorker } from "../../src/index";
import { transcriptRows } from "../support/calls";
import { testSql } from "../support/sql";
import { testEnv } from "../support/worker";

const NOW = new Date("2000-06-01T12:00:00Z");
const minutesAgo = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000);

class FakeElevenLabs implements ElevenLabsClient {
  conversations = new Map<string, ConversationDetails | "down">();
  asked: string[] = [];
  async placeOutboundCall(): Promise<never> {
    throw new Error("the reconciler never places calls");
  }
  async getConversation(conversationId: string) {
    this.asked.push(conversationId);
    const conversation = this.conversations.get(conversationId);
    if (conversation === "down") throw new ElevenLabsUnavailableError("ElevenLabs answered 503");
    return conversation ?? null;
  }
}

async function runReconciler(fake: FakeElevenLabs) {
  const worker = createWorker({ clock: { now: () => NOW }, elevenLabs: () => fake });
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ cron: "*/5 * * * *", scheduledTime: NOW.getTime() }),
    testEnv,
    ctx,
  );
  await waitOnExecutionContext(ctx);
}

let sequence = 0;
async function insertCall(options: {
  createdAt: Date;
  conversationId: string | null;
  status?: string;
}) {
  sequence += 1;
  const callSid = `EL_${900_000_000 + Math.floor(Math.random() * 99_999_999)}_${946_684_800 + sequence}`;
  await testSql.query(
    `INSERT INTO calls (call_sid, driver_id, conversation_id, status, call_start_time, created_at, updated_at)
     VALUES ($1, 7, $2, $3, $4, $4, $4)`,
    [
      callSid,
      options.conversationId,
      options.status ?? "IN_PROGRESS",
      options.createdAt.toISOString(),
    ],
  );
  return callSid;
}

async function call(callSid: string) {
  const [row] = (await testSql.query(
    `SELECT status, failure_reason, failure_detail, conversation_id, call_end_time, final_transcript,
            reconcile_checks, last_reconciled_at, reconcile_failing_since
     FROM calls WHERE call_sid = $1`,
    [callSid],
  )) as {
    status: string;
    failure_reason: string | null;
    failure_detail: string | null;
    conversation_id: string | null;
    call_end_time: Date | null;
    final_transcript: unknown;
    reconcile_checks: number;
    last_reconciled_at: Date | null;
    reconcile_failing_since: Date | null;
  }[];
  return row;
}

const iso = (value: Date | string | null | undefined) =>
  value === null || value === undefined ? null : new Date(value).toISOString();

const STARTED_SECS = Math.floor(minutesAgo(40).getTime() / 1000);

/** GET /v1/convai/conversations/{id} as the client gives it: the status and ElevenLabs' body. */
function conversation(
  conversationId: string,
  callSid: string,
  status = "done",
  metadata: Record<string, unknown> = {},
): ConversationDetails {
  return {
    status,
    data: {
      agent_id: "agent_test",
      conversation_id: conversationId,
      status,
      transcript: [
        { role: "agent", message: "Hello from the reconciler test.", time_in_call_secs: 0 },
        {
          role: "agent",
          message: null,
          time_in_call_secs: 1,
          tool_calls: [{ tool_name: "save_notes" }],
        },
        { role: "user", message: "Hello.", time_in_call_secs: 2 },
      ],
      metadata: {
        start_time_unix_secs: STARTED_SECS,
        call_duration_secs: 90,
        termination_reason: "Call ended by remote party",
        ...metadata,
      },
      conversation_initiation_client_data: { dynamic_variables: { call_sid: callSid } },
    },
  };
}

describe("the reconciler (scheduled)", () => {
  it("fails calls that never got a conversation_id within 10 minutes, and leaves younger ones", async () => {
    const stale = await insertCall({ createdAt: minutesAgo(11), conversationId: null });
    const young = await insertCall({ createdAt: minutesAgo(9), conversationId: null });
    await runReconciler(new FakeElevenLabs());
    expect(await call(stale)).toMatchObject({
      status: "FAILED",
      failure_reason: "initiation_interrupted",
    });
    expect(await call(young)).toMatchObject({ status: "IN_PROGRESS", failure_reason: null });
  });

  it("finishes a call whose post-call webhook was lost, from ElevenLabs' conversation", async () => {
    const conversationId = `conv_rec_${crypto.randomUUID()}`;
    const callSid = await insertCall({ createdAt: minutesAgo(31), conversationId });
    const fake = new FakeElevenLabs();
    fake.conversations.set(conversationId, conversation(conversationId, callSid));
    await runReconciler(fake);
    const row = await call(callSid);
    expect(row?.status).toBe("COMPLETED");
    expect(new Date(row?.call_end_time ?? 0).getTime()).toBe(STARTED_SECS * 1000 + 90_000);
    // ElevenLabs' final transcript, read as the post-call webhook reads it: spoken turns only.
    expect(row?.final_transcript).toEqual([
      {
        role: "agent",
        message: "Hello from the reconciler test.",
        time_in_call_secs: 0,
        timestamp: new Date(STARTED_SECS * 1000).toISOString(),
      },
      {
        role: "user",
        message: "Hello.",
        time_in_call_secs: 2,
        timestamp: new Date((STARTED_SECS + 2) * 1000).toISOString(),
      },
    ]);
    expect(await transcriptRows(conversationId)).toHaveLength(0);
  });

  it("leaves a call younger than 30 minutes alone, and does not even ask ElevenLabs", async () => {
    const conversationId = `conv_rec_${crypto.randomUUID()}`;
    const callSid = await insertCall({ createdAt: minutesAgo(29), conversationId });
    const fake = new FakeElevenLabs();
    fake.conversations.set(conversationId, conversation(conversationId, callSid));
    await runReconciler(fake);
    expect((await call(callSid))?.status).toBe("IN_PROGRESS");
    expect(fake.asked).not.toContain(conversationId);
  });

  it("leaves calls as they were when ElevenLabs is down, and finishes them on a later run", async () => {
    const conversationId = `conv_rec_${crypto.randomUUID()}`;
    const callSid = await insertCall({ createdAt: minutesAgo(45), conversationId });
    const fake = new FakeElevenLabs();
    fake.conversations.set(conversationId, "down");
    await runReconciler(fake);
    const left = await call(callSid);
    expect(left).toMatchObject({
      status: "IN_PROGRESS",
      failure_reason: null,
      reconcile_checks: 1,
    });
    // The failed lookup is recorded: it counts toward giving up after 24 hours.
    expect(iso(left?.last_reconciled_at)).toBe(NOW.toISOString());
    expect(iso(left?.reconcile_failing_since)).toBe(NOW.toISOString());
    expect(fake.asked).toContain(conversationId);
    fake.conversations.set(conversationId, conversation(conversationId, callSid));
    await runReconciler(fake);
    expect((await call(callSid))?.status).toBe("COMPLETED");
  });

  it("leaves a conversation ElevenLabs still reports in progress", async () => {
    const conversationId = `conv_rec_${crypto.randomUUID()}`;
    const callSid = await insertCall({ createdAt: minutesAgo(35), conversationId });
    const fake = new FakeElevenLabs();
    fake.conversations.set(conversationId, conversation(conversationId, callSid, "in-progress"));
    await runReconciler(fake);
    const left = await call(callSid);
    expect(left).toMatchObject({ status: "IN_PROGRESS", reconcile_checks: 1 });
    // A lookup that answered: recorded, and not a failing one.
    expect(iso(left?.last_reconciled_at)).toBe(NOW.toISOString());
    expect(left?.reconcile_failing_since).toBeNull();
  });

  it("fails a call ElevenLabs reports as failed, or does not know", async () => {
    const failedId = `conv_rec_${crypto.randomUUID()}`;
    const failed = await insertCall({ createdAt: minutesAgo(31), conversationId: failedId });
    const unknown = await insertCall({
      createdAt: minutesAgo(31),
      conversationId: `conv_rec_${crypto.randomUUID()}`,
    });
    const fake = new FakeElevenLabs();
    fake.conversations.set(
      failedId,
      conversation(failedId, failed, "failed", { termination_reason: "no-answer" }),
    );
    await runReconciler(fake);
    // A short code; ElevenLabs' termination reason is in the sentence.
    expect(await call(failed)).toMatchObject({
      status: "FAILED",
      failure_reason: "conversation_failed",
      failure_detail: expect.stringContaining("no-answer"),
      final_transcript: null,
    });
    expect(await call(unknown)).toMatchObject({
      status: "FAILED",
      failure_reason: "conversation_not_found",
      failure_detail: expect.stringContaining("404"),
    });
  });

  it("handles at most 50 calls per run", async () => {
    const old = new Date("1999-01-01T00:00:00Z");
    await testSql.query(
      `INSERT INTO calls (call_sid, driver_id, status, created_at, updated_at)
       SELECT 'EL_8_' || (915148800 + n) || '_' || $1, 8, 'IN_PROGRESS', $2::timestamptz, $2::timestamptz
       FROM generate_series(1, 60) AS n`,
      [crypto.randomUUID().slice(0, 8), old.toISOString()],
    );
    const stillOpen = async () =>
      (
        (await testSql.query(
          "SELECT count(*)::int AS n FROM calls WHERE driver_id = 8 AND status = 'IN_PROGRESS' AND created_at = $1",
          [old.toISOString()],
        )) as { n: number }[]
      )[0]?.n;
    expect(await stillOpen()).toBe(60);
    await runReconciler(new FakeElevenLabs());
    expect(await stillOpen()).toBe(10);
    await runReconciler(new FakeElevenLabs());
    expect(await stillOpen()).toBe(0);
  });
});
