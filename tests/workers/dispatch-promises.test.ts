// The dispatcher's promises that a review found broken, each forced on purpose: a driver
// claimed just before a cancel is not dialed; a slot freed by a failed dial is handed on
// in the same run; a call that may have rung and then turns out to have reached voicemail
// is retried as the campaign's `retry` says.
import { describe, expect, it } from "vitest";
import { createDatabase } from "../../src/db/client";
import { claimCampaignTargets } from "../../src/dispatch/claim";
import { placeClaimedCall } from "../../src/dispatch/place-call";
import { createLogger } from "../../src/http/log";
import {
  allTargets,
  consumeDispatch,
  createCampaign,
  deliverOutbox,
  dialsOf,
  driver,
  getCampaign,
  labRequest,
  liveCalls,
  newLab,
  operatorRequest,
  simulatorClient,
} from "../support/dispatch";
import { testEnv } from "../support/worker";

const OPEN_ALL_DAY = { start: "00:00", end: "23:59" };

describe("cancel stops dialing", () => {
  it("a driver claimed just before the cancel answered is checked again before its dial: not dialed, its target CANCELLED, its slot freed", async () => {
    const lab = await newLab({ maxLiveCalls: 5 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: [driver(1, "0100"), driver(2, "0100")],
    });
    const db = createDatabase(lab.databaseUrl, testEnv.NEON_HTTP_ENDPOINT);
    // The claim a queue consumer makes (slots taken, Call rows written, targets CALLING)...
    const claim = await claimCampaignTargets(db, { want: 2, maxLiveCalls: 5, now: new Date() });
    expect(claim.calls).toHaveLength(2);
    // ...then the cancel is answered before the consumer gets to dial.
    const cancel = await labRequest(
      lab,
      operatorRequest("POST", `/campaigns/${json.campaign.id}/cancel`),
    );
    expect(cancel.status).toBe(200);

    const elevenLabs = simulatorClient()({
      ELEVENLABS_API_BASE_URL: lab.simulatorUrl,
    } as never);
    for (const call of claim.calls) {
      const placed = await placeClaimedCall({
        db,
        elevenLabs,
        call: { ...call, violations: [] },
        log: createLogger({ test: "cancel" }),
        now: () => new Date(),
      });
      expect(placed).toMatchObject({ ok: false, code: "campaign_cancelled" });
    }
    expect(await dialsOf(lab, driver(1, "0100").phone_number)).toBe(0);
    expect(await dialsOf(lab, driver(2, "0100").phone_number)).toBe(0);
    const targets = await allTargets(lab, json.campaign.id);
    expect(targets.map((target) => [target.status, target.attempts])).toEqual([
      ["CANCELLED", 0],
      ["CANCELLED", 0],
    ]);
    expect(await liveCalls(lab)).toEqual({ inProgress: 0, slots: 0 });
    const campaign = await getCampaign(lab, json.campaign.id);
    expect(campaign).toMatchObject({ status: "CANCELLED" });
    expect(campaign.counts).toMatchObject({ cancelled: 2, calling: 0 });
  });
});

describe("a slot freed by a failed dial", () => {
  it("is handed on in the same run: cap 1, the first dial fails (HTTP 500), the next driver is dialed before the run ends", async () => {
    const lab = await newLab({ maxLiveCalls: 1, callConcurrency: 1 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: [driver(1, "0500"), driver(2, "0100")],
    });
    await consumeDispatch(lab);
    const targets = await allTargets(lab, json.campaign.id);
    expect(targets.map((target) => target.status)).toEqual(["FAILED", "CALLING"]);
    expect(await dialsOf(lab, driver(2, "0100").phone_number)).toBe(1);
  });
});

describe("a call that may have rung, then reached voicemail", () => {
  it("is retried even when its failure had completed the campaign: the campaign runs again", async () => {
    const lab = await newLab({ maxLiveCalls: 5 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      retry: { max_attempts: 2, backoff_minutes: 1, on: ["voicemail"] },
      drivers: [driver(1, "0488")],
    });
    await consumeDispatch(lab);
    await lab.sql`UPDATE calls SET status = 'FAILED', failure_reason = 'elevenlabs_timeout'`;
    expect((await getCampaign(lab, json.campaign.id)).status).toBe("COMPLETED");

    await fetch(`${lab.simulatorUrl}/__sim/played`);
    await deliverOutbox(lab);
    expect((await allTargets(lab, json.campaign.id))[0]).toMatchObject({
      status: "QUEUED",
      waiting_for: "retry",
      attempts: 1,
    });
    const campaign = await getCampaign(lab, json.campaign.id);
    expect(campaign).toMatchObject({ status: "RUNNING", finished_at: null });
  });

  it("FAILED elevenlabs_timeout -> FAILED voicemail moves its target to a retry", async () => {
    const lab = await newLab({ maxLiveCalls: 5 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      retry: { max_attempts: 2, backoff_minutes: 1, on: ["voicemail"] },
      // The second driver's call never ends (0604): the campaign keeps running meanwhile.
      drivers: [driver(1, "0488"), driver(2, "0604")],
    });
    await consumeDispatch(lab);
    // As if ElevenLabs' answer had timed out although it placed the call: may have rung.
    const number = driver(1, "0488").phone_number;
    await lab.sql`UPDATE calls SET status = 'FAILED', failure_reason = 'elevenlabs_timeout'
                  WHERE phone_number = ${number}`;
    expect((await allTargets(lab, json.campaign.id))[0]).toMatchObject({
      status: "FAILED",
      last_failure_reason: "elevenlabs_timeout",
    });

    // The simulator's 0488 call reaches voicemail and reports it.
    await fetch(`${lab.simulatorUrl}/__sim/played`);
    await deliverOutbox(lab);
    const [call] =
      (await lab.sql`SELECT status, failure_reason FROM calls WHERE phone_number = ${number}`) as {
        status: string;
        failure_reason: string;
      }[];
    expect(call).toEqual({ status: "FAILED", failure_reason: "voicemail" });
    expect((await allTargets(lab, json.campaign.id))[0]).toMatchObject({
      status: "QUEUED",
      waiting_for: "retry",
      last_failure_reason: "voicemail",
      attempts: 1,
    });
  });
});
