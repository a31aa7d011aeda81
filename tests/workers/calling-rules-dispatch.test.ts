// The calling rules as the dispatcher applies them, with the clock moved by hand: each
// driver's window in its own zone (daylight-saving days included), days of the week,
// start_at, and retries of busy / no-answer / voicemail (never of a call that may have rung).
import { describe, expect, it } from "vitest";
import {
  allTargets,
  consumeDispatch,
  createCampaign,
  deliverOutbox,
  dialsOf,
  driver,
  getCampaign,
  type Lab,
  movableClock,
  newLab,
  simulatorClient,
} from "../support/dispatch";

async function settle(lab: Lab, ms = 200) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  await deliverOutbox(lab);
}

describe("calling windows in each driver's own zone", () => {
  it("a driver at 03:00 local waits for 08:00 local; one at 12:00 is called; at 08:00 the first is called", async () => {
    const clock = movableClock(new Date("2026-12-01T09:00:00Z"));
    const lab = await newLab({ deps: { clock }, callSeconds: 60 });
    const chicago = driver(1, "0100", { time_zone: "America/Chicago" }); // 03:00 CST
    const moscow = driver(2, "0100", { time_zone: "Europe/Moscow" }); // 12:00 MSK
    const { json } = await createCampaign(lab, { drivers: [chicago, moscow] });

    await consumeDispatch(lab);
    const [waiting, called] = await allTargets(lab, json.campaign.id);
    expect(called).toMatchObject({ driver_id: 2, status: "CALLING", attempts: 1 });
    expect(waiting).toMatchObject({
      driver_id: 1,
      status: "QUEUED",
      waiting_for: "calling_window",
      next_attempt_at: "2026-12-01T14:00:00.000Z",
    });
    expect(await dialsOf(lab, chicago.phone_number)).toBe(0);

    clock.set("2026-12-01T13:59:00Z");
    await consumeDispatch(lab);
    expect(await dialsOf(lab, chicago.phone_number)).toBe(0);

    clock.set("2026-12-01T14:00:00Z");
    await consumeDispatch(lab);
    expect(await dialsOf(lab, chicago.phone_number)).toBe(1);
    expect((await allTargets(lab, json.campaign.id))[0]).toMatchObject({ status: "CALLING" });
  });

  it.each([
    ["spring forward", "2026-03-08T06:00:00Z", "2026-03-08T12:00:00.000Z"],
    ["fall back", "2026-11-01T05:00:00Z", "2026-11-01T13:00:00.000Z"],
  ])("on the %s day in America/New_York the window opens at 08:00 local", async (_, now, opens) => {
    const clock = movableClock(new Date(now));
    const lab = await newLab({ deps: { clock } });
    const { json } = await createCampaign(lab, {
      time_zone: "America/New_York",
      drivers: [driver(1, "0100")],
    });
    const [target] = await allTargets(lab, json.campaign.id);
    expect(target).toMatchObject({ waiting_for: "calling_window", next_attempt_at: opens });
  });

  it("a Saturday-only window asked on a Sunday waits six days", async () => {
    const clock = movableClock(new Date("2026-12-06T12:00:00Z")); // a Sunday
    const lab = await newLab({ deps: { clock } });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: { start: "08:00", end: "21:00", days: ["sat"] },
      drivers: [driver(1, "0100")],
    });
    const [target] = await allTargets(lab, json.campaign.id);
    expect(target).toMatchObject({ next_attempt_at: "2026-12-12T08:00:00.000Z" });
    clock.set("2026-12-11T20:00:00Z"); // the Friday before
    await consumeDispatch(lab);
    expect(await dialsOf(lab, driver(1, "0100").phone_number)).toBe(0);
  });

  it("nobody is dialed before start_at", async () => {
    const clock = movableClock(new Date("2026-12-01T12:00:00Z"));
    const lab = await newLab({ deps: { clock } });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      start_at: "2026-12-01T15:30:00Z",
      drivers: [driver(1, "0100")],
    });
    expect((await allTargets(lab, json.campaign.id))[0]).toMatchObject({
      waiting_for: "start_at",
      next_attempt_at: "2026-12-01T15:30:00.000Z",
    });
    await consumeDispatch(lab);
    expect(await dialsOf(lab, driver(1, "0100").phone_number)).toBe(0);
    clock.set("2026-12-01T15:30:00Z");
    await consumeDispatch(lab);
    expect(await dialsOf(lab, driver(1, "0100").phone_number)).toBe(1);
  });
});

