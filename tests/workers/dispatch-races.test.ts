// The promises of the dispatcher, each proven by racing, redelivering or crashing on
// purpose: never over the cap, never a driver dialed twice, nobody stuck, nobody dialed
// after a cancel. Private database and simulator per test (tests/support/lab.ts); the
// simulator's plan equals the cap, so it would refuse (and count) any call over it.
import { describe, expect, it } from "vitest";
import { RECONCILER_CRON } from "../../src/crons";
import {
  allTargets,
  consumeDispatch,
  createCampaign,
  deliverOutbox,
  dialsOf,
  driver,
  fireCron,
  getCampaign,
  labRequest,
  liveCalls,
  movableClock,
  newLab,
  operatorRequest,
  simulatorClient,
  simulatorStats,
} from "../support/dispatch";

const OPEN_ALL_DAY = { start: "00:00", end: "23:59" };

function drivers(count: number, firstId: number, lastFour = "0100") {
  return Array.from({ length: count }, (_, index) => driver(firstId + index, lastFour));
}

function batchRequest(driverList: ReturnType<typeof driver>[], headers = {}) {
  return operatorRequest("POST", "/calls/batch", { drivers: driverList }, headers);
}

describe("the live-call cap under races", () => {
  it("concurrent batches, a campaign and three consumers racing for the last 2 slots take exactly 2", async () => {
    // Calls last a minute: nothing frees a slot during the race.
    const lab = await newLab({ maxLiveCalls: 5, callSeconds: 60 });
    const first = await labRequest(lab, batchRequest(drivers(3, 1)));
    expect(first.status).toBe(200);
    expect(await liveCalls(lab)).toEqual({ inProgress: 3, slots: 3 });
    await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: drivers(20, 100),
    });

    const batches = [10, 20, 30, 40, 50, 60].map((firstId) =>
      labRequest(lab, batchRequest(drivers(1, 1000 + firstId))),
    );
    const consumers = [consumeDispatch(lab), consumeDispatch(lab), consumeDispatch(lab)];
    const answers = await Promise.all(batches);
    await Promise.all(consumers);

    const statuses = answers.map((response) => response.status);
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
    expect(await liveCalls(lab)).toEqual({ inProgress: 5, slots: 5 });
    const stats = await simulatorStats(lab);
    expect(stats.max_live).toBe(5);
    expect(stats.refused_for_concurrency).toBe(0);
    const dialed = Object.values(stats.dials).reduce((sum, count) => sum + count, 0);
    expect(dialed).toBe(5);
    const batchCalls = statuses.filter((status) => status === 200).length;
    const campaignCalls = (await allTargets(lab, (await firstCampaign(lab)).id)).filter(
      (target) => target.status === "CALLING",
    ).length;
    expect(batchCalls + campaignCalls).toBe(2);
  });

  it("a batch with more drivers than free slots is 429 at_capacity, writes nothing, rings nobody", async () => {
    const lab = await newLab({ maxLiveCalls: 2, callSeconds: 60 });
    const response = await labRequest(lab, batchRequest(drivers(3, 1)));
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("30");
    const body = (await response.json()) as { error: { code: string; details: unknown } };
    expect(body.error.code).toBe("at_capacity");
    expect(body.error.details).toEqual({ live: 0, max_live_calls: 2, requested: 3 });
    const n = ((await lab.sql`SELECT count(*)::int AS n FROM calls`) as { n: number }[])[0]?.n;
    expect(n).toBe(0);
    expect(Object.keys((await simulatorStats(lab)).dials)).toHaveLength(0);
  });
});

async function firstCampaign(lab: Awaited<ReturnType<typeof newLab>>) {
  const response = await labRequest(lab, operatorRequest("GET", "/campaigns"));
  const { campaigns } = (await response.json()) as { campaigns: { id: string }[] };
  const campaign = campaigns[0];
  if (!campaign) throw new Error("no campaign");
  return campaign;
}

describe("redelivered messages and crashed consumers", () => {
  it("the same message handled twice at once dials every driver once", async () => {
    const lab = await newLab({ maxLiveCalls: 10, callSeconds: 60 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: drivers(10, 1),
    });
    await Promise.all([consumeDispatch(lab), consumeDispatch(lab), consumeDispatch(lab)]);
    const stats = await simulatorStats(lab);
    expect(Object.keys(stats.dials)).toHaveLength(10);
    expect(Object.values(stats.dials).every((count) => count === 1)).toBe(true);
    expect((await getCampaign(lab, json.campaign.id)).counts).toMatchObject({ calling: 10 });
  });

  it("a consumer that dies after dialing, before recording: the redelivery dials nobody again, and the call completes", async () => {
    let crash = true;
    const lab = await newLab({
      maxLiveCalls: 5,
      callSeconds: 0.05,
      deps: {
        elevenLabs: simulatorClient({
          around: (place) => async (request) => {
            const result = await place(request);
            // The Worker is evicted right after ElevenLabs accepted the call.
            if (crash) throw new Error("isolate evicted");
            return result;
          },
        }),
      },
    });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: [driver(7, "0100")],
    });
    await expect(consumeDispatch(lab)).rejects.toThrow("isolate evicted");
    crash = false;
    // Queues redelivers the message: the target is CALLING, nothing to claim.
    await consumeDispatch(lab);
    expect(await dialsOf(lab, driver(7, "0100").phone_number)).toBe(1);
    // The call happened: its post-call webhook (found by call_sid) completes it.
    await new Promise((resolve) => setTimeout(resolve, 150));
    await deliverOutbox(lab);
    const [target] = await allTargets(lab, json.campaign.id);
    expect(target).toMatchObject({ status: "COMPLETED", attempts: 1 });
    expect((await getCampaign(lab, json.campaign.id)).status).toBe("COMPLETED");
  });

  it("a consumer that dies after claiming, before dialing: never dialed twice, FAILED by the reconciler, not stuck", async () => {
    const clock = movableClock();
    let crash = true;
    const lab = await newLab({
      maxLiveCalls: 5,
      deps: {
        clock,
        elevenLabs: simulatorClient({
          around: (place) => async (request) => {
            if (crash) throw new Error("isolate evicted");
            return place(request);
          },
        }),
      },
    });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: [driver(8, "0100")],
    });
    await expect(consumeDispatch(lab)).rejects.toThrow("isolate evicted");
    crash = false;
    await consumeDispatch(lab);
    expect(await dialsOf(lab, driver(8, "0100").phone_number)).toBe(0);
    expect((await allTargets(lab, json.campaign.id))[0]).toMatchObject({ status: "CALLING" });

    // Ten minutes on, the reconciler fails the call that never got a conversation_id: it
    // may have rung, so it is never placed again; the slot is free and the campaign ends.
    clock.advance(11 * 60_000);
    await fireCron(lab, RECONCILER_CRON);
    const [target] = await allTargets(lab, json.campaign.id);
    expect(target).toMatchObject({
      status: "FAILED",
      attempts: 1,
      last_failure_reason: "initiation_interrupted",
    });
    expect(await liveCalls(lab)).toEqual({ inProgress: 0, slots: 0 });
    expect((await getCampaign(lab, json.campaign.id)).status).toBe("COMPLETED");
    await consumeDispatch(lab);
    expect(await dialsOf(lab, driver(8, "0100").phone_number)).toBe(0);
  });
});

