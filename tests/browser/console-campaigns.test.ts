// Campaigns in the console, as an operator drives them in Chromium: a CSV with problems
// (listed by line and column, nothing created), a good CSV (byte-order mark, CRLF, a quoted
// comma, a driver on two rows), numbers written as people write them with the zone picked
// on the form, the review page before anything starts, a double click and a resent page
// (one campaign), the page that follows the campaign to COMPLETED by itself, the results
// download, a call's page, a hostile driver name, and cancelling.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "puppeteer-core";
import { afterAll, describe, expect, it } from "vitest";
import {
  API_TOKEN,
  BASE_URL,
  type BrowserGlobals,
  type BrowserNode,
  CSV_HEADER,
  clickAndWait,
  closeSql,
  cookieHeader,
  disconnectBrowser,
  driverId,
  openConsole,
  phoneNumber,
  sql,
  uniqueName,
  writtenAsPeopleDo,
} from "../support/console-browser";

afterAll(async () => {
  await disconnectBrowser();
  await closeSql();
});

const HOSTILE_NAME = "<img src=x onerror=alert(1)>";

function csvFile(content: string): string {
  const path = join(tmpdir(), `console-drivers-${crypto.randomUUID()}.csv`);
  writeFileSync(path, content);
  return path;
}

function csvRow(cells: (string | number)[]): string {
  return cells.join(",");
}

/** Opens the form and fills it in (the file by path); does not submit. */
async function fillForm(
  page: Page,
  fields: { name: string; file: string; timeZone?: string; startAt?: string; attempts?: string },
) {
  await page.goto(`${BASE_URL}/console/campaigns/new`);
  await page.locator('::-p-aria([name="Name"][role="textbox"])').fill(fields.name);
  await page.locator('::-p-aria([name="Time zone"])').fill(fields.timeZone ?? "UTC");
  await page.locator('::-p-aria([name="Calls from"])').fill("00:00");
  await page.locator('::-p-aria([name="Calls until"])').fill("23:59");
  if (fields.startAt) await page.locator('::-p-aria([name="Start at"])').fill(fields.startAt);
  if (fields.attempts) await page.locator('::-p-aria([name="Attempts"])').fill(fields.attempts);
  const input = await page.$('input[type="file"]');
  if (!input) throw new Error("no file input");
  await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(fields.file);
}

const START = '::-p-aria([name="Start campaign"][role="button"])';

/** The form's Start campaign, then the review page's: lands on the campaign's page. */
async function startThroughReview(page: Page) {
  const review = await clickAndWait(page, START);
  expect(review?.status()).toBe(200);
  expect(await page.title()).toMatch(/^Review/);
  return clickAndWait(page, START);
}

async function campaignsNamed(name: string): Promise<{ id: string }[]> {
  return sql<{ id: string }>("SELECT id::text FROM campaigns WHERE name = $1", [name]);
}

