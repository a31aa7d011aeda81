// The console's drivers file (src/console/drivers-csv.ts) and the form that sends it
// (src/console/campaign-form.ts): every problem named by its line and column, validated by
// the same schema as POST /campaigns. Pure functions, run in workerd like the Worker.
import { describe, expect, it } from "vitest";
import {
  type CampaignFormValues,
  campaignRequestFrom,
  defaultFormValues,
  localTimeToInstant,
} from "../../src/console/campaign-form";
import {
  DRIVERS_CSV_TEMPLATE,
  firstProblems,
  formatProblem,
  parseDriversCsv,
} from "../../src/console/drivers-csv";

const HEADER =
  "driver_id,phone_number,driver_name,time_zone,violation_code,violation_description,violation_occurred_at";

function row(
  id: number | string,
  extra: Partial<Record<"phone" | "name" | "zone" | "code" | "description" | "at", string>> = {},
) {
  return [
    id,
    extra.phone ?? `+1555${String(id).padStart(7, "0").slice(-7)}`,
    extra.name ?? `Driver ${id}`,
    extra.zone ?? "America/Chicago",
    extra.code ?? "HOS_11H",
    extra.description ?? "Exceeded the 11-hour driving limit",
    extra.at ?? "2026-11-20T14:05:00-06:00",
  ].join(",");
}

function form(overrides: Partial<CampaignFormValues> = {}): CampaignFormValues {
  return { ...defaultFormValues(), name: "Week 48", ...overrides };
}

/** The lines the form would list, for a file and default form fields. */
function problemsOf(csv: string, values = form()): string[] {
  const result = campaignRequestFrom(values, parseDriversCsv(new TextEncoder().encode(csv)));
  if (result.ok) return [];
  return firstProblems(result.csvProblems, 1_000).shown;
}

describe("drivers CSV: what a good file gives", () => {
  it("reads a byte-order mark, CRLF line ends, a quoted comma and two rows of one driver into one driver with two violations", () => {
    const csv =
      "\uFEFF" +
      [
        HEADER,
        '1042,+15551230042,"Ruiz, Ana",America/Denver,HOS_11H,"Exceeded the limit, twice",2026-11-20T14:05:00-06:00',
        '1042,+15551230042,"Ruiz, Ana",America/Denver,SPEED_15,"15 mph over",2026-11-21T09:00:00-06:00',
        "1043,+15551230486,Bo Lee,,INSP_OOS,Out of service,2026-11-22T11:30:00Z",
        "",
      ].join("\r\n");
    const parsed = parseDriversCsv(new TextEncoder().encode(csv));
    expect(parsed.problems).toEqual([]);
    const result = campaignRequestFrom(form({ time_zone: "America/Chicago" }), parsed);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.request.drivers).toHaveLength(2);
    expect(result.request.drivers[0]).toMatchObject({
      driver_id: 1042,
      driver_name: "Ruiz, Ana",
      time_zone: "America/Denver",
      violations: [
        { code: "HOS_11H", description: "Exceeded the limit, twice" },
        { code: "SPEED_15", description: "15 mph over" },
      ],
    });
    expect(result.request.drivers[1]?.time_zone).toBeUndefined();
    expect(result.request.time_zone).toBe("America/Chicago");
    expect(result.request.calling_window).toEqual({
      start: "08:00",
      end: "21:00",
      days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    });
    expect(result.request.retry).toMatchObject({ max_attempts: 3, backoff_minutes: 60 });
  });

  it("keeps a line break inside a quoted cell, and counts lines as a spreadsheet does (one per record)", () => {
    const csv = [
      HEADER,
      row(1, { description: '"First line\nsecond line"' }),
      row(2, { phone: "12345" }),
    ].join("\n");
    const parsed = parseDriversCsv(csv);
    expect(parsed.drivers[0]?.violations[0]?.description).toBe("First line\nsecond line");
    // Record 2 is line 3 although the file's third physical line is inside record 1.
    expect(problemsOf(csv)).toEqual([
      "Line 3: phone_number: must be an E.164 phone number such as +15551230042",
    ]);
  });

  it("finds columns by their header name, in any order, and ignores other columns", () => {
    const csv = [
      "notes,violation_occurred_at,violation_description,violation_code,driver_name,phone_number,driver_id",
      "hello,2026-11-20T14:05:00Z,Late,HOS_11H,Ana,+15551230042,7",
    ].join("\n");
    const result = campaignRequestFrom(form({ time_zone: "UTC" }), parseDriversCsv(csv));
    expect(result.ok && result.request.drivers[0]).toMatchObject({
      driver_id: 7,
      phone_number: "+15551230042",
      driver_name: "Ana",
    });
  });

  it("skips blank lines but keeps counting them", () => {
    const csv = [HEADER, row(1), "", ",,,,,,", row(2, { at: "yesterday" })].join("\n");
    expect(problemsOf(csv)).toEqual([
      "Line 5: violation_occurred_at: must be an ISO 8601 date-time with a time zone, e.g. 2026-11-23T14:05:09.120Z",
    ]);
  });

  it("accepts the CSV template as it is served", () => {
    const result = campaignRequestFrom(form(), parseDriversCsv(DRIVERS_CSV_TEMPLATE));
    expect(result.ok).toBe(false); // Bo Lee has no zone of his own and the form has none
    const withZone = campaignRequestFrom(
      form({ time_zone: "America/Chicago" }),
      parseDriversCsv(DRIVERS_CSV_TEMPLATE),
    );
    expect(withZone.ok).toBe(true);
  });
});

