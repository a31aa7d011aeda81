// The campaign and do-not-call API: bad input, idempotency keys, pages, and the do-not-call
// list honoured at campaign creation, mid-campaign and in /calls/batch.
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
  simulatorStats,
} from "../support/dispatch";
import { neonControl, newScope } from "../support/worker";

const OPEN = { start: "00:00", end: "23:59" };

async function errorOf(response: Response) {
  return (
    (await response.json()) as {
      error: { code: string; details?: { field: string; message: string }[] };
    }
  ).error;
}

async function fieldsOf(response: Response) {
  return ((await errorOf(response)).details ?? []).map((detail) => detail.field);
}

async function countRows(lab: Lab, table: "campaigns" | "campaign_targets" | "calls") {
  const rows = (await lab.sql.query(`SELECT count(*)::int AS n FROM ${table}`)) as { n: number }[];
  return rows[0]?.n;
}

describe("POST /campaigns refuses bad input with a 400 naming the field, and stores nothing", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    [
      "a driver with no zone and no default",
      { drivers: [driver(1, "0100")] },
      "drivers.0.time_zone",
    ],
    [
      "an unknown driver zone",
      { time_zone: "UTC", drivers: [driver(1, "0100", { time_zone: "Mars/Olympus" })] },
      "drivers.0.time_zone",
    ],
    [
      "an unknown default zone",
      { time_zone: "Nowhere/Town", drivers: [driver(1, "0100")] },
      "time_zone",
    ],
    [
      "an offset instead of a zone",
      { time_zone: "+05:00", drivers: [driver(1, "0100")] },
      "time_zone",
    ],
    [
      "a window that ends before it starts",
      {
        time_zone: "UTC",
        calling_window: { start: "21:00", end: "08:00" },
        drivers: [driver(1, "0100")],
      },
      "calling_window.end",
    ],
    [
      "an unknown day",
      {
        time_zone: "UTC",
        calling_window: { start: "08:00", end: "21:00", days: ["mon", "funday"] },
        drivers: [driver(1, "0100")],
      },
      "calling_window.days.1",
    ],
    [
      "a retry of something that is not retryable",
      { time_zone: "UTC", retry: { on: ["timeout"] }, drivers: [driver(1, "0100")] },
      "retry.on.0",
    ],
    [
      "six attempts",
      { time_zone: "UTC", retry: { max_attempts: 6 }, drivers: [driver(1, "0100")] },
      "retry.max_attempts",
    ],
    [
      "a start_at without a zone",
      { time_zone: "UTC", start_at: "2026-12-01T08:00:00", drivers: [driver(1, "0100")] },
      "start_at",
    ],
    [
      "the same driver twice",
      { time_zone: "UTC", drivers: [driver(1, "0100"), driver(1, "0200")] },
      "drivers.1.driver_id",
    ],
    ["no drivers", { time_zone: "UTC", drivers: [] }, "drivers"],
    [
      "a default zone of EST, which hides daylight saving",
      { time_zone: "EST", drivers: [driver(1, "0100")] },
      "time_zone",
    ],
    ["a default zone of MST", { time_zone: "MST", drivers: [driver(1, "0100")] }, "time_zone"],
    [
      "a driver zone of HST",
      { time_zone: "UTC", drivers: [driver(1, "0100", { time_zone: "HST" })] },
      "drivers.0.time_zone",
    ],
    [
      "a driver zone of Etc/GMT+5",
      { time_zone: "UTC", drivers: [driver(1, "0100", { time_zone: "Etc/GMT+5" })] },
      "drivers.0.time_zone",
    ],
  ];

  it("says which place to name instead of a fixed-offset zone; UTC and places are accepted", async () => {
    const lab = await newLab();
    const refused = await labRequest(
      lab,
      operatorRequest("POST", "/campaigns", { time_zone: "EST", drivers: [driver(1, "0100")] }),
    );
    expect(refused.status).toBe(400);
    const [detail] = (await errorOf(refused)).details ?? [];
    expect(detail).toMatchObject({ field: "time_zone" });
    expect(detail?.message).toContain("America/New_York");
    for (const zone of ["UTC", "America/New_York", "America/Phoenix", "EST5EDT"]) {
      const accepted = await labRequest(
        lab,
        operatorRequest("POST", "/campaigns", { time_zone: zone, drivers: [driver(1, "0100")] }),
      );
      expect(accepted.status, zone).toBe(202);
    }
  });

  it.each(cases)("%s", async (_, body, field) => {
    const lab = await newLab();
    const response = await labRequest(lab, operatorRequest("POST", "/campaigns", body));
    expect(response.status).toBe(400);
    expect(await fieldsOf(response)).toContain(field);
    expect(await countRows(lab, "campaigns")).toBe(0);
  });

  it("10,001 drivers is a 400 naming drivers; 10,000 is accepted, every one stored", async () => {
    const lab = await newLab();
    const many = (count: number) =>
      Array.from({ length: count }, (_, index) => driver(index + 1, "0100"));
    const tooMany = await labRequest(
      lab,
      operatorRequest("POST", "/campaigns", { time_zone: "UTC", drivers: many(10_001) }),
    );
    expect(tooMany.status).toBe(400);
    expect(await fieldsOf(tooMany)).toContain("drivers");
    const { response, json } = await createCampaign(lab, {
      time_zone: "UTC",
      start_at: "2030-01-01T00:00:00Z",
      drivers: many(10_000),
    });
    expect(response.status).toBe(202);
    expect(json.campaign.counts).toMatchObject({ total: 10_000, queued: 10_000 });
    expect(await countRows(lab, "campaign_targets")).toBe(10_000);
  });

  it("a body over 5 MiB is 413, nothing stored", async () => {
    const lab = await newLab();
    const body = JSON.stringify({
      time_zone: "UTC",
      name: "x",
      drivers: [driver(1, "0100")],
      padding: "x".repeat(6 * 1024 * 1024),
    });
    const response = await labRequest(lab, operatorRequest("POST", "/campaigns", body));
    expect(response.status).toBe(413);
    expect((await errorOf(response)).code).toBe("payload_too_large");
    expect(await countRows(lab, "campaigns")).toBe(0);
  });

  it("needs the operator token", async () => {
    const lab = await newLab();
    const response = await labRequest(
      lab,
      new Request("http://driver-calls.test/campaigns", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ time_zone: "UTC", drivers: [driver(1, "0100")] }),
      }),
    );
    expect(response.status).toBe(401);
    expect(await countRows(lab, "campaigns")).toBe(0);
  });
});

