// Campaigns dispatched under the live-call cap, end to end: the Worker's queue consumer,
// a private database and a private ElevenLabs simulator (with a plan concurrency) each.
import { describe, expect, it } from "vitest";
import { DISPATCH_CRON } from "../../src/crons";
import {
  allTargets,
  consumeDispatch,
  createCampaign,
  deliverOutbox,
  driver,
  fireCron,
  getCampaign,
  labRequest,
  newLab,
  operatorRequest,
  playUntilFinished,
  simulatorStats,
} from "../support/dispatch";

const EVERYWHERE_OPEN = { start: "00:00", end: "23:59" };

function drivers(count: number, firstId = 1) {
  return Array.from({ length: count }, (_, index) => driver(firstId + index, "0100"));
}

describe("a campaign under the live-call cap", () => {
  it("300 drivers, cap 10: every driver completes, never more than 10 live, each number dialed once", async () => {
    const lab = await newLab({ maxLiveCalls: 10, callSeconds: 0.05 });
    const { response, json } = await createCampaign(lab, {
      name: "cap test",
      time_zone: "UTC",
      calling_window: EVERYWHERE_OPEN,
      drivers: drivers(300),
    });
    expect(response.status).toBe(202);
    expect(response.headers.get("location")).toBe(`/campaigns/${json.campaign.id}`);
    expect(json.campaign.counts).toMatchObject({ total: 300, queued: 300 });

    const finished = await playUntilFinished(lab, json.campaign.id);

    expect(finished.status).toBe("COMPLETED");
    expect(finished.counts).toMatchObject({ total: 300, completed: 300, queued: 0, calling: 0 });
    const stats = await simulatorStats(lab);
    expect(stats.max_live).toBeLessThanOrEqual(10);
    expect(stats.max_live).toBeGreaterThanOrEqual(2);
    expect(stats.refused_for_concurrency).toBe(0);
    expect(Object.keys(stats.dials)).toHaveLength(300);
    expect(Object.values(stats.dials).every((count) => count === 1)).toBe(true);
    const targets = await allTargets(lab, json.campaign.id);
    expect(targets.map((target) => target.driver_id)).toEqual(
      Array.from({ length: 300 }, (_, index) => index + 1),
    );
    expect(targets.every((target) => target.attempts === 1 && target.call_sids.length === 1)).toBe(
      true,
    );
    const n = (
      (await lab.sql`SELECT count(*)::int AS n FROM live_call_slots`) as { n: number }[]
    )[0]?.n;
    expect(n).toBe(0);
  });

  it("dials nobody inside POST /campaigns; the first queue message does", async () => {
    const lab = await newLab({ maxLiveCalls: 3 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: EVERYWHERE_OPEN,
      drivers: drivers(5),
    });
    expect(Object.keys((await simulatorStats(lab)).dials)).toHaveLength(0);
    await consumeDispatch(lab);
    const campaign = await getCampaign(lab, json.campaign.id);
    expect(campaign.counts).toMatchObject({ calling: 3, queued: 2 });
    expect(Object.keys((await simulatorStats(lab)).dials)).toHaveLength(3);
  });

  it("the cron safety net dials what a lost message left behind", async () => {
    const lab = await newLab({ maxLiveCalls: 2 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: EVERYWHERE_OPEN,
      drivers: drivers(2),
    });
    // No queue message is consumed: as if it was lost.
    await fireCron(lab, DISPATCH_CRON);
    expect((await getCampaign(lab, json.campaign.id)).counts).toMatchObject({ calling: 2 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await deliverOutbox(lab);
    expect((await getCampaign(lab, json.campaign.id)).status).toBe("COMPLETED");
  });

  it("answers unknown campaigns with 404 campaign_not_found", async () => {
    const lab = await newLab();
    for (const id of ["0193a1c2-7f00-4c3e-9d7e-3a1f0c2b4d5e", "not-a-uuid"]) {
      const response = await labRequest(lab, operatorRequest("GET", `/campaigns/${id}`));
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        "campaign_not_found",
      );
    }
  });
});