describe("new campaign from a CSV", () => {
  it("lists the problems on lines 3 and 4 with their columns, keeps the other fields and creates nothing", async () => {
    const session = await openConsole();
    try {
      const name = uniqueName("Bad file");
      const file = csvFile(
        [
          CSV_HEADER,
          csvRow([
            driverId(),
            phoneNumber(),
            "Ana Ruiz",
            "",
            "HOS_11H",
            "Late",
            "2026-11-20T14:05:00Z",
          ]),
          csvRow([
            driverId(),
            "555123004",
            "Bo Lee",
            "",
            "HOS_11H",
            "Late",
            "2026-11-20T14:05:00Z",
          ]),
          csvRow([driverId(), phoneNumber(), "Cy Park", "", "HOS_11H", "Late", "20 Nov 2026"]),
        ].join("\n"),
      );
      await fillForm(session.page, { name, file, timeZone: "America/Chicago", attempts: "2" });
      const response = await clickAndWait(session.page, START);
      expect(response?.status()).toBe(422);
      const problems = await session.page.$$eval("#csv-problems li", (items) =>
        items.map((item) => item.textContent),
      );
      expect(problems).toEqual([
        'Line 3: phone_number: has the wrong number of digits for a US number: found "555123004"',
        'Line 4: violation_occurred_at: must be an ISO 8601 date-time with a time zone, e.g. 2026-11-23T14:05:09.120Z: found "20 Nov 2026"',
      ]);
      // The other fields as they were sent.
      expect(await session.page.$eval("#name", (input: BrowserNode) => input.value)).toBe(name);
      expect(await session.page.$eval("#time_zone", (input: BrowserNode) => input.value)).toBe(
        "America/Chicago",
      );
      expect(await session.page.$eval("#attempts", (input: BrowserNode) => input.value)).toBe("2");
      expect(await campaignsNamed(name)).toEqual([]);
    } finally {
      await session.close();
    }
  });

  it("starts a campaign from a good file (BOM, CRLF, quoted comma, a driver on two rows) whose page follows it to COMPLETED; results, a call, and a hostile name shown as text", async () => {
    const session = await openConsole();
    const { page, dialogs } = session;
    try {
      const name = uniqueName("Week 48, HOS");
      const ana = { id: driverId(), phone: phoneNumber() };
      const hostile = { id: driverId(), phone: phoneNumber() };
      const cy = { id: driverId(), phone: phoneNumber() };
      const file = csvFile(
        `\uFEFF${[
          CSV_HEADER,
          csvRow([
            ana.id,
            ana.phone,
            '"Ruiz, Ana"',
            "America/Denver",
            "HOS_11H",
            '"Exceeded the limit, by 2 h"',
            "2026-11-20T14:05:00-06:00",
          ]),
          csvRow([
            ana.id,
            ana.phone,
            '"Ruiz, Ana"',
            "America/Denver",
            "SPEED_15",
            "15 mph over",
            "2026-11-21T09:00:00-06:00",
          ]),
          csvRow([
            hostile.id,
            hostile.phone,
            HOSTILE_NAME,
            "",
            "INSP_OOS",
            HOSTILE_NAME,
            "2026-11-22T11:30:00Z",
          ]),
          csvRow([cy.id, cy.phone, "Cy Park", "", "HOS_11H", "Late", "2026-11-22T11:30:00Z"]),
        ].join("\r\n")}\r\n`,
      );
      await fillForm(page, { name, file });
      const created = await startThroughReview(page);
      expect(created?.status()).toBe(200);
      const match = /^\/console\/campaigns\/([0-9a-f-]{36})$/.exec(new URL(page.url()).pathname);
      expect(match).not.toBeNull();
      const id = match?.[1] as string;
      expect((await page.title()).startsWith(name)).toBe(true);

      const targets = await sql<{ driver_id: number; violations: number }>(
        "SELECT driver_id, jsonb_array_length(violations) AS violations FROM campaign_targets WHERE campaign_id = $1 ORDER BY position",
        [id],
      );
      expect(targets).toEqual([
        { driver_id: ana.id, violations: 2 },
        { driver_id: hostile.id, violations: 1 },
        { driver_id: cy.id, violations: 1 },
      ]);

      // The hostile name is text, in the table, and nothing ran.
      const cells = await page.$$eval("#targets-region tbody td:first-child", (tds) =>
        tds.map((td) => td.firstChild?.textContent),
      );
      expect(cells).toEqual(["Ruiz, Ana", HOSTILE_NAME, "Cy Park"]);
      expect(await page.$$eval("main img", (images) => images.length)).toBe(0);

      // Focus on a link in a refreshed region stays on that link across refreshes.
      await page.focus("#targets-region .filters a");
      // The page brings itself up to date, title included, until the campaign is over.
      await page.waitForFunction(
        () => (globalThis as unknown as BrowserGlobals).document.title.includes("COMPLETED"),
        { timeout: 30_000, polling: 200 },
      );
      expect(await page.title()).toMatch(
        new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
      );
      expect(
        await page.evaluate(() => {
          const { document } = globalThis as unknown as BrowserGlobals;
          return document.activeElement?.getAttribute("href");
        }),
      ).toBe(`/console/campaigns/${id}`);
      expect(await page.$eval("#refresh-announcer", (p: BrowserNode) => p.textContent)).toBe(
        "Campaign COMPLETED.",
      );
      // No Cancel campaign once it is over.
      expect(await page.$$('::-p-aria([name="Cancel campaign"][role="button"])')).toHaveLength(0);
      expect(
        await page.$eval("#campaign-summary", (section: BrowserNode) => section.textContent),
      ).toContain("Reached");

      // The results link serves the results CSV to this session.
      const href = await page.$eval('::-p-aria([name="Download results (CSV)"])', (link) =>
        link.getAttribute("href"),
      );
      expect(href).toBe(`/console/campaigns/${id}/results.csv`);
      const download = await page.evaluate(async (url) => {
        const response = await fetch(url);
        return {
          status: response.status,
          type: response.headers.get("content-type"),
          disposition: response.headers.get("content-disposition"),
          text: await response.text(),
        };
      }, href as string);
      expect(download.status).toBe(200);
      expect(download.type).toBe("text/csv; charset=utf-8");
      expect(download.disposition).toMatch(/^attachment; filename=".+-results\.csv"$/);
      const lines = download.text.trim().split("\r\n");
      expect(lines[0]).toMatch(
        /^driver_id,driver_name,phone_number,status,attempts,last_call_sid,/,
      );
      expect(lines).toHaveLength(4);
      expect(lines[1]).toContain(`${ana.id},"Ruiz, Ana",${ana.phone},COMPLETED,1,`);

      // The hostile driver's call: its transcript greets the driver by that name, as text.
      const callLinks = await page.$$eval(
        '#targets-region tbody a[href^="/console/calls/"]',
        (links) => links.map((link) => link.getAttribute("href")),
      );
      expect(callLinks).toHaveLength(3);
      await page.goto(`${BASE_URL}${callLinks[1]}`);
      expect(await page.title()).toContain("COMPLETED");
      const turns = await page.$$eval("ol.transcript li", (items) =>
        items.map((item) => ({
          speaker: item.querySelector(".speaker")?.firstChild?.textContent?.trim(),
          message: item.querySelector("p")?.textContent,
        })),
      );
      expect(turns.length).toBeGreaterThanOrEqual(2);
      expect(turns[0]?.speaker).toBe("Agent");
      expect(turns.some((turn) => turn.speaker === "Driver")).toBe(true);
      expect(turns[0]?.message).toContain(HOSTILE_NAME);
      expect(await page.$$eval("main img", (images) => images.length)).toBe(0);
      const analysis = await page.$eval(
        "#analysis-heading",
        (heading: BrowserNode) => heading.parentElement?.textContent,
      );
      expect(analysis).toContain("Call successful");
      expect(analysis).toContain("success");
      const collected = await page.$$eval("#data-collection-caption ~ tbody tr th", (ths) =>
        ths.map((th) => th.textContent),
      );
      expect(collected).toContain("acknowledged_violation");
      expect(dialogs).toEqual([]);
    } finally {
      await session.close();
    }
  });

  it("makes one campaign of a double click on Start campaign", async () => {
    const session = await openConsole();
    const { page } = session;
    try {
      const name = uniqueName("Double click");
      // Big enough (2,000 drivers) that the first request is still being answered when the
      // second click sends the form again.
      const rows = [CSV_HEADER];
      for (let index = 0; index < 2_000; index++) {
        rows.push(csvRow([driverId(), phoneNumber(), "Dee", "", "X", "Y", "2026-11-20T14:05:00Z"]));
      }
      await fillForm(page, { name, file: csvFile(rows.join("\n")), startAt: "2031-01-06 09:00" });
      await clickAndWait(page, START);
      expect(await page.title()).toMatch(/^Review/);
      // The same form sent twice at once, as a double click or a browser's resend sends it
      // (sent from here, so that both requests surely overlap, whatever the machine's speed).
      const form = await page.$eval(
        'form[action="/console/campaigns/start"]',
        (node: BrowserNode) => {
          const data = new (
            globalThis as unknown as {
              FormData: new (form: unknown) => Iterable<[string, unknown]>;
            }
          ).FormData(node);
          return [...data].filter(([, value]) => typeof value === "string") as [string, string][];
        },
      );
      const cookie = await cookieHeader(page);
      const send = () => {
        const body = new FormData();
        for (const [key, value] of form) body.append(key, value);
        body.append("action", "start");
        return fetch(`${BASE_URL}/console/campaigns/start`, {
          method: "POST",
          redirect: "manual",
          headers: { cookie, origin: BASE_URL },
          body,
        });
      };
      const [first, second] = await Promise.all([send(), send()]);
      expect(first.status).toBe(303);
      expect(second.status).toBe(303);
      expect(second.headers.get("location")).toBe(first.headers.get("location"));
      // And in the browser: two clicks on Start campaign.
      const button = await page.$('button[name="action"][value="start"]');
      await button?.scrollIntoView();
      const box = await button?.boundingBox();
      if (!box) throw new Error("no Start campaign button");
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
      await new Promise((resolve) => setTimeout(resolve, 60));
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
      await page.waitForFunction(
        () =>
          /^\/console\/campaigns\/[0-9a-f-]{36}$/.test(
            (globalThis as unknown as BrowserGlobals).location.pathname,
          ),
        { timeout: 30_000 },
      );
      const campaigns = await campaignsNamed(name);
      expect(campaigns).toHaveLength(1);
      expect(first.headers.get("location")).toBe(`/console/campaigns/${campaigns[0]?.id}`);
      expect(new URL(page.url()).pathname).toBe(`/console/campaigns/${campaigns[0]?.id}`);
    } finally {
      await session.close();
    }
  });

  it("makes one campaign of a review page sent twice at once and again later, and sends all three to it", async () => {
    const session = await openConsole();
    try {
      const name = uniqueName("Resent");
      await session.page.goto(`${BASE_URL}/console/campaigns/new`);
      const key = await session.page.$eval('input[name="idempotency_key"]', (input) =>
        input.getAttribute("value"),
      );
      const cookie = await cookieHeader(session.page);
      const csv = [
        CSV_HEADER,
        csvRow([driverId(), phoneNumber(), "Eve", "", "X", "Y", "2026-11-20T14:05:00Z"]),
      ].join("\n");
      const form = new FormData();
      form.set("idempotency_key", key ?? "");
      form.set("name", name);
      form.set("time_zone", "UTC");
      form.set("calls_from", "08:00");
      form.set("calls_until", "21:00");
      for (const day of ["mon", "tue", "wed", "thu", "fri"]) form.append("days", day);
      form.set("start_at", "2031-01-06 09:00");
      form.set("attempts", "3");
      form.set("backoff_minutes", "60");
      form.set("phone_country", "US");
      form.set("drivers", new Blob([csv], { type: "text/csv" }), "drivers.csv");
      const review = await fetch(`${BASE_URL}/console/campaigns`, {
        method: "POST",
        headers: { cookie, origin: BASE_URL },
        body: form,
      });
      expect(review.status).toBe(200);
      const html = await review.text();
      // The review page's hidden fields, as its Start campaign button sends them.
      const fields = [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)];
      expect(fields.map((field) => field[1])).toContain("kept_file");
      const send = () => {
        const body = new FormData();
        for (const [, field, value] of fields) {
          body.append(field as string, (value as string).replaceAll("&amp;", "&"));
        }
        body.set("action", "start");
        return fetch(`${BASE_URL}/console/campaigns/start`, {
          method: "POST",
          redirect: "manual",
          headers: { cookie, origin: BASE_URL },
          body,
        });
      };
      const [first, second] = await Promise.all([send(), send()]);
      const third = await send();
      const locations = [first, second, third].map((response) => response.headers.get("location"));
      expect([first.status, second.status, third.status]).toEqual([303, 303, 303]);
      const campaigns = await campaignsNamed(name);
      expect(campaigns).toHaveLength(1);
      expect(locations).toEqual(Array(3).fill(`/console/campaigns/${campaigns[0]?.id}`));
    } finally {
      await session.close();
    }
  });

  it("takes numbers written as people write them and a zone picked on the form: review, Start campaign, a running campaign", async () => {
    const session = await openConsole();
    const { page } = session;
    try {
      const name = uniqueName("As people write them");
      const numbers = [phoneNumber(), phoneNumber(), phoneNumber()];
      const listed = phoneNumber();
      await fetch(`${BASE_URL}/do-not-call/${encodeURIComponent(listed)}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      const file = csvFile(
        [
          CSV_HEADER,
          csvRow([
            driverId(),
            `"${writtenAsPeopleDo(numbers[0] as string)}"`,
            "Ana Ruiz",
            "",
            "HOS_11H",
            "Late",
            "2026-11-20T14:05:00Z",
          ]),
          csvRow([
            driverId(),
            (numbers[1] as string).slice(2).replace(/(\d{3})(\d{3})(\d{4})/, "$1-$2-$3"),
            "Bo Lee",
            "",
            "SPEED_15",
            "15 over",
            "2026-11-20T14:05:00Z",
          ]),
          csvRow([
            driverId(),
            `1 ${(numbers[2] as string).slice(2)}`,
            "Cy Park",
            "",
            "INSP_OOS",
            "Out of service",
            "2026-11-20T14:05:00Z",
          ]),
          csvRow([
            driverId(),
            `+1 ${listed.slice(2)}`,
            "Dee Okafor",
            "",
            "HOS_11H",
            "Late",
            "2026-11-20T14:05:00Z",
          ]),
        ].join("\n"),
      );
      await page.goto(`${BASE_URL}/console/campaigns/new`);
      await page.locator('::-p-aria([name="Name"][role="textbox"])').fill(name);
      // Time zone offers the IANA names to pick from.
      const offered = await page.$$eval("#zones option", (options) =>
        options.map((option) => option.getAttribute("value")),
      );
      expect(offered.length).toBeGreaterThan(300);
      expect(offered).toEqual(expect.arrayContaining(["America/Denver", "Europe/Berlin", "UTC"]));
      expect(offered).not.toContain("EST");
      expect(await page.$eval("#time_zone", (input) => input.getAttribute("list"))).toBe("zones");
      await page.locator('::-p-aria([name="Time zone"])').fill("America/Denver");
      expect(await page.$eval("#phone_country", (input: BrowserNode) => input.value)).toBe("US");
      await page.locator('::-p-aria([name="Start at"])').fill("2031-01-06 09:00");
      const input = await page.$('input[type="file"]');
      await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(file);

      const review = await clickAndWait(page, START);
      expect(review?.status()).toBe(200);
      expect(await page.title()).toMatch(/^Review/);
      const phones = await page.$$eval(
        "#review-drivers-caption ~ tbody tr td:nth-child(2)",
        (tds) => tds.map((td) => td.textContent),
      );
      expect(phones).toEqual([...numbers, listed]);
      expect(await page.$eval("#first-call", (p: BrowserNode) => p.textContent)).toBe(
        "09:00 Mon 6 Jan 2031, America/Denver",
      );
      expect(await page.$eval("main", (main: BrowserNode) => main.textContent)).toContain(
        "will be skipped, not called",
      );
      expect(await campaignsNamed(name)).toEqual([]);

      const started = await clickAndWait(page, START);
      expect(started?.status()).toBe(200);
      expect(await page.title()).toContain("RUNNING");
      const [campaign] = await campaignsNamed(name);
      expect(new URL(page.url()).pathname).toBe(`/console/campaigns/${campaign?.id}`);
      const targets = await sql<{ phone_number: string; status: string; time_zone: string }>(
        "SELECT phone_number, status, time_zone FROM campaign_targets WHERE campaign_id = $1 ORDER BY position",
        [campaign?.id],
      );
      expect(targets).toEqual([
        ...numbers.map((phone) => ({
          phone_number: phone,
          status: "QUEUED",
          time_zone: "America/Denver",
        })),
        { phone_number: listed, status: "SKIPPED", time_zone: "America/Denver" },
      ]);
      const nextAttempts = await page.$$eval("#targets-region tbody tr td:nth-child(4)", (tds) =>
        tds.map((td) => td.textContent),
      );
      expect(nextAttempts.slice(0, 3)).toEqual(
        Array(3).fill("09:00 Mon 6 Jan 2031, America/Denver"),
      );
    } finally {
      await session.close();
    }
  });

  it("cancels a running campaign after a confirmation step", async () => {
    const session = await openConsole();
    const { page } = session;
    try {
      const name = uniqueName("To cancel");
      const file = csvFile(
        [
          CSV_HEADER,
          csvRow([driverId(), phoneNumber(), "Fay", "", "X", "Y", "2026-11-20T14:05:00Z"]),
        ].join("\n"),
      );
      await fillForm(page, {
        name,
        file,
        timeZone: "America/Chicago",
        startAt: "2031-01-06 09:00",
      });
      await startThroughReview(page);
      expect(await page.title()).toContain("RUNNING");
      expect(await page.$eval("#targets-region tbody", (tbody) => tbody.textContent)).toContain(
        "the campaign's start",
      );
      await clickAndWait(page, '::-p-aria([name="Cancel campaign"][role="button"])');
      expect(new URL(page.url()).pathname).toMatch(/\/cancel$/);
      expect(await page.$eval("h1", (h1) => h1.textContent)).toContain(name);
      await clickAndWait(page, '::-p-aria([name="Cancel campaign"][role="button"])');
      expect(await page.title()).toContain("CANCELLED");
      const [row] = await sql<{ status: string }>("SELECT status FROM campaigns WHERE name = $1", [
        name,
      ]);
      expect(row?.status).toBe("CANCELLED");
    } finally {
      await session.close();
    }
  });
});
