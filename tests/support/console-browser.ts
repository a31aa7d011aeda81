// Helpers of the console's browser tests (tests/browser/): the Worker and the browser that
// tests/setup/browser-global-setup.ts started, a signed-in incognito page, axe-core, the
// phone-width check, screenshots, and SQL for what the pages do not show.
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import pg from "pg";
import puppeteer, { type Browser, type BrowserContext, type Page } from "puppeteer-core";
import { expect, inject } from "vitest";
import { addOperator } from "../../scripts/lib/operators.ts";
import { TEST_OPERATOR, TEST_SECRETS } from "../setup/test-secrets";

export const BASE_URL = inject("consoleBaseUrl");
export const MAX_LIVE_CALLS = inject("consoleMaxLiveCalls");
/** The machines' credential: the JSON API only (it does not open the console). */
export const API_TOKEN = TEST_SECRETS.API_TOKEN;
/** The operator the setup created; every console page is opened as them unless told otherwise. */
export const OPERATOR_TOKEN = TEST_OPERATOR.token;

/**
 * A client address of its own (sent as CF-Connecting-IP, which wrangler dev keeps when a
 * request has it): sign-ins are limited per address, 10 a minute, and test files signing
 * in at the same time from 127.0.0.1 would share one budget.
 */
export function testAddress(): string {
  const byte = () => 1 + Math.floor(Math.random() * 254);
  return `10.${byte()}.${byte()}.${byte()}`;
}

/** A new operator with their own token (as `npm run operator -- add` makes one). */
export async function addTestOperator(name: string) {
  const { operator, token } = await addOperator(inject("consoleDatabaseUrl"), { name });
  return { id: operator.id, name: operator.name, token };
}

/**
 * Browser globals inside page.evaluate, loosely typed: the project's TypeScript has no DOM
 * types (it type-checks a Worker), and these functions run in the page, not in Node.
 */
export type BrowserGlobals = { document: any; location: any };
/** An element inside page.$eval, loosely typed for the same reason. */
export type BrowserNode = any;

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844, isMobile: true, hasTouch: true };

let browser: Promise<Browser> | undefined;

export function connectBrowser(): Promise<Browser> {
  browser ??= puppeteer.connect({
    browserWSEndpoint: inject("browserWSEndpoint"),
    defaultViewport: DESKTOP,
  });
  return browser;
}

/** Disconnects this test file from the shared browser (the setup closes the browser). */
export async function disconnectBrowser() {
  if (browser) await (await browser).disconnect();
  browser = undefined;
}

export interface ConsoleSession {
  context: BrowserContext;
  page: Page;
  /** Every JavaScript dialog (alert, confirm) the pages opened: an injected script would. */
  dialogs: string[];
  close(): Promise<void>;
}

/** A fresh incognito context and page; signed in through the sign-in form unless told not to. */
export async function openConsole(
  options: { signIn?: boolean; token?: string } = {},
): Promise<ConsoleSession> {
  const context = await (await connectBrowser()).createBrowserContext();
  const page = await context.newPage();
  await page.setViewport(DESKTOP);
  await page.setExtraHTTPHeaders({ "cf-connecting-ip": testAddress() });
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  if (options.signIn !== false) {
    await page.goto(`${BASE_URL}/console/sign-in`);
    await page.locator("::-p-aria(Token)").fill(options.token ?? OPERATOR_TOKEN);
    await Promise.all([
      page.waitForNavigation(),
      page.locator('::-p-aria([name="Sign in"][role="button"])').click(),
    ]);
    if (new URL(page.url()).pathname !== "/console") {
      throw new Error(`sign-in did not land on /console but on ${page.url()}`);
    }
  }
  return { context, page, dialogs, close: () => context.close() };
}

/** Clicks and waits for the navigation it starts. */
export async function clickAndWait(page: Page, selector: string) {
  const [response] = await Promise.all([page.waitForNavigation(), page.locator(selector).click()]);
  return response;
}

/** The session cookie header of a page's context, for requests made from Node. */
export async function cookieHeader(page: Page): Promise<string> {
  const cookies = await page.browserContext().cookies();
  return cookies.map((cookie) => `${cookie.name}=${cookie.value}`).join("; ");
}

const axeSource = readFileSync(
  createRequire(import.meta.url).resolve("axe-core/axe.min.js"),
  "utf8",
);