describe("retries", () => {
  const window = { start: "08:00", end: "21:00" };

  it("busy -> retried after the backoff -> busy -> FAILED with 2 attempts and 2 call_sids", async () => {
    const clock = movableClock(new Date("2026-12-01T10:00:00Z"));
    const lab = await newLab({ deps: { clock }, callSeconds: 0.05 });
    const busy = driver(1, "0486");
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: window,
      retry: { max_attempts: 2, backoff_minutes: 60 },
      drivers: [busy],
    });
    await consumeDispatch(lab);
    await settle(lab);
    expect((await allTargets(lab, json.campaign.id))[0]).toMatchObject({
      status: "QUEUED",
      waiting_for: "retry",
      next_attempt_at: "2026-12-01T11:00:00.000Z",
      attempts: 1,
      last_failure_reason: "busy",
    });
    clock.set("2026-12-01T10:59:00Z");
    await consumeDispatch(lab);
    expect(await dialsOf(lab, busy.phone_number)).toBe(1);

    clock.set("2026-12-01T11:00:00Z");
    await consumeDispatch(lab);
    expect(await dialsOf(lab, busy.phone_number)).toBe(2);
    await settle(lab);
    const [target] = await allTargets(lab, json.campaign.id);
    expect(target).toMatchObject({ status: "FAILED", attempts: 2, last_failure_reason: "busy" });
    expect(new Set(target?.call_sids).size).toBe(2);
    expect((await getCampaign(lab, json.campaign.id)).status).toBe("COMPLETED");
  });

  it("a retry that falls after the window's end moves to the next opening", async () => {
    const clock = movableClock(new Date("2026-12-01T20:30:00Z"));
    const lab = await newLab({ deps: { clock }, callSeconds: 0.05 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: window,
      retry: { max_attempts: 3, backoff_minutes: 60 },
      drivers: [driver(1, "0487")], // no-answer
    });
    await consumeDispatch(lab);
    await settle(lab);
    expect((await allTargets(lab, json.campaign.id))[0]).toMatchObject({
      status: "QUEUED",
      waiting_for: "calling_window",
      next_attempt_at: "2026-12-02T08:00:00.000Z",
      last_failure_reason: "no-answer",
    });
  });

  it("voicemail is retried, and its transcript kept", async () => {
    // The backoff counts from the call's end as ElevenLabs reports it (the simulator's real
    // time), so this test runs on the real clock, with a window open all day.
    const lab = await newLab({ deps: { clock: movableClock() }, callSeconds: 0.05 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: { start: "00:00", end: "23:59" },
      // One minute: the retry stays inside the window whatever the time of day.
      retry: { max_attempts: 2, backoff_minutes: 1 },
      drivers: [driver(1, "0488")],
    });
    await consumeDispatch(lab);
    await settle(lab);
    const [target] = await allTargets(lab, json.campaign.id);
    expect(target).toMatchObject({
      status: "QUEUED",
      waiting_for: "retry",
      last_failure_reason: "voicemail",
    });
    const [call] = (await lab.sql`
      SELECT status, failure_reason, jsonb_array_length(final_transcript) AS turns FROM calls`) as {
      status: string;
      failure_reason: string;
      turns: number;
    }[];
    expect(call).toMatchObject({ status: "FAILED", failure_reason: "voicemail" });
    expect(call?.turns).toBeGreaterThan(0);
  });

  it("only the endings in retry.on are retried", async () => {
    const clock = movableClock(new Date("2026-12-01T10:00:00Z"));
    const lab = await newLab({ deps: { clock }, callSeconds: 0.05 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: window,
      retry: { max_attempts: 3, backoff_minutes: 5, on: ["no-answer"] },
      drivers: [driver(1, "0486")],
    });
    await consumeDispatch(lab);
    await settle(lab);
    expect((await allTargets(lab, json.campaign.id))[0]).toMatchObject({
      status: "FAILED",
      attempts: 1,
      last_failure_reason: "busy",
    });
  });

  it("a call that timed out (it may have rung) is never retried", async () => {
    const clock = movableClock(new Date("2026-12-01T10:00:00Z"));
    const lab = await newLab({
      callSeconds: 0.05,
      deps: {
        clock,
        elevenLabs: simulatorClient({ timeoutMs: 100 }),
      },
    });
    const silent = driver(1, "0408");
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: window,
      retry: { max_attempts: 5, backoff_minutes: 1 },
      drivers: [silent],
    });
    await consumeDispatch(lab);
    expect((await allTargets(lab, json.campaign.id))[0]).toMatchObject({
      status: "FAILED",
      attempts: 1,
      last_failure_reason: "elevenlabs_timeout",
    });
    clock.set("2026-12-01T12:00:00Z");
    await consumeDispatch(lab);
    expect(await dialsOf(lab, silent.phone_number)).toBe(1);
  });
});
