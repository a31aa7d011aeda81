// ElevenLabs as its own SDK types it (serialization/types: every optional key may be
// absent): each way a real call used to be lost or a slot held for good, through the real
// Worker, a private Postgres and a private simulator whose numbers 0601-0608 send those
// shapes (scripts/lib/elevenlabs-simulator.ts). Time that must pass (two hours, a day) is
// a movable clock, as in the reconciler's tests.
import { afterEach, describe, expect, it, vi } from "vitest";
import { DISPATCH_CRON, RECONCILER_CRON } from "../../src/crons";
import {
  allTargets,
  consumeDispatch,
  createCampaign,
  deliverOutbox,
  driver,
  fireCron,
  type Lab,
  labRequest,
  liveCalls,
  movableClock,
  newLab,
  operatorRequest,
  releaseHeldAnswers,
  simulatorStats,
} from "../support/dispatch";
import { captureLogs } from "../support/logs";
import { initiationFailureEvent, signedPostCall, transcriptionEvent } from "../support/post-call";

afterEach(() => vi.restoreAllMocks());

const EVERYWHERE_OPEN = { start: "00:00", end: "23:59" };

interface BatchJson {
  results: {
    driver_id: number;
    call_sid: string;
    conversation_id: string | null;
    status: string;
    error?: { code: string; message: string };
  }[];
}

interface CallJson {
  call: {
    call_sid: string;
    status: string;
    conversation_id: string | null;
    failure_reason: string | null;
    call_end_time: string | null;
  };
  transcript: { sequence_number: number; speaker: string; message: string }[];
}

async function batch(lab: Lab, drivers: unknown[]): Promise<BatchJson> {
  const response = await labRequest(lab, operatorRequest("POST", "/calls/batch", { drivers }));
  expect(response.status).toBe(200);
  return (await response.json()) as BatchJson;
}

async function readCall(lab: Lab, callSid: string): Promise<CallJson> {
  const response = await labRequest(lab, operatorRequest("GET", `/calls/${callSid}`));
  expect(response.status).toBe(200);
  return (await response.json()) as CallJson;
}

/** Waits for the simulator's calls to play out, then delivers what they sent. */
async function playOut(lab: Lab): Promise<void> {
  await fetch(`${lab.simulatorUrl}/__sim/played`);
  await deliverOutbox(lab);
}

/**
 * Delivers the simulator's webhooks as soon as it queues any, while it still holds its
 * answer to the dial (0603 sends its busy event first), then lets the answer go.
 */
async function deliverEarlyEvents(lab: Lab, timeoutMs = 4_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const delivered = await deliverOutbox(lab, { keepAnswersHeld: true });
    if (delivered > 0) {
      expect(await releaseHeldAnswers(lab)).toBe(1);
      return delivered;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("the simulator queued no webhook");
}

async function inboxSize(lab: Lab): Promise<number> {
  const [row] = (await lab.sql`SELECT count(*)::int AS n FROM post_call_inbox`) as { n: number }[];
  return row?.n ?? -1;
}

describe("the outbound-call answer, read by the SDK's shape", () => {
  it("0601 success without callSid: IN_PROGRESS, its live turns stored, then COMPLETED", async () => {
    const lab = await newLab();
    const { results } = await batch(lab, [driver(601, "0601")]);
    expect(results[0]).toMatchObject({ status: "IN_PROGRESS" });
    expect(results[0]?.conversation_id).toMatch(/^conv_sim_/);
    const callSid = results[0]?.call_sid as string;

    await playOut(lab);
    const call = await readCall(lab, callSid);
    expect(call.call).toMatchObject({ status: "COMPLETED", failure_reason: null });
    expect(call.transcript.length).toBeGreaterThanOrEqual(2);
    const [live] = (await lab.sql`
      SELECT count(*)::int AS n FROM call_transcriptions t
      JOIN calls c ON c.conversation_id = t.conversation_id WHERE c.call_sid = ${callSid}`) as {
      n: number;
    }[];
    // The live turns were taken during the call (not refused as conversation_not_started).
    expect(live?.n).toBeGreaterThanOrEqual(2);
  });

  it("0602 success:false with only a message about a quota limit: FAILED elevenlabs_rejected, never waiting for a slot", async () => {
    const lab = await newLab();
    const { results } = await batch(lab, [driver(602, "0602")]);
    expect(results[0]).toMatchObject({
      status: "FAILED",
      conversation_id: null,
      error: { code: "elevenlabs_rejected" },
    });

    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: EVERYWHERE_OPEN,
      drivers: [driver(6020, "0602")],
    });
    await consumeDispatch(lab);
    const [target] = await allTargets(lab, json.campaign.id);
    // A rejection is final: out of credits must not make a driver wait for ever.
    expect(target).toMatchObject({
      status: "FAILED",
      attempts: 1,
      last_failure_reason: "elevenlabs_rejected",
      waiting_for: null,
    });
  });

  it("0608 a 429 with ElevenLabs' documented body: the driver waits for a slot (no attempt), then is called", async () => {
    const clock = movableClock();
    const lab = await newLab({ deps: { clock } });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: EVERYWHERE_OPEN,
      drivers: [driver(608, "0608")],
    });
    await consumeDispatch(lab);
    const [waiting] = await allTargets(lab, json.campaign.id);
    expect(waiting).toMatchObject({ status: "QUEUED", waiting_for: "slot", attempts: 0 });
    expect((await simulatorStats(lab)).refused_for_concurrency).toBe(1);

    clock.advance(31_000);
    await consumeDispatch(lab);
    await playOut(lab);
    const [called] = await allTargets(lab, json.campaign.id);
    expect(called).toMatchObject({ status: "COMPLETED", attempts: 1 });
  });
});