describe("a campaign is created once", () => {
  it("when the answer to its INSERT is lost after the commit and the statement is retried", async () => {
    const lab = await newLab();
    const scope = newScope();
    const url = new URL(lab.databaseUrl);
    url.searchParams.set("scope", scope);
    lab.env.DATABASE_URL = url.toString();
    await neonControl({ scope, fail: { mode: "drop_after_commit", count: 1 } });
    const { response, json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN,
      drivers: [driver(1, "0100"), driver(2, "0100")],
    });
    await neonControl({ scope, reset: true });
    expect(response.status).toBe(202);
    expect(json.campaign.counts).toMatchObject({ total: 2, queued: 2 });
    expect(await countRows(lab, "campaigns")).toBe(1);
    expect(await countRows(lab, "campaign_targets")).toBe(2);
  });

  it("when a request with an Idempotency-Key comes again after its key was released (a 503 after the write)", async () => {
    const lab = await newLab();
    const body = { time_zone: "UTC", calling_window: OPEN, drivers: [driver(1, "0100")] };
    const first = await createCampaign(lab, body, { "Idempotency-Key": "week-49" });
    expect(first.response.status).toBe(202);
    // What a 503 does to the key: released, as if nothing had been written.
    await lab.sql`DELETE FROM idempotency_keys`;
    const again = await createCampaign(lab, body, { "Idempotency-Key": "week-49" });
    expect(again.response.status).toBe(202);
    expect(again.json.campaign.id).toBe(first.json.campaign.id);
    expect(await countRows(lab, "campaigns")).toBe(1);
    // Another body with the same key (after its 24 hours, say) is another campaign.
    await lab.sql`DELETE FROM idempotency_keys`;
    const other = await createCampaign(
      lab,
      { ...body, name: "another week" },
      { "Idempotency-Key": "week-49" },
    );
    expect(other.json.campaign.id).not.toBe(first.json.campaign.id);
    expect(await countRows(lab, "campaigns")).toBe(2);
  });

  it("a campaign whose every driver is on the do-not-call list is COMPLETED in the answer", async () => {
    const lab = await newLab();
    const listed = driver(1, "0100");
    await labRequest(
      lab,
      operatorRequest("PUT", `/do-not-call/${encodeURIComponent(listed.phone_number)}`),
    );
    const { response, json } = await createCampaign(lab, { time_zone: "UTC", drivers: [listed] });
    expect(response.status).toBe(202);
    expect(json.campaign).toMatchObject({ status: "COMPLETED" });
    expect(json.campaign.counts).toMatchObject({ total: 1, skipped: 1 });
    expect(json.campaign.finished_at).toEqual(expect.any(String));
  });
});