describe("drivers CSV: problems, each with its line and column", () => {
  it("names a missing header column on line 1", () => {
    const csv = [
      "driver_id,phone_number,driver_name,violation_code,violation_occurred_at",
      "1,+15551230001,Ana,HOS,2026-11-20T14:05:00Z",
    ].join("\n");
    expect(problemsOf(csv)).toEqual([
      "Line 1: violation_description: column is missing from the header",
    ]);
  });

  it("says so when the columns are separated by semicolons", () => {
    const csv = `${HEADER.replaceAll(",", ";")}\n${row(1).replaceAll(",", ";")}`;
    expect(problemsOf(csv)[0]).toBe(
      "Line 1: driver_id: column is missing: separate the columns with commas, not semicolons",
    );
  });

  it("lists two rows of one driver that disagree on number, name and zone", () => {
    const csv = [
      HEADER,
      row(1042, { phone: "+15551230042", name: "Ana Ruiz", zone: "America/Denver" }),
      row(1042, { phone: "+15551230043", name: "Ana R.", zone: "" }),
    ].join("\n");
    expect(problemsOf(csv)).toEqual([
      'Line 3: phone_number: driver 1042 has "+15551230042" on line 2: every row of a driver must agree',
      'Line 3: driver_name: driver 1042 has "Ana Ruiz" on line 2: every row of a driver must agree',
      'Line 3: time_zone: driver 1042 has "America/Denver" on line 2: every row of a driver must agree',
    ]);
  });

  it("lists a bad phone number, a bad zone and a bad date from the API's own schema", () => {
    const csv = [
      HEADER,
      row(1),
      row(2, { phone: "5551230042" }),
      row(3, { zone: "Mars/Olympus" }),
      row(4, { at: "11/20/2026 14:05" }),
      row(5, { at: "2026-11-20T14:05:00" }),
    ].join("\n");
    expect(problemsOf(csv)).toEqual([
      "Line 3: phone_number: must be an E.164 phone number such as +15551230042",
      "Line 4: time_zone: must be an IANA time zone such as America/Chicago",
      "Line 5: violation_occurred_at: must be an ISO 8601 date-time with a time zone, e.g. 2026-11-23T14:05:09.120Z",
      "Line 6: violation_occurred_at: must include a time zone: end it with Z or an offset such as -06:00",
    ]);
  });

  it("lists a bad value in a driver's second violation row on that row's line", () => {
    const csv = [HEADER, row(9), row(9, { at: "soon" })].join("\n");
    expect(problemsOf(csv)).toEqual([
      "Line 3: violation_occurred_at: must be an ISO 8601 date-time with a time zone, e.g. 2026-11-23T14:05:09.120Z",
    ]);
  });

  it("names empty cells and a driver_id that is not a number once each", () => {
    const csv = [
      HEADER,
      row("abc", { phone: "+15551230001" }),
      row(2, { code: "" }),
      row(3, { name: "" }),
    ].join("\n");
    expect(problemsOf(csv)).toEqual([
      "Line 2: driver_id: must be a whole number such as 1042",
      "Line 3: violation_code: is empty",
      "Line 4: driver_name: is empty",
    ]);
  });

  it("asks for a zone when neither the row nor the form has one", () => {
    const csv = [HEADER, row(1, { zone: "" })].join("\n");
    expect(problemsOf(csv)).toEqual([
      "Line 2: time_zone: is empty and the form's Time zone is empty: fill in one of them",
    ]);
  });

  it("names bytes that are not UTF-8", () => {
    const bytes = new TextEncoder().encode([HEADER, row(1, { name: "Jos~" })].join("\n"));
    const latin1 = new Uint8Array(bytes.length);
    latin1.set(bytes);
    latin1[latin1.indexOf("~".charCodeAt(0))] = 0xe9; // é in Latin-1: not UTF-8
    const result = campaignRequestFrom(form(), parseDriversCsv(latin1));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.csvProblems.map(formatProblem)).toEqual([
      "Line 2: driver_name: is not UTF-8 text: save the file as CSV UTF-8",
    ]);
  });

  it("names an unclosed quote", () => {
    const csv = [HEADER, row(1), '2,+15551230002,"Bo Lee,UTC,X,Y,2026-11-20T14:05:00Z'].join("\n");
    expect(problemsOf(csv)).toContain(
      "Line 3: quotes: a quoted cell is never closed (a quote is missing)",
    );
  });

  it("refuses a file of 10,001 drivers at the line of driver 10,001", () => {
    const rows = [HEADER];
    for (let id = 1; id <= 10_001; id++) rows.push(row(id));
    const problems = problemsOf(rows.join("\n"));
    expect(problems).toEqual([
      "Line 10002: driver_id: is driver number 10,001: a campaign takes at most 10,000 drivers",
    ]);
  });

  it("takes 10,000 drivers", () => {
    const rows = [HEADER];
    for (let id = 1; id <= 10_000; id++) rows.push(row(id));
    const result = campaignRequestFrom(form(), parseDriversCsv(rows.join("\n")));
    expect(result.ok && result.request.drivers.length).toBe(10_000);
  });

  it("lists the first 100 problems in line order and counts the rest", () => {
    const rows = [HEADER];
    for (let id = 1; id <= 150; id++) rows.push(row(id, { phone: "nope" }));
    const result = campaignRequestFrom(form(), parseDriversCsv(rows.join("\n")));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const { shown, more } = firstProblems(result.csvProblems);
    expect(shown).toHaveLength(100);
    expect(shown[0]).toBe(
      "Line 2: phone_number: must be an E.164 phone number such as +15551230042",
    );
    expect(shown[99]).toMatch(/^Line 101: phone_number: /);
    expect(more).toBe(50);
  });

  it("says a file with only its header has no drivers", () => {
    const result = campaignRequestFrom(form(), parseDriversCsv(`${HEADER}\r\n`));
    expect(result).toMatchObject({
      ok: false,
      fieldErrors: { drivers: "the file has no driver rows under its header" },
    });
  });
});