describe("an event that outruns ElevenLabs' answer to our dial", () => {
  it("0603 busy before the answer, in a campaign: kept, applied as the dial records its conversation_id, the slot freed and the driver retried", async () => {
    const clock = movableClock();
    const lab = await newLab({ deps: { clock } });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: EVERYWHERE_OPEN,
      retry: { max_attempts: 2, backoff_minutes: 1, on: ["busy"] },
      drivers: [driver(603, "0603")],
    });
    // The simulator holds its answer until its busy event has been taken and delivered.
    const dialing = consumeDispatch(lab);
    expect(await deliverEarlyEvents(lab)).toBe(1);
    await dialing;

    const [target] = await allTargets(lab, json.campaign.id);
    expect(target).toMatchObject({
      status: "QUEUED",
      waiting_for: "retry",
      attempts: 1,
      last_failure_reason: "busy",
    });
    const call = await readCall(lab, target?.call_sids[0] as string);
    expect(call.call).toMatchObject({ status: "FAILED", failure_reason: "busy" });
    expect(call.call.conversation_id).toMatch(/^conv_sim_/);
    expect(await liveCalls(lab)).toEqual({ inProgress: 0, slots: 0 });
    expect(await inboxSize(lab)).toBe(0);

    // The retry is due a minute later, as the campaign's retry rules say; busy again, and
    // the two attempts are used up.
    clock.advance(61_000);
    const retrying = fireCron(lab, DISPATCH_CRON);
    await deliverEarlyEvents(lab);
    await retrying;
    const [again] = await allTargets(lab, json.campaign.id);
    expect(again).toMatchObject({ status: "FAILED", attempts: 2, last_failure_reason: "busy" });
    expect(await liveCalls(lab)).toEqual({ inProgress: 0, slots: 0 });
  });

  it("0603 in a batch: the call reads FAILED busy at once, not IN_PROGRESS", async () => {
    const lab = await newLab();
    const answering = batch(lab, [driver(6031, "0603")]);
    await deliverEarlyEvents(lab);
    const { results } = await answering;
    const call = await readCall(lab, results[0]?.call_sid as string);
    expect(call.call).toMatchObject({ status: "FAILED", failure_reason: "busy" });
    expect(await liveCalls(lab)).toEqual({ inProgress: 0, slots: 0 });
  });

  it("an event kept while the Worker died before it looked in the inbox: the minute cron applies it", async () => {
    const lab = await newLab();
    const [row] = (await lab.sql`
      INSERT INTO calls (call_sid, driver_id, status, call_start_time)
      VALUES ('EL_77_1796400000', 77, 'IN_PROGRESS', now()) RETURNING id`) as { id: number }[];
    const conversationId = `conv_early_${crypto.randomUUID()}`;
    const kept = await labRequest(
      lab,
      await signedPostCall(initiationFailureEvent(conversationId, "no-answer")),
    );
    expect(await kept.json()).toEqual({ status: "kept" });
    // The dial's conversation_id is stored, and the Worker stops before its next step.
    await lab.sql`UPDATE calls SET conversation_id = ${conversationId} WHERE id = ${row?.id}`;

    await fireCron(lab, DISPATCH_CRON);
    const call = await readCall(lab, "EL_77_1796400000");
    expect(call.call).toMatchObject({ status: "FAILED", failure_reason: "no-answer" });
    expect(await inboxSize(lab)).toBe(0);
  });

  it("an event no Call claims within 24 hours is dropped by the minute cron, with a log line", async () => {
    const clock = movableClock();
    const lab = await newLab({ deps: { clock } });
    const conversationId = `conv_orphan_${crypto.randomUUID()}`;
    await labRequest(lab, await signedPostCall(initiationFailureEvent(conversationId)));
    clock.advance(23 * 3600_000);
    await fireCron(lab, DISPATCH_CRON);
    expect(await inboxSize(lab)).toBe(1);

    clock.advance(3600_000 + 60_000);
    const logs = captureLogs();
    await fireCron(lab, DISPATCH_CRON);
    vi.restoreAllMocks();
    expect(await inboxSize(lab)).toBe(0);
    expect(logs.events("post_call_event_dropped")).toEqual([
      expect.objectContaining({
        conversation_id: conversationId,
        event_type: "call_initiation_failure",
      }),
    ]);
  });
});

