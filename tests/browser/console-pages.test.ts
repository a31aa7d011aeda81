// Every console page, at 1280 px and on a 390 px phone: axe-core finds no serious or
// critical violation, and no page scrolls sideways (wide tables scroll in their own box).
// Screenshots of the main pages go to .data/screenshots, or with UPDATE_SCREENSHOTS=1 to
// docs/screenshots (the README shows them).
import type { Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  API_TOKEN,
  BASE_URL,
  type BrowserGlobals,
  type BrowserNode,
  CSV_HEADER,
  checkPage,
  clickAndWait,
  closeSql,
  createCampaignByApi,
  DESKTOP,
  disconnectBrowser,
  driverId,
  MAX_LIVE_CALLS,
  openConsole,
  PHONE,
  phoneNumber,
  screenshot,
  seriousAxeFindings,
  sidewaysOverflow,
  sql,
  uniqueName,
  waitForCampaignEnd,
} from "../support/console-browser";

afterAll(async () => {
  await disconnectBrowser();
  await closeSql();
});

const violation = {
  code: "HOS_11H",
  description: "Exceeded the 11-hour driving limit on the I-80 run, 2 h 10 min over",
  occurred_at: "2026-11-20T14:05:00-06:00",
};

let finishedId = "";
let runningId = "";
let callSid = "";

beforeAll(async () => {
  // A campaign with every kind of ending an operator reads about: reached, busy (failed
  // with one attempt), voicemail, an opt-out, and a number already on the do-not-call list.
  const listed = phoneNumber();
  await fetch(`${BASE_URL}/do-not-call/${encodeURIComponent(listed)}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${API_TOKEN}` },
  });
  const names = [
    "Ana Ruiz",
    "Bartholomew Fitzgerald-Montgomery III",
    "Cy Park",
    "Dee Okafor",
    "Eli Novak",
    "Fay Lindqvist",
    "Gus Moreau",
  ];
  const endings = ["", "", "", "0486", "0488", "0499", ""];
  finishedId = await createCampaignByApi({
    name: uniqueName("HOS follow-up, week 48"),
    time_zone: "America/Chicago",
    calling_window: { start: "00:00", end: "23:59" },
    retry: { max_attempts: 1, backoff_minutes: 1 },
    drivers: names.map((name, index) => ({
      driver_id: driverId(),
      phone_number: index === names.length - 1 ? listed : phoneNumber(endings[index] || undefined),
      driver_name: name,
      ...(index % 2 === 0 ? { time_zone: "America/Denver" } : {}),
      violations: [violation],
    })),
  });
  // And one that waits for its start, in three zones.
  runningId = await createCampaignByApi({
    name: uniqueName("Speeding review, December"),
    time_zone: "America/New_York",
    calling_window: { start: "08:00", end: "20:00", days: ["mon", "tue", "wed", "thu", "fri"] },
    start_at: "2031-01-06T14:00:00Z",
    drivers: ["America/Denver", "America/Los_Angeles", "America/New_York"].map((zone, index) => ({
      driver_id: driverId(),
      phone_number: phoneNumber(),
      driver_name: ["Hana Sato", "Ivan Petrov", "Jo Mensah"][index],
      time_zone: zone,
      violations: [violation],
    })),
  });
  expect(await waitForCampaignEnd(finishedId)).toBe("COMPLETED");
  const [row] = await sql<{ call_sid: string }>(
    `SELECT c.call_sid FROM campaign_targets t JOIN calls c ON c.id = t.call_ids[1]
     WHERE t.campaign_id = $1 AND t.status = 'COMPLETED' ORDER BY t.position LIMIT 1`,
    [finishedId],
  );
  callSid = row?.call_sid ?? "";
  expect(callSid).not.toBe("");
}, 60_000);

