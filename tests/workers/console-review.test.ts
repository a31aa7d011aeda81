// The console's New campaign path through the Worker: a good form leads to the review page
// (nothing stored), `Start campaign` there creates the campaign once under the form's
// idempotency key, `Back` returns to the form with its values and the file kept, and
// whatever comes back from the review page is read again as an upload is.
import { describe, expect, it } from "vitest";
import { packFile } from "../../src/console/carried-file";
import {
  type ConsoleClient,
  hiddenFieldsOf,
  inputValue,
  listItems,
  signInToConsole,
  textOf,
  titleOf,
} from "../support/console";
import { type Lab, labRequest, newLab, operatorRequest } from "../support/dispatch";

const HEADER =
  "driver_id,phone_number,driver_name,time_zone,violation_code,violation_description,violation_occurred_at";

/** Ana in Denver, Bo without a zone (the form's), Cy in New York on the do-not-call list. */
const DRIVERS_CSV = [
  HEADER,
  '1042,(555) 123-0042,"Ruiz, Ana",America/Denver,HOS_11H,Exceeded the 11-hour limit,2026-11-20T14:05:00-06:00',
  '1042,555-123-0042,"Ruiz, Ana",America/Denver,SPEED_15,15 mph over,2026-11-21T09:00:00-06:00',
  "1043,1 555 123 0043,Bo Lee,,INSP_OOS,Out of service,2026-11-22T11:30:00Z",
  "1044,+1 555 123 0044,Cy Park,America/New_York,HOS_11H,Late,2026-11-22T11:30:00Z",
].join("\r\n");

function campaignForm(
  fields: Record<string, string | string[]> = {},
  file: { content: string; name?: string } | null = { content: DRIVERS_CSV },
): FormData {
  const values: Record<string, string | string[]> = {
    idempotency_key: crypto.randomUUID(),
    name: "Week 48",
    time_zone: "America/Chicago",
    calls_from: "08:00",
    calls_until: "21:00",
    days: ["mon", "tue", "wed", "thu", "fri"],
    start_at: "2031-01-06 07:00",
    attempts: "3",
    backoff_minutes: "60",
    phone_country: "US",
    ...fields,
  };
  const form = new FormData();
  for (const [name, value] of Object.entries(values)) {
    for (const one of [value].flat()) form.append(name, one);
  }
  if (file) {
    form.set("drivers", new Blob([file.content], { type: "text/csv" }), file.name ?? "drivers.csv");
  }
  return form;
}

/** The review page's form as its buttons send it. */
function reviewForm(html: string, action: "start" | "back", change: Record<string, string> = {}) {
  const form = new FormData();
  for (const [name, value] of hiddenFieldsOf(html)) {
    form.append(name, name in change ? (change[name] as string) : value);
  }
  form.set("action", action);
  return form;
}

async function campaignCount(lab: Lab): Promise<number> {
  const rows = (await lab.sql.query("SELECT count(*)::int AS n FROM campaigns")) as { n: number }[];
  return rows[0]?.n ?? -1;
}

async function reviewPage(lab: Lab, client: ConsoleClient, form = campaignForm()) {
  const response = await client.post("/console/campaigns", form);
  const html = await response.text();
  expect(response.status, textOf(html)).toBe(200);
  return html;
}

async function setUp() {
  const lab = await newLab();
  const listed = await labRequest(
    lab,
    operatorRequest("PUT", `/do-not-call/${encodeURIComponent("+15551230044")}`),
  );
  expect(listed.status).toBe(200);
  return { lab, client: await signInToConsole(lab) };
}