describe("a final transcript as ElevenLabs may send it", () => {
  it("0606 a 15,000-character turn: 200, the Call COMPLETED, the turn stored whole", async () => {
    const lab = await newLab();
    const { results } = await batch(lab, [driver(606, "0606")]);
    await playOut(lab);
    const call = await readCall(lab, results[0]?.call_sid as string);
    expect(call.call.status).toBe("COMPLETED");
    expect(call.transcript.map((turn) => turn.message.length)).toContain(15_000);
  });

  it("0607 an empty final transcript: COMPLETED, and GET still serves the live turns", async () => {
    const lab = await newLab();
    const { results } = await batch(lab, [driver(607, "0607")]);
    await playOut(lab);
    const call = await readCall(lab, results[0]?.call_sid as string);
    expect(call.call.status).toBe("COMPLETED");
    expect(call.transcript.length).toBeGreaterThanOrEqual(2);
    expect(call.transcript.map((turn) => turn.sequence_number)).toEqual(
      call.transcript.map((_, index) => index + 1),
    );
  });
});

describe("the reconciler reads the same facts as the webhook", () => {
  it("0605 a failed conversation whose call_result is no_answer: FAILED no-answer, and the campaign retries it", async () => {
    const clock = movableClock();
    const lab = await newLab({ deps: { clock } });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: EVERYWHERE_OPEN,
      retry: { max_attempts: 2, backoff_minutes: 1, on: ["no-answer"] },
      drivers: [driver(605, "0605")],
    });
    await consumeDispatch(lab);
    await playOut(lab);
    // No webhook came: the call is still live until the reconciler asks ElevenLabs.
    expect((await allTargets(lab, json.campaign.id))[0]?.status).toBe("CALLING");

    clock.advance(31 * 60_000);
    await fireCron(lab, RECONCILER_CRON);
    const [target] = await allTargets(lab, json.campaign.id);
    const call = await readCall(lab, target?.call_sids[0] as string);
    expect(call.call).toMatchObject({ status: "FAILED", failure_reason: "no-answer" });
    expect(target).toMatchObject({ status: "QUEUED", last_failure_reason: "no-answer" });
  });

  it("0604 a conversation that stays processing: IN_PROGRESS for two hours, then FAILED conversation_stale with its slot freed; a late report still completes it", async () => {
    const clock = movableClock();
    const lab = await newLab({ deps: { clock } });
    const { results } = await batch(lab, [driver(604, "0604")]);
    const callSid = results[0]?.call_sid as string;
    const conversationId = results[0]?.conversation_id as string;
    await playOut(lab);

    clock.advance(60 * 60_000);
    await fireCron(lab, RECONCILER_CRON);
    expect((await readCall(lab, callSid)).call.status).toBe("IN_PROGRESS");
    expect((await liveCalls(lab)).slots).toBe(1);

    clock.advance(61 * 60_000);
    const logs = captureLogs();
    await fireCron(lab, RECONCILER_CRON);
    vi.restoreAllMocks();
    expect((await readCall(lab, callSid)).call).toMatchObject({
      status: "FAILED",
      failure_reason: "conversation_stale",
    });
    expect(await liveCalls(lab)).toEqual({ inProgress: 0, slots: 0 });
    expect(logs.events("call_failed")).toEqual([
      expect.objectContaining({ call_sid: callSid, reason: "conversation_stale" }),
    ]);

    // ElevenLabs reports the call after all: it rang, so it is completed.
    const late = transcriptionEvent({
      conversationId,
      callSid,
      startTimeUnixSecs: Math.floor(Date.now() / 1000),
      durationSecs: 30,
      transcript: [
        { role: "agent", message: "Hello, this is the safety team.", time_in_call_secs: 0 },
      ],
    });
    const response = await labRequest(
      lab,
      await signedPostCall(late, { timestampSecs: Math.floor(clock.now().getTime() / 1000) }),
    );
    expect(await response.json()).toEqual({ status: "processed" });
    expect((await readCall(lab, callSid)).call).toMatchObject({
      status: "COMPLETED",
      failure_reason: null,
    });
  });
});
