// Erasing a driver's data from the console, in Chromium: the call page's button leads to a
// confirmation page, whose button (a form POST, no script) erases and shows what it did;
// both pages pass axe-core and fit a 390 px phone; the call page then says so.

import type { Page } from "puppeteer-core";
import { afterAll, describe, expect, it } from "vitest";
import {
  BASE_URL,
  clickAndWait,
  closeSql,
  createCampaignByApi,
  DESKTOP,
  disconnectBrowser,
  driverId,
  openConsole,
  PHONE,
  phoneNumber,
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

const ERASE = '::-p-aria([name="Erase this driver\'s data"][role="button"])';

describe("the console's Erase this driver's data", () => {
  it("asks to confirm, erases, says what it erased, and the call page shows the call without the driver's data", async () => {
    const driver = driverId();
    const campaignId = await createCampaignByApi({
      name: uniqueName("To erase"),
      time_zone: "America/Chicago",
      calling_window: { start: "00:00", end: "23:59" },
      retry: { max_attempts: 1, backoff_minutes: 1 },
      drivers: [
        {
          driver_id: driver,
          phone_number: phoneNumber(),
          driver_name: "Quentin Erasmus",
          violations: [
            {
              code: "HOS_11H",
              description: "Exceeded the 11-hour driving limit",
              occurred_at: "2026-11-20T14:05:00-06:00",
            },
          ],
        },
      ],
    });
    expect(await waitForCampaignEnd(campaignId)).toBe("COMPLETED");
    const [call] = await sql<{ call_sid: string }>(
      "SELECT call_sid FROM calls WHERE driver_id = $1 AND status = 'COMPLETED'",
      [driver],
    );
    const callSid = call?.call_sid ?? "";

    const session = await openConsole();
    const { page } = session;
    try {
      await page.goto(`${BASE_URL}/console/calls/${callSid}`);
      expect(await page.$eval("main", (main) => main.textContent)).toContain("Quentin Erasmus");

      await clickAndWait(page, ERASE);
      expect(new URL(page.url()).pathname).toBe(`/console/drivers/${driver}/erase`);
      expect(await page.title()).toContain(`Erase driver ${driver}'s data?`);
      await expectAccessibleAndNarrow(page, "confirmation");
      const [before] = await sql<{ erased: number }>(
        "SELECT count(*) FILTER (WHERE erased_at IS NOT NULL)::int AS erased FROM calls WHERE driver_id = $1",
        [driver],
      );
      expect(before?.erased).toBe(0);

      const response = await clickAndWait(page, ERASE);
      expect(response?.status()).toBe(200);
      expect(await page.title()).toContain(`Driver ${driver}'s data erased`);
      const figures = await page.$eval("main dl", (dl) => dl.textContent ?? "");
      expect(figures).toMatch(/Calls erased\s*1/);
      expect(figures).toMatch(/Campaign entries erased\s*1/);
      await expectAccessibleAndNarrow(page, "result");

      await clickAndWait(page, '::-p-aria([name="Back to the call"][role="link"])');
      const main = await page.$eval("main", (element) => element.textContent ?? "");
      expect(main).toContain("This driver's data was erased");
      expect(main).not.toContain("Quentin");
      expect(session.dialogs).toEqual([]);
    } finally {
      await session.close();
    }
  }, 60_000);
});

async function expectAccessibleAndNarrow(page: Page, what: string) {
  for (const [width, viewport] of [
    [1280, DESKTOP],
    [390, PHONE],
  ] as const) {
    await page.setViewport(viewport);
    expect(await seriousAxeFindings(page), `${what} at ${width} px`).toEqual([]);
    expect(await sidewaysOverflow(page), `${what} at ${width} px`).toBeLessThanOrEqual(0);
  }
  await page.setViewport(DESKTOP);
}