describe("Idempotency-Key", () => {
  const campaign = { time_zone: "UTC", calling_window: OPEN, drivers: [driver(1, "0100")] };

  it("POST /campaigns: the same key and body replay the first answer; another body is 422", async () => {
    const lab = await newLab();
    const key = { "idempotency-key": `key-${crypto.randomUUID()}` };
    const first = await createCampaign(lab, campaign, key);
    const second = await createCampaign(lab, campaign, key);
    expect(first.response.status).toBe(202);
    expect(second.response.status).toBe(202);
    expect(second.response.headers.get("idempotent-replayed")).toBe("true");
    expect(first.response.headers.get("idempotent-replayed")).toBeNull();
    expect(second.response.headers.get("location")).toBe(`/campaigns/${first.json.campaign.id}`);
    expect(second.json.campaign.id).toBe(first.json.campaign.id);
    expect(await countRows(lab, "campaigns")).toBe(1);

    const other = await labRequest(
      lab,
      operatorRequest("POST", "/campaigns", { ...campaign, name: "another" }, key),
    );
    expect(other.status).toBe(422);
    expect((await errorOf(other)).code).toBe("idempotency_key_reused");
    expect(await countRows(lab, "campaigns")).toBe(1);
  });

  it("POST /calls/batch: a replay dials nobody again", async () => {
    const lab = await newLab({ callSeconds: 60 });
    const key = { "idempotency-key": `batch-${crypto.randomUUID()}` };
    const body = { drivers: [driver(1, "0100"), driver(2, "0100")] };
    const first = await labRequest(lab, operatorRequest("POST", "/calls/batch", body, key));
    const firstJson = await first.json();
    const replay = await labRequest(lab, operatorRequest("POST", "/calls/batch", body, key));
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual(firstJson);
    expect(Object.values((await simulatorStats(lab)).dials)).toEqual([1, 1]);
    expect(await countRows(lab, "calls")).toBe(2);
  });

  it("concurrent requests with one key: one runs, the others are 409 or its replay, nobody dialed twice", async () => {
    const lab = await newLab({ callSeconds: 60 });
    await fetch(`${lab.simulatorUrl}/__sim/latency`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ms: 300 }),
    });
    const key = { "idempotency-key": `race-${crypto.randomUUID()}` };
    const body = { drivers: [driver(3, "0100")] };
    const answers = await Promise.all(
      // Eight at once: some reach the key while the first one's INSERT is not yet visible
      // to their snapshot (the race the second read in runIdempotently covers).
      Array.from({ length: 8 }, () =>
        labRequest(lab, operatorRequest("POST", "/calls/batch", body, key)),
      ),
    );
    const statuses = answers.map((response) => response.status).sort();
    expect(statuses.filter((status) => status === 200 && true).length).toBeGreaterThanOrEqual(1);
    const ran = answers.filter(
      (response) => response.status === 200 && !response.headers.get("idempotent-replayed"),
    );
    expect(ran).toHaveLength(1);
    for (const response of answers.filter((r) => r.status === 409)) {
      expect((await errorOf(response)).code).toBe("idempotency_key_in_use");
    }
    expect(statuses.every((status) => status === 200 || status === 409)).toBe(true);
    expect(Object.values((await simulatorStats(lab)).dials)).toEqual([1]);
  });

  it("a key that is not printable ASCII is a 400 naming Idempotency-Key", async () => {
    const lab = await newLab();
    const response = await labRequest(
      lab,
      operatorRequest("POST", "/campaigns", campaign, { "idempotency-key": "x".repeat(256) }),
    );
    expect(response.status).toBe(400);
    expect(await countRows(lab, "campaigns")).toBe(0);
  });
});

