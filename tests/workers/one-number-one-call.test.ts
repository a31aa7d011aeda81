// One number, one live call: a phone number that has a live call, from any campaign or
// batch, is not dialed again until that call ends. Each promise is raced on purpose:
// campaigns sharing numbers, claims running at once, batches against campaigns.
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
  labRequest,
  newLab,
  operatorRequest,
} from "../support/dispatch";

const OPEN_ALL_DAY = { start: "00:00", end: "23:59" };

/** Drivers whose numbers are +1555 000 NNNN: the same `numbers` for any driver ids. */
function driversWithNumbers(firstId: number, numbers: string[]) {
  return numbers.map((number, index) => ({
    ...driver(firstId + index, "0100"),
    phone_number: `+1555000${number}`,
  }));
}

const SHARED = ["1001", "1002", "1003", "1004", "1005"];

/** IN_PROGRESS calls per number, the highest count. */
async function mostLiveCallsToOneNumber(lab: Lab): Promise<number> {
  const [row] = (await lab.sql`
    SELECT coalesce(max(n), 0)::int AS most FROM (
      SELECT count(*) AS n FROM calls WHERE status = 'IN_PROGRESS' GROUP BY phone_number
    ) per_number`) as { most: number }[];
  return row?.most ?? -1;
}

describe("one number, one live call", () => {
  it("two running campaigns with the same five numbers: each number is in one live call at a time; the other driver waits (number_in_call), then is called", async () => {
    // Calls last long enough that none ends during the claims.
    const lab = await newLab({ maxLiveCalls: 20, callSeconds: 1 });
    const first = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: driversWithNumbers(1, SHARED),
    });
    const second = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: driversWithNumbers(101, SHARED),
    });
    await Promise.all([consumeDispatch(lab), consumeDispatch(lab), consumeDispatch(lab)]);

    expect(await mostLiveCallsToOneNumber(lab)).toBe(1);
    const targets = [
      ...(await allTargets(lab, first.json.campaign.id)),
      ...(await allTargets(lab, second.json.campaign.id)),
    ];
    expect(targets.filter((target) => target.status === "CALLING")).toHaveLength(5);
    const waiting = targets.filter((target) => target.status === "QUEUED");
    expect(waiting).toHaveLength(5);
    expect(waiting.every((target) => target.waiting_for === "number_in_call")).toBe(true);
    for (const number of SHARED) expect(await dialsOf(lab, `+1555000${number}`)).toBe(1);

    // The calls end; the waiting drivers are called, one call per number again.
    for (let round = 0; round < 50; round++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await deliverOutbox(lab);
      await consumeDispatch(lab);
      expect(await mostLiveCallsToOneNumber(lab)).toBeLessThanOrEqual(1);
      const done = await Promise.all([
        getCampaign(lab, first.json.campaign.id),
        getCampaign(lab, second.json.campaign.id),
      ]);
      if (done.every((campaign) => campaign.status === "COMPLETED")) break;
    }
    expect((await getCampaign(lab, first.json.campaign.id)).status).toBe("COMPLETED");
    expect((await getCampaign(lab, second.json.campaign.id)).status).toBe("COMPLETED");
    for (const number of SHARED) expect(await dialsOf(lab, `+1555000${number}`)).toBe(2);
  });

  it("one campaign with the same number for two drivers dials it once at a time", async () => {
    const lab = await newLab({ maxLiveCalls: 10, callSeconds: 60 });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: driversWithNumbers(1, ["2001", "2001", "2002"]),
    });
    await consumeDispatch(lab);
    const [one, two, other] = await allTargets(lab, json.campaign.id);
    expect([one?.status, two?.status].sort()).toEqual(["CALLING", "QUEUED"]);
    expect([one, two].find((target) => target?.status === "QUEUED")?.waiting_for).toBe(
      "number_in_call",
    );
    expect(other?.status).toBe("CALLING");
    expect(await mostLiveCallsToOneNumber(lab)).toBe(1);
  });

  it("a batch driver whose number is in a campaign's live call is FAILED number_in_call, not dialed, no slot; so is a number given twice in one batch", async () => {
    const lab = await newLab({ maxLiveCalls: 10, callSeconds: 60 });
    await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: driversWithNumbers(1, ["3001"]),
    });
    await consumeDispatch(lab);
    expect(await dialsOf(lab, "+15550003001")).toBe(1);

    const response = await labRequest(
      lab,
      operatorRequest("POST", "/calls/batch", {
        drivers: driversWithNumbers(201, ["3001", "3002", "3002"]),
      }),
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      results: { status: string; error?: { code: string } }[];
      summary: Record<string, number>;
    };
    expect(body.results.map((result) => [result.status, result.error?.code])).toEqual([
      ["FAILED", "number_in_call"],
      ["IN_PROGRESS", undefined],
      ["FAILED", "number_in_call"],
    ]);
    expect(body.summary).toEqual({ requested: 3, started: 1, failed: 2 });
    expect(await dialsOf(lab, "+15550003001")).toBe(1);
    expect(await dialsOf(lab, "+15550003002")).toBe(1);
    const [slots] = (await lab.sql`SELECT count(*)::int AS n FROM live_call_slots`) as {
      n: number;
    }[];
    expect(slots?.n).toBe(2);
  });

  it("batches racing a campaign for the same numbers: never two live calls to one number", async () => {
    const lab = await newLab({ maxLiveCalls: 30, callSeconds: 60 });
    await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN_ALL_DAY,
      drivers: driversWithNumbers(1, SHARED),
    });
    const batches = [301, 401, 501, 601].map((firstId) =>
      labRequest(
        lab,
        operatorRequest("POST", "/calls/batch", { drivers: driversWithNumbers(firstId, SHARED) }),
      ),
    );
    const consumers = [consumeDispatch(lab), consumeDispatch(lab)];
    const answers = await Promise.all(batches);
    await Promise.all(consumers);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    expect(await mostLiveCallsToOneNumber(lab)).toBe(1);
    for (const number of SHARED) expect(await dialsOf(lab, `+1555000${number}`)).toBe(1);
  });
});
