// The do-not-call list in the console: add a number with a reason, find it by part of its
// number, remove it by the button that names it (which asks to confirm, and for a reason),
// and a number that is not E.164 refused beside its field.

import type { Page } from "puppeteer-core";
import { afterAll, describe, expect, it } from "vitest";
import {
  BASE_URL,
  type BrowserNode,
  checkPage,
  clickAndWait,
  closeSql,
  DESKTOP,
  disconnectBrowser,
  openConsole,
  PHONE,
  phoneNumber,
  screenshot,
  seriousAxeFindings,
  sidewaysOverflow,
  sql,
} from "../support/console-browser";

afterAll(async () => {
  await disconnectBrowser();
  await closeSql();
});

describe("the do-not-call page", () => {
  it("adds a number with its reason, finds it by part of its number, and removes it after confirming, with a reason", async () => {
    const session = await openConsole();
    const { page } = session;
    try {
      const number = phoneNumber();
      await page.goto(`${BASE_URL}/console/do-not-call`);
      await page.locator('::-p-aria([name="Phone number"][role="textbox"])').fill(number);
      await page
        .locator('::-p-aria([name="Reason"][role="textbox"])')
        .fill("Asked by email <b>now</b>");
      await clickAndWait(page, '::-p-aria([name="Add"][role="button"])');
      expect(await page.$eval("[role=status]", (status: BrowserNode) => status.textContent)).toBe(
        `Added ${number} to the list.`,
      );
      const rows = await page.$$eval("tbody tr", (trs) =>
        trs.map((tr) => {
          const cells = [...tr.querySelectorAll("td")].map((td) => td.textContent);
          return [cells[0], cells[2]]; // Phone number, Reason
        }),
      );
      expect(rows[0]).toEqual([number, "Asked by email <b>now</b>"]);
      expect(await sql("SELECT reason FROM do_not_call WHERE phone_number = $1", [number])).toEqual(
        [{ reason: "Asked by email <b>now</b>" }],
      );

      // Found by part of its number, written with spaces.
      const digits = number.slice(-7);
      await page
        .locator('::-p-aria([name="Search by number"])')
        .fill(`${digits.slice(0, 3)} ${digits.slice(3)}`);
      await clickAndWait(page, '::-p-aria([name="Search"][role="button"])');
      const found = await page.$$eval("tbody tr td:first-child", (tds) =>
        tds.map((td) => td.textContent),
      );
      expect(found).toContain(number);
      expect(found.every((shown) => shown?.includes(digits))).toBe(true);

      // Remove asks first: what the entry is, and why it may be called again.
      await clickAndWait(page, `::-p-aria([name="Remove ${number}"][role="button"])`);
      expect(await page.title()).toMatch(/^Remove .+ from the do-not-call list\?/);
      expect(await page.$eval("main", (main: BrowserNode) => main.textContent)).toContain(
        "Asked by email <b>now</b>",
      );
      await checkPage(page, "remove a number", "do-not-call-remove");
      // The reason is required: the browser will not send the form without one.
      const reason = '::-p-aria([name="Reason"][role="textbox"])';
      expect(
        await page.$eval("#removal-reason", (input: BrowserNode) => input.validity.valueMissing),
      ).toBe(true);
      expect(await sql("SELECT 1 FROM do_not_call WHERE phone_number = $1", [number])).toHaveLength(
        1,
      );
      await page.locator(reason).fill("The driver called the office to ask");
      await clickAndWait(page, `::-p-aria([name="Remove ${number}"][role="button"])`);
      expect(await page.$eval("[role=status]", (status: BrowserNode) => status.textContent)).toBe(
        `Removed ${number} from the list.`,
      );
      expect(await page.$$(`::-p-aria([name="Remove ${number}"][role="button"])`)).toHaveLength(0);
      expect(await sql("SELECT 1 FROM do_not_call WHERE phone_number = $1", [number])).toEqual([]);
      // Audited under the signed-in operator, with the reason given.
      expect(
        await sql(
          "SELECT actor_kind, actor_name, detail->>'reason' AS reason FROM audit_events WHERE action = 'do_not_call.removed' AND subject_id = $1",
          [number],
        ),
      ).toEqual([
        {
          actor_kind: "operator",
          actor_name: "Test Operator",
          reason: "The driver called the office to ask",
        },
      ]);
    } finally {
      await session.close();
    }
  });

  it("refuses a number that is not E.164 (422), beside its field, and adds nothing", async () => {
    const session = await openConsole();
    const { page } = session;
    try {
      await page.goto(`${BASE_URL}/console/do-not-call`);
      await page.locator('::-p-aria([name="Phone number"][role="textbox"])').fill("555-123-0042");
      const response = await clickAndWait(page, '::-p-aria([name="Add"][role="button"])');
      expect(response?.status()).toBe(422);
      expect(
        await page.$eval("#phone_number-error", (error: BrowserNode) => error.textContent),
      ).toBe("Phone number: must be an E.164 phone number such as +15551230042");
      expect(
        await page.$eval("#phone_number", (input: BrowserNode) =>
          input.getAttribute("aria-invalid"),
        ),
      ).toBe("true");
      expect(await sql("SELECT 1 FROM do_not_call WHERE phone_number = '555-123-0042'")).toEqual(
        [],
      );
    } finally {
      await session.close();
    }
  });
});