describe("cancel", () => {
  it("dials nobody after the cancel answers; calls already ringing are recorded", async () => {
    const lab = await newLab({ maxLiveCalls: 3, callSeconds: 0.1 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: drivers(20, 1),
    });
    const id = json.campaign.id;
    // Consumers race the cancel.
    const racing = [consumeDispatch(lab), consumeDispatch(lab)];
    const cancel = await labRequest(lab, operatorRequest("POST", `/campaigns/${id}/cancel`));
    expect(cancel.status).toBe(200);
    const cancelled = ((await cancel.json()) as { campaign: { status: string } }).campaign;
    expect(cancelled.status).toBe("CANCELLED");
    const callsAtCancel = (
      (await lab.sql`SELECT count(*)::int AS n FROM calls`) as { n: number }[]
    )[0]?.n;
    await Promise.all(racing);
    for (let round = 0; round < 3; round++) {
      await consumeDispatch(lab);
      await new Promise((resolve) => setTimeout(resolve, 150));
      await deliverOutbox(lab);
    }
    const callsAfter = ((await lab.sql`SELECT count(*)::int AS n FROM calls`) as { n: number }[])[0]
      ?.n;
    expect(callsAfter).toBe(callsAtCancel);
    // Drivers claimed just before the cancel were checked again before their dial: their
    // calls are FAILED campaign_cancelled, never dialed, and their targets CANCELLED.
    const notDialed = (
      (await lab.sql`SELECT count(*)::int AS n FROM calls WHERE failure_reason = 'campaign_cancelled'`) as {
        n: number;
      }[]
    )[0]?.n as number;
    const dialed = Object.values((await simulatorStats(lab)).dials).reduce((a, b) => a + b, 0);
    expect(dialed).toBe((callsAtCancel ?? 0) - notDialed);
    const campaign = await getCampaign(lab, id);
    expect(campaign.status).toBe("CANCELLED");
    expect(campaign.counts.completed).toBe(dialed);
    expect(campaign.counts.cancelled).toBe(20 - dialed);
    expect(campaign.counts.calling).toBe(0);

    const again = await labRequest(lab, operatorRequest("POST", `/campaigns/${id}/cancel`));
    expect(again.status).toBe(200);
  });

  it("a finished campaign is 409 campaign_finished", async () => {
    const lab = await newLab({ maxLiveCalls: 2, callSeconds: 0.05 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: drivers(1, 1),
    });
    await consumeDispatch(lab);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await deliverOutbox(lab);
    expect((await getCampaign(lab, json.campaign.id)).status).toBe("COMPLETED");
    const response = await labRequest(
      lab,
      operatorRequest("POST", `/campaigns/${json.campaign.id}/cancel`),
    );
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      "campaign_finished",
    );
  });
});

describe("ElevenLabs refuses a call for concurrency", () => {
  it("the driver waits for a slot; the refusal is not an attempt", async () => {
    const clock = movableClock();
    // Our cap says 4, but the plan (another app shares the workspace) allows only 2.
    const lab = await newLab({
      maxLiveCalls: 4,
      simulatorPlan: 2,
      callSeconds: 60,
      deps: { clock },
    });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: drivers(4, 1),
    });
    await consumeDispatch(lab);
    const targets = await allTargets(lab, json.campaign.id);
    expect(targets.filter((target) => target.status === "CALLING")).toHaveLength(2);
    const waiting = targets.filter((target) => target.status === "QUEUED");
    expect(waiting).toHaveLength(2);
    for (const target of waiting) {
      expect(target).toMatchObject({ waiting_for: "slot", attempts: 0, call_sids: [] });
    }
    const refusedRows = (await lab.sql`
      SELECT failure_reason FROM calls WHERE status = 'FAILED'`) as { failure_reason: string }[];
    expect(refusedRows.map((row) => row.failure_reason)).toEqual([
      "elevenlabs_at_capacity",
      "elevenlabs_at_capacity",
    ]);
    expect((await simulatorStats(lab)).refused_for_concurrency).toBe(2);
  });
});