describe("the review page", () => {
  it("shows the drivers, their violations, the do-not-call count, the zones and the first call, and stores nothing", async () => {
    const { lab, client } = await setUp();
    const html = await reviewPage(lab, client);
    expect(titleOf(html)).toMatch(/^Review/);
    const text = textOf(html);
    // The drivers, with their numbers read into E.164 and their violations.
    expect(text).toContain("Ruiz, Ana driver 1042 +15551230042");
    expect(text).toContain("HOS_11H : Exceeded the 11-hour limit");
    expect(text).toContain("SPEED_15 : 15 mph over");
    expect(text).toContain("Bo Lee driver 1043 +15551230043 America/Chicago campaign's");
    expect(text).toMatch(
      /Cy Park driver 1044 \+15551230044 America\/New_York .* SKIPPED on the do-not-call list/,
    );
    // The figures.
    expect(text).toContain("Drivers 3 4 violations");
    expect(text).toContain("On the do-not-call list 1 will be skipped, not called");
    // Start at 07:00 in Chicago: Chicago's window opens at 08:00 there, Denver's an hour
    // later (08:00 in Denver), New York's driver is on the list.
    expect(text).toContain("First call 08:00 Mon 6 Jan 2031, America/Chicago");
    expect(text).toContain(
      "America/Chicago the campaign's Time zone 1 08:00 Mon 6 Jan 2031, America/Chicago",
    );
    expect(text).toContain("America/Denver 1 08:00 Mon 6 Jan 2031, America/Denver");
    expect(text).toContain("America/New_York 1 nobody: all on the do-not-call list");
    expect(html).toMatch(
      /<button type="submit" name="action" value="start" class="primary">Start campaign<\/button>/,
    );
    expect(html).toMatch(/<button type="submit" name="action" value="back">Back<\/button>/);
    expect(await campaignCount(lab)).toBe(0);
  });

  it("Start campaign creates the campaign once under the form's key: two at once and one later all land on it", async () => {
    const { lab, client } = await setUp();
    const html = await reviewPage(lab, client);
    const [first, second] = await Promise.all([
      client.post("/console/campaigns/start", reviewForm(html, "start")),
      client.post("/console/campaigns/start", reviewForm(html, "start")),
    ]);
    const third = await client.post("/console/campaigns/start", reviewForm(html, "start"));
    expect([first.status, second.status, third.status]).toEqual([303, 303, 303]);
    const location = first.headers.get("location");
    expect(location).toMatch(/^\/console\/campaigns\/[0-9a-f-]{36}$/);
    expect([second.headers.get("location"), third.headers.get("location")]).toEqual([
      location,
      location,
    ]);
    expect(await campaignCount(lab)).toBe(1);
    // Created once, under the operator who pressed Start campaign.
    const audited = (await lab.sql.query(
      "SELECT actor_name FROM audit_events WHERE action = 'campaign.created'",
    )) as { actor_name: string }[];
    expect(audited).toEqual([{ actor_name: client.operator.name }]);

    const id = location?.split("/").at(-1) as string;
    const targets = (await lab.sql.query(
      "SELECT driver_id, phone_number, status, time_zone FROM campaign_targets WHERE campaign_id = $1 ORDER BY position",
      [id],
    )) as { driver_id: number; phone_number: string; status: string; time_zone: string }[];
    expect(targets).toEqual([
      {
        driver_id: 1042,
        phone_number: "+15551230042",
        status: "QUEUED",
        time_zone: "America/Denver",
      },
      {
        driver_id: 1043,
        phone_number: "+15551230043",
        status: "QUEUED",
        time_zone: "America/Chicago",
      },
      {
        driver_id: 1044,
        phone_number: "+15551230044",
        status: "SKIPPED",
        time_zone: "America/New_York",
      },
    ]);

    // The campaign's page: Start at and each next attempt with its date, in their zone.
    const page = await client.get(location as string);
    const text = textOf(await page.text());
    expect(text).toContain("Start at 07:00 Mon 6 Jan 2031, America/Chicago");
    expect(text).toMatch(/Ruiz, Ana .* \d\d:\d\d Mon 6 Jan 2031, America\/Denver/);
    expect(text).toMatch(/Bo Lee .* \d\d:\d\d Mon 6 Jan 2031, America\/Chicago/);
  });

  it("Back returns to the form with its values and the file kept; sent again without choosing it, it reaches the review", async () => {
    const { lab, client } = await setUp();
    const review = await reviewPage(lab, client, campaignForm({ name: "Week 49", attempts: "2" }));
    const back = await client.post("/console/campaigns/start", reviewForm(review, "back"));
    const form = await back.text();
    expect(back.status).toBe(200);
    expect(titleOf(form)).toMatch(/^New campaign/);
    expect(inputValue(form, "name")).toBe("Week 49");
    expect(inputValue(form, "attempts")).toBe("2");
    expect(inputValue(form, "time_zone")).toBe("America/Chicago");
    expect(inputValue(form, "start_at")).toBe("2031-01-06 07:00");
    expect(textOf(form)).toContain(
      "Using drivers.csv, sent before: choose a file only to replace it.",
    );
    expect(await campaignCount(lab)).toBe(0);

    // The form again, as the browser sends it: no file chosen, the kept one carried.
    const again = new FormData();
    for (const [name, value] of hiddenFieldsOf(form)) again.append(name, value);
    for (const [name, value] of Object.entries({
      name: "Week 49, again",
      time_zone: "America/Chicago",
      calls_from: "08:00",
      calls_until: "21:00",
      start_at: "2031-01-06 07:00",
      attempts: "2",
      backoff_minutes: "60",
      phone_country: "US",
    })) {
      again.set(name, value);
    }
    again.append("days", "mon");
    again.set("drivers", new Blob([]), "");
    const reviewed = await reviewPage(lab, client, again);
    expect(titleOf(reviewed)).toMatch(/^Review: Week 49, again/);
    expect(textOf(reviewed)).toContain("Drivers 3 4 violations");
  });

  it("reads what comes back from the review page again as an upload: an edited file is refused with its problems, and nothing is created", async () => {
    const { lab, client } = await setUp();
    const review = await reviewPage(lab, client);
    const edited = await packFile(
      new TextEncoder().encode(`${HEADER}\n1,5551234,Eve,,X,Y,2026-11-20T14:05:00Z\n`),
    );
    const refused = await client.post(
      "/console/campaigns/start",
      reviewForm(review, "start", { kept_file: edited }),
    );
    const html = await refused.text();
    expect(refused.status).toBe(422);
    expect(listItems(html, "csv-problems")).toEqual([
      'Line 2: phone_number: has the wrong number of digits for a US number: found "5551234"',
    ]);

    // Not a packed file, and a packed file that would unpack to more than 5 MiB.
    const bomb = await packFile(new Uint8Array(6 * 1024 * 1024).fill(10));
    expect(bomb.length).toBeLessThan(64 * 1024);
    for (const keptFile of ["not base64 at all!", "aGVsbG8=", bomb]) {
      const response = await client.post(
        "/console/campaigns/start",
        reviewForm(review, "start", { kept_file: keptFile }),
      );
      const page = await response.text();
      expect(response.status).toBe(422);
      expect(textOf(page)).toContain(
        "Drivers (CSV): the file sent before could not be read back: choose it again",
      );
    }
    // An edited field is checked by the API's schema as the form's is.
    const badZone = await client.post(
      "/console/campaigns/start",
      reviewForm(review, "start", { time_zone: "EST" }),
    );
    expect(badZone.status).toBe(422);
    expect(textOf(await badZone.text())).toContain("Time zone: EST is a fixed offset");
    expect(await campaignCount(lab)).toBe(0);
  });

  it("the same key with other contents starts nothing and says so", async () => {
    const { lab, client } = await setUp();
    const review = await reviewPage(lab, client);
    expect(
      (await client.post("/console/campaigns/start", reviewForm(review, "start"))).status,
    ).toBe(303);
    const reused = await client.post(
      "/console/campaigns/start",
      reviewForm(review, "start", { name: "Another name" }),
    );
    expect(reused.status).toBe(422);
    expect(textOf(await reused.text())).toContain("This form was already used to start a campaign");
    expect(await campaignCount(lab)).toBe(1);
  });
});

