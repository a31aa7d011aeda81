// The do-not-call list in the console: add a number with a reason, remove it by the button
// that names it, and a number that is not E.164 refused beside its field.
import { afterAll, describe, expect, it } from "vitest";
import {
  BASE_URL,
  type BrowserNode,
  clickAndWait,
  closeSql,
  disconnectBrowser,
  openConsole,
  phoneNumber,
  sql,
} from "../support/console-browser";

afterAll(async () => {
  await disconnectBrowser();
  await closeSql();
});

describe("the do-not-call page", () => {
  it("adds a number with its reason and removes it by its Remove button", async () => {
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

      await clickAndWait(page, `::-p-aria([name="Remove ${number}"][role="button"])`);
      expect(await page.$eval("[role=status]", (status: BrowserNode) => status.textContent)).toBe(
        `Removed ${number} from the list.`,
      );
      expect(await page.$$(`::-p-aria([name="Remove ${number}"][role="button"])`)).toHaveLength(0);
      expect(await sql("SELECT 1 FROM do_not_call WHERE phone_number = $1", [number])).toEqual([]);
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