export interface AxeFinding {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** axe-core's serious and critical findings on the page as it is now. */
export async function seriousAxeFindings(page: Page): Promise<AxeFinding[]> {
  // Evaluated through DevTools, which the page's CSP does not govern (a <script> tag would be
  // refused, as it should be).
  await page.evaluate(axeSource);
  const findings = await page.evaluate(async () => {
    const { document } = globalThis as unknown as BrowserGlobals;
    const axe = (globalThis as unknown as { axe: { run: (context: unknown) => Promise<unknown> } })
      .axe;
    const result = (await axe.run(document)) as {
      violations: {
        id: string;
        impact: string | null;
        help: string;
        nodes: { target: unknown[] }[];
      }[];
    };
    return result.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      targets: violation.nodes.map((node) => node.target.join(" ")),
    }));
  });
  return findings.filter(
    (finding) => finding.impact === "serious" || finding.impact === "critical",
  );
}

/** How far the page scrolls sideways (0 = it does not). */
export function sidewaysOverflow(page: Page): Promise<number> {
  return page.evaluate(() => {
    const { documentElement } = (globalThis as unknown as BrowserGlobals).document;
    return documentElement.scrollWidth - documentElement.clientWidth;
  });
}

/**
 * Screenshots go to .data/screenshots; with UPDATE_SCREENSHOTS=1 to docs/screenshots, the
 * committed ones the README shows (so an ordinary test run leaves the working tree as it
 * was).
 */
export async function screenshot(page: Page, name: string, fullPage = true) {
  const directory =
    process.env.UPDATE_SCREENSHOTS === "1" ? "docs/screenshots" : ".data/screenshots";
  mkdirSync(directory, { recursive: true });
  await page.screenshot({
    path: join(directory, `${name}.png`) as `${string}.png`,
    fullPage,
  });
}

let pool: pg.Pool | undefined;

export async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []) {
  pool ??= new pg.Pool({ connectionString: inject("consoleDatabaseUrl"), max: 2 });
  return (await pool.query<T>(text, params)).rows;
}

export async function closeSql() {
  await pool?.end();
  pool = undefined;
}

/**
 * A number the simulator answers by its last four digits, unique to this run: a North
 * American number (+1, ten digits) with a random area code and exchange, so that the
 * console's drivers file reads it as a possible number (the right length) and two tests
 * running at once do not share one.
 */
export function phoneNumber(lastFour = String(1000 + Math.floor(Math.random() * 8000))): string {
  const areaCode = 200 + Math.floor(Math.random() * 800);
  const exchange = String(Math.floor(Math.random() * 1000)).padStart(3, "0");
  return `+1${areaCode}${exchange}${lastFour}`;
}

/** The same number as people write it: "(555) 123-4567". */
export function writtenAsPeopleDo(e164: string): string {
  const digits = e164.slice(2);
  return `(${digits.slice(0, 3)}) ${digits.slice(3, 6)}-${digits.slice(6)}`;
}

export function uniqueName(prefix: string): string {
  return `${prefix} ${crypto.randomUUID().slice(0, 8)}`;
}

export const CSV_HEADER =
  "driver_id,phone_number,driver_name,time_zone,violation_code,violation_description,violation_occurred_at";

/** A unique driver id in 1..2,000,000,000 (ids are per campaign, but unique keeps logs clear). */
export function driverId(): number {
  return 1 + Math.floor(Math.random() * 2_000_000_000);
}

/** POST /campaigns through the JSON API (for pages that need a finished campaign). */
export async function createCampaignByApi(body: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${BASE_URL}/campaigns`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status !== 202)
    throw new Error(`POST /campaigns: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { campaign: { id: string } }).campaign.id;
}

/** Waits until the campaign is no longer RUNNING (through the JSON API). */
export async function waitForCampaignEnd(id: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const response = await fetch(`${BASE_URL}/campaigns/${id}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    const { campaign } = (await response.json()) as { campaign: { status: string } };
    if (campaign.status !== "RUNNING") return campaign.status;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`campaign ${id} still RUNNING after ${timeoutMs} ms`);
}

/**
 * The checks every page gets, at 1280 px and on a 390 px phone: no serious or critical
 * axe-core finding, no sideways scrolling, and (when named) a screenshot of each.
 */
export async function checkPage(page: Page, what: string, shot?: string, fullPage = true) {
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