describe("every console page: accessible, and usable at 1280 px and 390 px", () => {
  it("sign-in, and sign-in refused", async () => {
    const session = await openConsole({ signIn: false });
    try {
      await session.page.goto(`${BASE_URL}/console/sign-in`);
      await checkPage(session.page, "sign-in", "sign-in");
      await session.page.locator("::-p-aria(Token)").fill("wrong");
      const response = await clickAndWait(
        session.page,
        '::-p-aria([name="Sign in"][role="button"])',
      );
      expect(response?.status()).toBe(401);
      await checkPage(session.page, "sign-in refused");
    } finally {
      await session.close();
    }
  });

  it("campaigns, with the live calls against the cap", async () => {
    const session = await openConsole();
    try {
      await session.page.goto(`${BASE_URL}/console`);
      expect(await session.page.$eval("#live-calls", (p: BrowserNode) => p.textContent)).toMatch(
        new RegExp(`^Live calls: \\d+ of ${MAX_LIVE_CALLS}$`),
      );
      await checkPage(session.page, "campaigns", "campaigns");
    } finally {
      await session.close();
    }
  });

  it("new campaign, and the form with problems", async () => {
    const session = await openConsole();
    try {
      const { page } = session;
      await page.goto(`${BASE_URL}/console/campaigns/new`);
      // The fields by their labels, the days all ticked, the defaults.
      const days = await page.$$eval('input[name="days"]', (boxes) =>
        boxes.map((box) => (box as unknown as { checked: boolean }).checked),
      );
      expect(days).toEqual(Array(7).fill(true));
      // Every field by its label (the labels are exact: outside checks find fields by them).
      const labels = await page.$$eval("form label[for]", (elements: BrowserNode[]) =>
        elements.filter((label) => label.control).map((label) => label.textContent.trim()),
      );
      for (const label of [
        "Name",
        "Drivers (CSV)",
        "Time zone",
        "Calls from",
        "Calls until",
        "Start at",
        "Attempts",
        "Minutes between attempts",
        "Country for numbers without +",
      ]) {
        expect(labels, label).toContain(label);
      }
      expect(await page.$eval("fieldset legend", (legend: BrowserNode) => legend.textContent)).toBe(
        "Days",
      );
      expect(await page.$eval("#attempts", (input) => input.getAttribute("value"))).toBe("3");
      expect(await page.$eval("#backoff_minutes", (input) => input.getAttribute("value"))).toBe(
        "60",
      );
      expect(await page.$eval("::-p-aria(CSV template)", (link) => link.getAttribute("href"))).toBe(
        "/console/drivers-template.csv",
      );
      await checkPage(page, "new campaign", "new-campaign");

      // 120 drivers whose second row names them otherwise (120 different problems), and
      // numbers too short on many lines (one entry).
      const rows = [CSV_HEADER];
      for (let id = 1; id <= 120; id++) {
        rows.push(`${id},555-01${id},Driver ${id},,HOS,Late,2026-11-20T14:05:00Z`);
        rows.push(`${id},555-01${id},Driver ${id}.,,HOS,Late,2026-11-20T14:05:00Z`);
      }
      const { writeFileSync } = await import("node:fs");
      const { join } = await import("node:path");
      const { tmpdir } = await import("node:os");
      const { mkdtempSync } = await import("node:fs");
      // A file name as an operator's would read in the screenshots.
      const path = join(mkdtempSync(join(tmpdir(), "console-bad-")), "drivers-week-48.csv");
      writeFileSync(path, rows.join("\n"));
      await page.locator('::-p-aria([name="Name"][role="textbox"])').fill("Many problems");
      await page.locator('::-p-aria([name="Time zone"])').fill("UTC");
      const input = await page.$('input[type="file"]');
      await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(path);
      const response = await clickAndWait(
        page,
        '::-p-aria([name="Start campaign"][role="button"])',
      );
      expect(response?.status()).toBe(422);
      const problems = await page.$$eval("#csv-problems li", (items) =>
        items.map((item) => item.textContent),
      );
      expect(problems).toHaveLength(100);
      expect(problems[0]).toMatch(
        /^Lines 2, 4, 6, .*, 40 and 100 more: phone_number: has the wrong number of digits for a US number: found "555-011" on line 2, and other values$/,
      );
      expect(
        await page.$eval("#form-problems", (alert: BrowserNode) => alert.textContent),
      ).toContain("and 21 more");
      await checkPage(page, "new campaign with many problems");

      // A file as operators get it wrong: grouped problems, a zone missing for everyone.
      const few = [CSV_HEADER];
      for (let id = 1; id <= 60; id++) {
        const phone =
          id <= 39 || id === 52 ? `555-01${id}` : `(555) 100-${String(id).padStart(4, "0")}`;
        const at = id % 20 === 7 ? "20/11/2026 14:05" : "2026-11-20T14:05:00Z";
        few.push(`${id},${phone},Driver ${id},,HOS_11H,Exceeded the 11-hour limit,${at}`);
      }
      writeFileSync(path, few.join("\n"));
      await page.locator('::-p-aria([name="Time zone"])').fill("");
      const inputAgain = await page.$('input[type="file"]');
      await (inputAgain as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(path);
      const again = await clickAndWait(page, '::-p-aria([name="Start campaign"][role="button"])');
      expect(again?.status()).toBe(422);
      expect(
        await page.$$eval("#csv-problems li", (items) => items.map((item) => item.textContent)),
      ).toEqual([
        'Lines 2-40, 53: phone_number: has the wrong number of digits for a US number: found "555-011" on line 2, and other values',
        'Lines 8, 28, 48: violation_occurred_at: must be an ISO 8601 date-time with a time zone, e.g. 2026-11-23T14:05:09.120Z: found "20/11/2026 14:05"',
      ]);
      expect(await page.$eval("#time_zone-error", (error: BrowserNode) => error.textContent)).toBe(
        "Time zone: no driver in the file has a time_zone: choose the time zone the drivers are in",
      );
      await checkPage(page, "new campaign with problems", "new-campaign-problems");
    } finally {
      await session.close();
    }
  });

  it("the review page, and Back to the form with its values", async () => {
    const session = await openConsole();
    try {
      const { page } = session;
      const listed = phoneNumber();
      await fetch(`${BASE_URL}/do-not-call/${encodeURIComponent(listed)}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      const zones = ["America/Denver", "", "America/New_York", "America/Los_Angeles", ""];
      const names = [
        "Ana Ruiz",
        "Bartholomew Fitzgerald-Montgomery III",
        "Cy Park",
        "Dee Okafor",
        "Eli Novak",
      ];
      const rows = [CSV_HEADER];
      names.forEach((name, index) => {
        const digits = (index === 2 ? listed : phoneNumber()).slice(2);
        const phone = `"(${digits.slice(0, 3)}) ${digits.slice(3, 6)}-${digits.slice(6)}"`;
        const id = 2000 + index;
        rows.push(
          `${id},${phone},${name},${zones[index]},HOS_11H,"${violation.description}",2026-11-20T14:05:00-06:00`,
        );
        if (index % 2 === 0) {
          rows.push(
            `${id},${phone},${name},${zones[index]},SPEED_15,"15 mph over the limit, I-25",2026-11-21T09:00:00-06:00`,
          );
        }
      });
      const { writeFileSync } = await import("node:fs");
      const { join } = await import("node:path");
      const { tmpdir } = await import("node:os");
      const { mkdtempSync } = await import("node:fs");
      const path = join(mkdtempSync(join(tmpdir(), "console-review-")), "drivers-week-49.csv");
      writeFileSync(path, rows.join("\r\n"));
      await page.goto(`${BASE_URL}/console/campaigns/new`);
      await page.locator('::-p-aria([name="Name"][role="textbox"])').fill("HOS follow-up, week 49");
      await page.locator('::-p-aria([name="Time zone"])').fill("America/Chicago");
      await page.locator('::-p-aria([name="Start at"])').fill("2031-01-06 07:30");
      const input = await page.$('input[type="file"]');
      await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(path);
      await clickAndWait(page, '::-p-aria([name="Start campaign"][role="button"])');
      expect(await page.title()).toMatch(/^Review: HOS follow-up, week 49/);
      expect(await page.$eval("#first-call", (p: BrowserNode) => p.textContent)).toBe(
        "08:00 Mon 6 Jan 2031, America/Chicago",
      );
      await checkPage(page, "review", "review-campaign");

      await clickAndWait(page, '::-p-aria([name="Back"][role="button"])');
      expect(await page.title()).toMatch(/^New campaign/);
      expect(await page.$eval("#name", (field: BrowserNode) => field.value)).toBe(
        "HOS follow-up, week 49",
      );
      expect(await page.$eval("#start_at", (field: BrowserNode) => field.value)).toBe(
        "2031-01-06 07:30",
      );
      await checkPage(page, "new campaign, back from the review", "new-campaign-back");
    } finally {
      await session.close();
    }
  });

  it("a finished campaign, a running one, its cancel confirmation, and a call", async () => {
    const session = await openConsole();
    try {
      const { page } = session;
      await page.goto(`${BASE_URL}/console/campaigns/${finishedId}`);
      expect(await page.title()).toContain("COMPLETED");
      const summary = await page.$eval(
        "#campaign-summary",
        (section: BrowserNode) => section.textContent,
      );
      expect(summary).toContain("Opted out");
      expect(summary).toContain("busy: 1");
      expect(summary).toContain("voicemail: 1");
      expect(summary).toContain("on the do-not-call list: 1");
      await checkPage(page, "finished campaign", "campaign-completed");

      await page.goto(`${BASE_URL}/console/campaigns/${runningId}`);
      expect(await page.title()).toContain("RUNNING");
      const nextAttempts = await page.$$eval("#targets-region tbody tr td:nth-child(4)", (tds) =>
        tds.map((td) => td.textContent),
      );
      expect(nextAttempts).toEqual([
        // 14:00Z is 07:00 in Denver and 06:00 in Los Angeles: both wait for 08:00.
        "08:00 Mon 6 Jan 2031, America/Denver",
        "08:00 Mon 6 Jan 2031, America/Los_Angeles",
        "09:00 Mon 6 Jan 2031, America/New_York",
      ]);
      await checkPage(page, "running campaign", "campaign-running");

      await clickAndWait(page, '::-p-aria([name="Cancel campaign"][role="button"])');
      await checkPage(page, "cancel confirmation");

      await page.goto(`${BASE_URL}/console/calls/${callSid}?campaign=${finishedId}`);
      await checkPage(page, "call", "call");

      await page.goto(`${BASE_URL}/console/no-such-page`);
      await checkPage(page, "not found");
    } finally {
      await session.close();
    }
  });

  it("the do-not-call list", async () => {
    const session = await openConsole();
    try {
      await session.page.goto(`${BASE_URL}/console/do-not-call`);
      await checkPage(session.page, "do-not-call", "do-not-call");
      // Keyboard: the skip link is the first stop and moves to <main>.
      await session.page.keyboard.press("Tab");
      expect(
        await session.page.evaluate(
          () => (globalThis as unknown as BrowserGlobals).document.activeElement?.textContent,
        ),
      ).toBe("Skip to content");
    } finally {
      await session.close();
    }
  });
});