describe("campaign form fields", () => {
  const oneDriver = () => parseDriversCsv([HEADER, row(1)].join("\n"));

  it("hands field problems to their fields, in the API's words", () => {
    const result = campaignRequestFrom(
      form({
        name: "",
        time_zone: "Nowhere/Land",
        calls_from: "9am",
        calls_until: "08:00",
        days: [],
        attempts: "9",
        backoff_minutes: "x",
      }),
      oneDriver(),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.fieldErrors).toEqual({
      name: "give the campaign a name",
      time_zone: "must be an IANA time zone such as America/Chicago",
      calls_from: "must be HH:MM between 00:00 and 23:59",
      days: "must name at least one day",
      attempts: expect.stringContaining("5"),
      backoff_minutes: "must be a whole number from 1 to 1440",
    });
    expect(result.csvProblems).toEqual([]);
  });

  it("reads Start at in the form's time zone, across a daylight-saving change", () => {
    expect(localTimeToInstant("2026-12-01 09:00", "America/Chicago")?.toISOString()).toBe(
      "2026-12-01T15:00:00.000Z",
    );
    expect(localTimeToInstant("2026-07-01T09:00", "America/Chicago")?.toISOString()).toBe(
      "2026-07-01T14:00:00.000Z",
    );
    expect(localTimeToInstant("2026-02-30 09:00", "America/Chicago")).toBeNull();
    const result = campaignRequestFrom(
      form({ time_zone: "America/Denver", start_at: "2026-12-01 08:30" }),
      oneDriver(),
    );
    expect(result.ok && result.request.start_at).toBe("2026-12-01T15:30:00.000Z");
  });

  it("needs a Time zone to read Start at", () => {
    const result = campaignRequestFrom(form({ start_at: "2026-12-01 08:30" }), oneDriver());
    expect(result).toMatchObject({
      ok: false,
      fieldErrors: { start_at: "is read in the campaign's Time zone: fill in Time zone too" },
    });
  });

  it("says no file was chosen without listing lines", () => {
    const result = campaignRequestFrom(form(), null, "choose a CSV file");
    expect(result).toEqual({
      ok: false,
      fieldErrors: { drivers: "choose a CSV file" },
      csvProblems: [],
    });
  });
});