describe("the New campaign form", () => {
  it("offers the IANA zone names to pick from (Intl in workerd), without the fixed-offset ones, and US for numbers without +", async () => {
    const lab = await newLab();
    const client = await signInToConsole(lab);
    const html = await (await client.get("/console/campaigns/new")).text();
    const zones = /<datalist id="zones">([\s\S]*?)<\/datalist>/.exec(html)?.[1] ?? "";
    const names = [...zones.matchAll(/<option value="([^"]+)">/g)].map((match) => match[1]);
    expect(names.length).toBeGreaterThan(300);
    expect(names).toEqual(expect.arrayContaining(["America/Chicago", "America/Denver", "UTC"]));
    expect(names.filter((name) => /^(EST|MST|HST|GMT|Etc\/)/.test(name ?? ""))).toEqual([]);
    expect(html).toMatch(/<input id="time_zone" name="time_zone"[^>]* list="zones"/);
    expect(inputValue(html, "phone_country")).toBe("US");
    expect(html).toContain('<option value="CA">Canada</option>');
  });
});

describe("the form's problems, as a person would write them", () => {
  it("a time zone missing for every driver is one problem on the Time zone field, and the file is kept", async () => {
    const { lab, client } = await setUp();
    const rows = [HEADER];
    for (let id = 1; id <= 40; id++) {
      rows.push(
        `${id},(555) 100-${String(id).padStart(4, "0")},Driver ${id},,X,Y,2026-11-20T14:05:00Z`,
      );
    }
    const response = await client.post(
      "/console/campaigns",
      campaignForm({ time_zone: "", start_at: "" }, { content: rows.join("\n") }),
    );
    const html = await response.text();
    expect(response.status).toBe(422);
    expect(listItems(html, "csv-problems")).toEqual([]);
    expect(textOf(html)).toContain(
      "Time zone : no driver in the file has a time_zone: choose the time zone the drivers are in",
    );
    expect(hiddenFieldsOf(html).some(([name, value]) => name === "kept_file" && value !== "")).toBe(
      true,
    );
    expect(await campaignCount(lab)).toBe(0);
  });

  it("groups the same problem over many lines, shows the value found, and never zod's wording", async () => {
    const { lab, client } = await setUp();
    const rows = [HEADER];
    for (let id = 1; id <= 39; id++)
      rows.push(`${id},555-01${id},D${id},UTC,X,Y,2026-11-20T14:05:00Z`);
    for (let id = 40; id <= 95; id++)
      rows.push(`${id},+1555100${String(id).padStart(4, "0")},D${id},UTC,X,Y,2026-11-20T14:05:00Z`);
    rows.push(`96,(555) 12,D96,UTC,X,${"d".repeat(600)},2026-11-20T14:05:00Z`);
    const response = await client.post(
      "/console/campaigns",
      campaignForm({ name: "n".repeat(250), attempts: "9" }, { content: rows.join("\n") }),
    );
    const html = await response.text();
    expect(response.status).toBe(422);
    expect(listItems(html, "csv-problems")).toEqual([
      'Lines 2-40, 97: phone_number: has the wrong number of digits for a US number: found "555-011" on line 2, and other values',
      `Line 97: violation_description: is longer than 500 characters: found "${"d".repeat(39)}…"`,
    ]);
    const text = textOf(html);
    expect(text).toContain("Name : is longer than 200 characters");
    expect(text).toContain("Attempts : must be 5 or less");
    expect(text).not.toMatch(/Too (big|small)|expected (array|string|number)|Invalid input|<=/);
    // The other fields as they were sent.
    expect(inputValue(html, "attempts")).toBe("9");
    expect(await campaignCount(lab)).toBe(0);
  });
});
