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

async function checkPage(page: Page, what: string, shot?: string, fullPage = true) {
  for (const [width, viewport] of [
    [1280, DESKTOP],
    [390, PHONE],
  ] as const) {
    await page.setViewport(viewport);
    expect(await seriousAxeFindings(page), `${what} at ${width} px`).toEqual([]);
    expect(
      await sidewaysOverflow(page),
      `${what} scrolls sideways at ${width} px`,
    ).toBeLessThanOrEqual(0);
    if (shot) await screenshot(page, `${shot}-${width}`, fullPage);
  }
  await page.setViewport(DESKTOP);
}

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

      const rows = [CSV_HEADER];
      for (let line = 2; line <= 130; line++) {
        rows.push(`${line},555${line},Driver ${line},,HOS,Late,2026-11-20`);
      }
      const { writeFileSync } = await import("node:fs");
      const { join } = await import("node:path");
      const { tmpdir } = await import("node:os");
      const path = join(tmpdir(), `console-bad-${crypto.randomUUID()}.csv`);
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
      const problems = await page.$$eval("#csv-problems li", (items) => items.length);
      expect(problems).toBe(100);
      expect(
        await page.$eval("#form-problems", (alert: BrowserNode) => alert.textContent),
      ).toContain("and 158 more");
      // The top of the page: 100 problems make it too long to read as one picture.
      await checkPage(page, "new campaign with problems", "new-campaign-problems", false);
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
        "08:00 Mon, America/Denver",
        "08:00 Mon, America/Los_Angeles",
        "09:00 Mon, America/New_York",
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