describe("pages", () => {
  it("lists campaigns newest first and targets in request order, each exactly once", async () => {
    const lab = await newLab();
    const ids: string[] = [];
    for (let index = 0; index < 3; index++) {
      ids.push(
        (
          await createCampaign(lab, {
            time_zone: "UTC",
            start_at: "2030-01-01T00:00:00Z",
            drivers: Array.from({ length: 7 }, (_, n) => driver(100 * index + n + 1, "0100")),
          })
        ).json.campaign.id,
      );
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : "";
      const response = await labRequest(lab, operatorRequest("GET", `/campaigns?limit=2${query}`));
      const page = (await response.json()) as {
        campaigns: { id: string }[];
        next_cursor: string | null;
      };
      seen.push(...page.campaigns.map((campaign) => campaign.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    const targetIds: number[] = [];
    cursor = null;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : "";
      const response = await labRequest(
        lab,
        operatorRequest("GET", `/campaigns/${ids[1]}/targets?limit=3${query}`),
      );
      const page = (await response.json()) as {
        targets: { driver_id: number }[];
        next_cursor: string | null;
      };
      targetIds.push(...page.targets.map((target) => target.driver_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(targetIds).toEqual([101, 102, 103, 104, 105, 106, 107]);

    const bad = await labRequest(
      lab,
      operatorRequest("GET", `/campaigns/${ids[1]}/targets?cursor=nope`),
    );
    expect(bad.status).toBe(400);
    expect(await fieldsOf(bad)).toEqual(["cursor"]);
    // Well shaped, but February 30: refused as a cursor, not a 500 from Postgres' cast.
    const impossible = btoa(
      JSON.stringify({ c: "2026-02-30T10:00:00.000000Z", i: ids[0] }),
    ).replaceAll("=", "");
    const badDate = await labRequest(
      lab,
      operatorRequest("GET", `/campaigns?cursor=${impossible}`),
    );
    expect(badDate.status).toBe(400);
    expect(await fieldsOf(badDate)).toEqual(["cursor"]);
  });
});

describe("the do-not-call list", () => {
  const put = (number: string, body?: unknown) =>
    operatorRequest("PUT", `/do-not-call/${encodeURIComponent(number)}`, body);

  it("added before a campaign: the driver is SKIPPED from the start, never dialed", async () => {
    const lab = await newLab();
    const blocked = driver(1, "0100");
    const added = await labRequest(lab, put(blocked.phone_number, { reason: "asked by phone" }));
    expect(added.status).toBe(200);
    expect(await added.json()).toMatchObject({
      phone_number: blocked.phone_number,
      reason: "asked by phone",
      call_sid: null,
    });
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN,
      drivers: [blocked, driver(2, "0100")],
    });
    expect(json.campaign.counts).toMatchObject({ total: 2, skipped: 1, queued: 1 });
    await consumeDispatch(lab);
    const [skipped] = await allTargets(lab, json.campaign.id);
    expect(skipped).toMatchObject({
      status: "SKIPPED",
      last_failure_reason: "do_not_call",
      attempts: 0,
    });
    expect(await dialsOf(lab, blocked.phone_number)).toBe(0);
  });

  it("a campaign whose every driver is on the list is COMPLETED at once", async () => {
    const lab = await newLab();
    await labRequest(lab, put(driver(1, "0100").phone_number));
    const { json } = await createCampaign(lab, { time_zone: "UTC", drivers: [driver(1, "0100")] });
    expect(json.campaign).toMatchObject({ status: "COMPLETED", counts: { skipped: 1 } });
  });

  it("added mid-campaign: that driver is never dialed", async () => {
    const lab = await newLab({ maxLiveCalls: 1, callSeconds: 0.05 });
    const first = driver(1, "0100");
    const second = driver(2, "0100");
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN,
      drivers: [first, second],
    });
    await consumeDispatch(lab);
    expect(await dialsOf(lab, first.phone_number)).toBe(1);
    expect((await labRequest(lab, put(second.phone_number))).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await deliverOutbox(lab);
    await consumeDispatch(lab);
    expect(await dialsOf(lab, second.phone_number)).toBe(0);
    const targets = await allTargets(lab, json.campaign.id);
    expect(targets.map((target) => target.status)).toEqual(["COMPLETED", "SKIPPED"]);
    expect((await getCampaign(lab, json.campaign.id)).status).toBe("COMPLETED");
  });

  it("in /calls/batch: that driver is FAILED do_not_call, not dialed; the others are", async () => {
    const lab = await newLab({ callSeconds: 60 });
    const blocked = driver(1, "0100");
    await labRequest(lab, put(blocked.phone_number));
    const response = await labRequest(
      lab,
      operatorRequest("POST", "/calls/batch", { drivers: [blocked, driver(2, "0100")] }),
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      results: { status: string; error?: { code: string } }[];
      summary: unknown;
    };
    expect(body.results.map((result) => [result.status, result.error?.code])).toEqual([
      ["FAILED", "do_not_call"],
      ["IN_PROGRESS", undefined],
    ]);
    expect(body.summary).toEqual({ requested: 2, started: 1, failed: 1 });
    expect(await dialsOf(lab, blocked.phone_number)).toBe(0);
    const rows = (await lab.sql`SELECT status, failure_reason FROM calls ORDER BY id`) as {
      status: string;
      failure_reason: string | null;
    }[];
    expect(rows).toEqual([
      { status: "FAILED", failure_reason: "do_not_call" },
      { status: "IN_PROGRESS", failure_reason: null },
    ]);
  });

  it("removed: the driver is dialed in a new campaign", async () => {
    const lab = await newLab();
    const number = driver(1, "0100").phone_number;
    await labRequest(lab, put(number));
    const removed = await labRequest(
      lab,
      operatorRequest("DELETE", `/do-not-call/${encodeURIComponent(number)}`),
    );
    expect(removed.status).toBe(204);
    const again = await labRequest(
      lab,
      operatorRequest("DELETE", `/do-not-call/${encodeURIComponent(number)}`),
    );
    expect(again.status).toBe(204);
    await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: OPEN,
      drivers: [driver(1, "0100")],
    });
    await consumeDispatch(lab);
    expect(await dialsOf(lab, number)).toBe(1);
  });

  it("refuses numbers that are not E.164 with a 400, and lists newest first", async () => {
    const lab = await newLab();
    for (const bad of ["12345", "+0123456789", "abc", "+1 555 123 0042"]) {
      const response = await labRequest(lab, put(bad));
      expect(response.status).toBe(400);
      expect(await fieldsOf(response)).toEqual(["phone_number"]);
    }
    await labRequest(lab, put("+15550000001", { reason: "first" }));
    await labRequest(lab, put("+15550000002", { reason: "second" }));
    // Idempotent: a repeated PUT keeps the first entry.
    const repeated = await labRequest(lab, put("+15550000001", { reason: "changed" }));
    expect(await repeated.json()).toMatchObject({ reason: "first" });
    const list = await labRequest(lab, operatorRequest("GET", "/do-not-call"));
    const { entries } = (await list.json()) as { entries: { phone_number: string }[] };
    expect(entries.map((entry) => entry.phone_number)).toEqual(["+15550000002", "+15550000001"]);
  });
});
