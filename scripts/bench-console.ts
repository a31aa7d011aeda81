// `npm run bench:console`: the operator console with a 10,000-driver campaign, through the
// real Worker (bundled as a deploy bundles it, served by wrangler dev) and its own Postgres:
//   1. the New campaign form sent with a 10,000-driver CSV (multipart, parsed, validated
//      by the API's schema, the do-not-call list looked up): time to the review page; then
//      its Start campaign (the file carried back, read and validated again, stored): time
//      to the 303;
//   2. that campaign's page (100 targets a page): time to first byte and HTML size, on the
//      first page and 50 pages in, against a 100-driver campaign's page (a page must not
//      grow with the campaign).
// The campaigns start in 2031, so nobody is dialed. It prints a table; nothing is kept.
import { BENCH_OPERATOR_TOKEN, startBenchStack } from "./bench/stack.ts";
import type { WranglerDev } from "./bench/wrangler.ts";

const BIG = 10_000;
const SMALL = 100;
const PAGE_RUNS = 21;
const SUBMIT_RUNS = 3;
const HEADER =
  "driver_id,phone_number,driver_name,time_zone,violation_code,violation_description,violation_occurred_at";

const log = (line: string) => console.log(`[bench:console] ${line}`);

function csv(drivers: number): string {
  const rows = [HEADER];
  for (let id = 1; id <= drivers; id++) {
    const phone = `+1555${String(id).padStart(6, "0")}1`;
    const zone = ["America/Chicago", "America/Denver", "America/New_York"][id % 3];
    rows.push(
      `${id},${phone},Driver ${id},${zone},HOS_11H,"Exceeded the 11-hour driving limit, by 2 h",2026-11-20T14:05:00-06:00`,
    );
    // Every tenth driver has a second violation: rows of one driver are grouped.
    if (id % 10 === 0) {
      rows.push(
        `${id},${phone},Driver ${id},${zone},SPEED_15,15 mph over,2026-11-21T09:00:00-06:00`,
      );
    }
  }
  return `${rows.join("\r\n")}\r\n`;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function main() {
  // No simulator: the campaigns start in 2031, nobody is dialed.
  const stack = await startBenchStack({ name: "console" });
  try {
    await measure(stack.worker);
  } finally {
    await stack.stop();
  }
}

async function measure(worker: WranglerDev) {
  log(`Worker on ${worker.url}`);
  const origin = worker.url;

  const signIn = await fetch(`${origin}/console/sign-in`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin },
    body: new URLSearchParams({ token: BENCH_OPERATOR_TOKEN }),
  });
  const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  if (signIn.status !== 303 || !cookie) throw new Error(`sign-in: ${signIn.status}`);

  /** The form (to the review page), then the review page's Start campaign (to the 303). */
  async function submit(
    name: string,
    file: string,
  ): Promise<{ reviewMs: number; startMs: number; location: string }> {
    const form = await (
      await fetch(`${origin}/console/campaigns/new`, { headers: { cookie } })
    ).text();
    const key = /name="idempotency_key" value="([^"]+)"/.exec(form)?.[1] ?? "";
    const body = new FormData();
    body.set("idempotency_key", key);
    body.set("name", name);
    body.set("time_zone", "America/Chicago");
    body.set("calls_from", "08:00");
    body.set("calls_until", "21:00");
    for (const day of ["mon", "tue", "wed", "thu", "fri"]) body.append("days", day);
    body.set("start_at", "2031-01-06 09:00");
    body.set("attempts", "3");
    body.set("backoff_minutes", "60");
    body.set("phone_country", "US");
    body.set("drivers", new Blob([file], { type: "text/csv" }), "drivers.csv");
    let started = performance.now();
    const review = await fetch(`${origin}/console/campaigns`, {
      method: "POST",
      headers: { cookie, origin },
      body,
    });
    const html = await review.text();
    const reviewMs = performance.now() - started;
    if (review.status !== 200) throw new Error(`review: ${review.status}`);

    const start = new FormData();
    for (const [, field, value] of html.matchAll(
      /<input type="hidden" name="([^"]+)" value="([^"]*)">/g,
    )) {
      start.append(field as string, (value as string).replaceAll("&amp;", "&"));
    }
    start.set("action", "start");
    started = performance.now();
    const response = await fetch(`${origin}/console/campaigns/start`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, origin },
      body: start,
    });
    await response.arrayBuffer();
    const startMs = performance.now() - started;
    const location = response.headers.get("location");
    if (response.status !== 303 || !location) throw new Error(`start: ${response.status}`);
    return { reviewMs, startMs, location };
  }

  async function page(
    path: string,
  ): Promise<{ ttfb: number; total: number; bytes: number; html: string }> {
    const started = performance.now();
    const response = await fetch(`${origin}${path}`, { headers: { cookie } });
    const ttfb = performance.now() - started;
    const html = await response.text();
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status}`);
    return { ttfb, total: performance.now() - started, bytes: Buffer.byteLength(html), html };
  }

  const bigFile = csv(BIG);
  log(`CSV of ${BIG} drivers: ${(Buffer.byteLength(bigFile) / 1024).toFixed(0)} KiB`);
  const reviews: number[] = [];
  const starts: number[] = [];
  let bigLocation = "";
  for (let run = 0; run < SUBMIT_RUNS; run++) {
    const { reviewMs, startMs, location } = await submit(`Bench ${BIG} #${run + 1}`, bigFile);
    reviews.push(reviewMs);
    starts.push(startMs);
    bigLocation = location;
  }
  const { location: smallLocation } = await submit(`Bench ${SMALL}`, csv(SMALL));

  // Page 51 of the big campaign: follow the "Next 100 drivers" links.
  let deepPath = bigLocation;
  for (let hop = 0; hop < 50; hop++) {
    const { html } = await page(deepPath);
    const next = /href="([^"]+page=\d+[^"]*)">Next 100 drivers/.exec(html)?.[1];
    if (!next) throw new Error(`no next page after ${hop} hops`);
    deepPath = next.replaceAll("&amp;", "&");
  }

  const measure = async (path: string) => {
    const runs = [];
    for (let run = 0; run < PAGE_RUNS; run++) runs.push(await page(path));
    return {
      ttfb: median(runs.map((run) => run.ttfb)),
      total: median(runs.map((run) => run.total)),
      bytes: runs[0]?.bytes ?? 0,
    };
  };
  const big = await measure(bigLocation);
  const deep = await measure(deepPath);
  const small = await measure(smallLocation);

  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const rows = [
    [
      `New campaign form, ${BIG.toLocaleString("en-US")}-driver CSV (${kib(Buffer.byteLength(bigFile))}): submit to the review page, p50 of ${SUBMIT_RUNS}`,
      `${median(reviews).toFixed(0)} ms`,
    ],
    [
      `Review page's Start campaign (the file carried back, read again, stored): to the 303, p50 of ${SUBMIT_RUNS}`,
      `${median(starts).toFixed(0)} ms`,
    ],
    [
      `Campaign page, ${BIG.toLocaleString("en-US")} drivers, first 100: TTFB / total p50 of ${PAGE_RUNS}`,
      `${big.ttfb.toFixed(1)} / ${big.total.toFixed(1)} ms`,
    ],
    [
      `Campaign page, ${BIG.toLocaleString("en-US")} drivers, page 51 (cursor): TTFB p50`,
      `${deep.ttfb.toFixed(1)} ms`,
    ],
    [`Campaign page, ${SMALL} drivers: TTFB p50`, `${small.ttfb.toFixed(1)} ms`],
    [
      `HTML size: ${BIG.toLocaleString("en-US")} drivers first page / page 51 / ${SMALL} drivers`,
      `${kib(big.bytes)} / ${kib(deep.bytes)} / ${kib(small.bytes)}`,
    ],
  ];
  console.log("\n| measure | value |\n| --- | --- |");
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
}

main().catch((error: unknown) => {
  console.error(`[bench:console] failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
