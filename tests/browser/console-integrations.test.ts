// Integrations in the console, end to end under `wrangler dev` with its real local events
// queue: an operator adds an endpoint (a Node HTTP server this test starts), copies its
// secret from the page, a call fails, the signed event arrives through the queue, the
// delivery shows in the page's log, and `Resend` sends the same webhook-id again.
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import type { Page } from "puppeteer-core";
import { Webhook } from "standardwebhooks";
import { afterAll, describe, expect, it } from "vitest";
import {
  API_TOKEN,
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
} from "../support/console-browser";

const received: { headers: IncomingHttpHeaders; body: string }[] = [];
const receiver = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    received.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
    response.writeHead(204).end();
  });
});

afterAll(async () => {
  receiver.close();
  await disconnectBrowser();
  await closeSql();
});

async function waitFor<T>(
  what: string,
  probe: () => T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("integrations", () => {
  it("adds an endpoint, shows its secret once, delivers a signed event through the queue, and resends it", async () => {
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/driver-calls`;
    const session = await openConsole();
    try {
      const { page } = session;
      await page.goto(`${BASE_URL}/console`);
      await clickAndWait(page, '::-p-aria([name="Integrations"][role="link"])');
      expect(await page.title()).toMatch(/^Integrations/);
      // Refused: a private address.
      await page.locator("::-p-aria(Endpoint URL)").fill("https://10.0.0.7/hooks");
      await clickAndWait(page, '::-p-aria([name="Add endpoint"][role="button"])');
      expect(await page.title()).toMatch(/^Fix the form/);
      expect(await page.$eval("[role=alert]", (node: BrowserNode) => node.textContent)).toContain(
        "must not be a private, loopback, link-local or reserved address",
      );

      // The field, not the error summary's link to it (which has the same name).
      await page.locator("input#url").fill(url);
      for (const type of ["call.completed", "campaign.completed", "driver.opted_out"]) {
        await page.locator(`#event-${type.replace(".", "\\.")}`).click();
      }
      await clickAndWait(page, '::-p-aria([name="Add endpoint"][role="button"])');
      const secret = await page.$eval("#new-secret", (node: BrowserNode) => node.value);
      expect(secret).toMatch(/^whsec_/);
      // At desktop width only: the phone viewport reloads the page, and reloading the
      // answer to a form would send the form again.
      expect(await seriousAxeFindings(page)).toEqual([]);
      await screenshot(page, "integrations-added-1280");

      // A call that fails: a batch driver whose number is on the do-not-call list.
      const number = phoneNumber();
      const api = { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" };
      const listed = await fetch(`${BASE_URL}/do-not-call/${encodeURIComponent(number)}`, {
        method: "PUT",
        headers: api,
        body: JSON.stringify({ reason: "asked by phone" }),
      });
      expect(listed.status).toBe(200);
      const batch = await fetch(`${BASE_URL}/calls/batch`, {
        method: "POST",
        headers: api,
        body: JSON.stringify({
          drivers: [
            {
              driver_id: 4242,
              phone_number: number,
              driver_name: "Kim Lee",
              violations: [
                {
                  code: "HOS_11H",
                  description: "11-hour limit",
                  occurred_at: "2026-11-20T14:05:00Z",
                },
              ],
            },
          ],
        }),
      });
      expect(batch.status).toBe(200);

      const first = await waitFor("the event", () => received[0]);
      const event = new Webhook(secret).verify(
        first.body,
        first.headers as Record<string, string>,
      ) as {
        type: string;
        data: { driver_id: number; failure_reason: string };
      };
      expect(event).toMatchObject({
        type: "call.failed",
        data: { driver_id: 4242, failure_reason: "do_not_call" },
      });

      await page.goto(`${BASE_URL}/console/integrations`);
      const row = await page.$$eval("tbody tr", (rows: { textContent: string }[]) =>
        rows.map((r) => r.textContent),
      );
      expect(row.join(" ")).toContain("delivered");
      expect(row.join(" ")).toContain(first.headers["webhook-id"] as string);
      await checkPage(page, "the delivery log", "integrations");

      await clickAndWait(
        page,
        `::-p-aria([name="Resend call.failed ${first.headers["webhook-id"]}"][role="button"])`,
      );
      expect(await page.$eval("[role=status]", (node: BrowserNode) => node.textContent)).toContain(
        "queued to be sent again",
      );
      const again = await waitFor("the resent event", () => received[1]);
      expect(again.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
      new Webhook(secret).verify(again.body, again.headers as Record<string, string>);
    } finally {
      await session.close();
    }
  });
});
