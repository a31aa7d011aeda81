// The console's drivers file (src/console/drivers-csv.ts) and the form that sends it
// (src/console/campaign-form.ts): every problem named by its line and column, validated by
// the same schema as POST /campaigns. Pure functions, run in workerd like the Worker.
import { describe, expect, it } from "vitest";
import {
  type CampaignFormValues,
  campaignRequestFrom,
  defaultFormValues,
  localTimeToInstant,
  parseDriversFile,
} from "../../src/console/campaign-form";
import { DRIVERS_CSV_TEMPLATE, parseDriversCsv } from "../../src/console/drivers-csv";

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

/** The entries the form would list, for a file and default form fields. */
function problemsOf(csv: string, values = form()): string[] {
  const result = campaignRequestFrom(values, parseDriversCsv(new TextEncoder().encode(csv)));
  if (result.ok) return [];
  return result.csvProblems.firstEntries(1_000).shown;
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
    expect(parsed.problems.isEmpty).toBe(true);
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
      'Line 3: phone_number: has the wrong number of digits for a US number: found "12345"',
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
      'Line 5: violation_occurred_at: must be an ISO 8601 date-time with a time zone, e.g. 2026-11-23T14:05:09.120Z: found "yesterday"',
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
      'Line 3: phone_number: driver 1042 has "+15551230042" on line 2: every row of a driver must agree: found "+15551230043"',
      'Line 3: driver_name: driver 1042 has "Ana Ruiz" on line 2: every row of a driver must agree: found "Ana R."',
      'Line 3: time_zone: driver 1042 has "America/Denver" on line 2: every row of a driver must agree',
    ]);
  });

  it("lists a bad phone number, a bad zone and a bad date (the last two from the API's own schema), each with the value found", () => {
    const csv = [
      HEADER,
      row(1),
      row(2, { phone: "555123004" }),
      row(3, { zone: "Mars/Olympus" }),
      row(4, { at: "11/20/2026 14:05" }),
      row(5, { at: "2026-11-20T14:05:00" }),
    ].join("\n");
    expect(problemsOf(csv)).toEqual([
      'Line 3: phone_number: has the wrong number of digits for a US number: found "555123004"',
      'Line 4: time_zone: must be an IANA time zone such as America/Chicago: found "Mars/Olympus"',
      'Line 5: violation_occurred_at: must be an ISO 8601 date-time with a time zone, e.g. 2026-11-23T14:05:09.120Z: found "11/20/2026 14:05"',
      'Line 6: violation_occurred_at: must include a time zone: end it with Z or an offset such as -06:00: found "2026-11-20T14:05:00"',
    ]);
  });

  it("lists a bad value in a driver's second violation row on that row's line", () => {
    const csv = [HEADER, row(9), row(9, { at: "soon" })].join("\n");
    expect(problemsOf(csv)).toEqual([
      'Line 3: violation_occurred_at: must be an ISO 8601 date-time with a time zone, e.g. 2026-11-23T14:05:09.120Z: found "soon"',
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
      'Line 2: driver_id: must be a whole number such as 1042: found "abc"',
      "Line 3: violation_code: is empty",
      "Line 4: driver_name: is empty",
    ]);
  });

  it("asks for a zone on the lines of the drivers without one when others have one and the form has none", () => {
    const csv = [HEADER, row(1, { zone: "" }), row(2), row(3, { zone: "" })].join("\n");
    expect(problemsOf(csv)).toEqual([
      "Lines 2, 4: time_zone: is empty and the form's Time zone is empty: fill in one of them",
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
    expect(result.csvProblems.firstEntries().shown).toEqual([
      'Line 2: driver_name: is not UTF-8 text: save the file as CSV UTF-8: found "Jos\uFFFD"',
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

  it("lists the first 100 entries in line order and counts the rest", () => {
    // 150 drivers whose second row disagrees on the name: 150 different problems.
    const rows = [HEADER];
    for (let id = 1; id <= 150; id++) rows.push(row(id), row(id, { name: `Other ${id}` }));
    const result = campaignRequestFrom(form(), parseDriversCsv(rows.join("\n")));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const { shown, more } = result.csvProblems.firstEntries();
    expect(shown).toHaveLength(100);
    expect(shown[0]).toBe(
      'Line 3: driver_name: driver 1 has "Driver 1" on line 2: every row of a driver must agree: found "Other 1"',
    );
    expect(shown[99]).toMatch(/^Line 201: driver_name: driver 100 /);
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
    expect(result.csvProblems.isEmpty).toBe(true);
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
    expect(result).toMatchObject({ ok: false, fieldErrors: { drivers: "choose a CSV file" } });
    expect(!result.ok && result.csvProblems.isEmpty).toBe(true);
  });
});

describe("drivers CSV: phone numbers as people write them", () => {
  it("reads (555) 123-4567, 555-123-4567, 1 555 123 4567 and +1 555 123 4567 as E.164, and two rows of one driver written differently agree", () => {
    const csv = [
      HEADER,
      row(1, { phone: '"(555) 123-4561"' }),
      row(2, { phone: "555-123-4562" }),
      row(3, { phone: "1 555 123 4563" }),
      row(4, { phone: "+1 555 123 4564" }),
      row(4, { phone: "(555) 123-4564" }),
      row(5, { phone: "555.123.4565" }),
    ].join("\n");
    const result = campaignRequestFrom(form(), parseDriversCsv(csv));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.request.drivers.map((driver) => driver.phone_number)).toEqual([
      "+15551234561",
      "+15551234562",
      "+15551234563",
      "+15551234564",
      "+15551234565",
    ]);
    expect(result.request.drivers[3]?.violations).toHaveLength(2);
  });

  it("reads numbers without + for the form's country, and refuses a country it does not know", () => {
    const csv = [HEADER, row(1, { phone: "020 7946 0958" })].join("\n");
    const british = form({ phone_country: "GB" });
    const result = campaignRequestFrom(british, parseDriversFile(british, csv));
    expect(result.ok && result.request.drivers[0]?.phone_number).toBe("+442079460958");

    const unknown = form({ phone_country: "XX" });
    const refused = campaignRequestFrom(unknown, parseDriversFile(unknown, csv));
    expect(refused).toMatchObject({
      ok: false,
      fieldErrors: { phone_country: "must be a two-letter country code such as US, CA or MX" },
    });
    if (refused.ok) return;
    expect(refused.csvProblems.firstEntries().shown).toEqual([
      'Line 2: phone_number: has no + and country code, and the form\'s Country for numbers without + is not a country code: found "020 7946 0958"',
    ]);
  });

  it("refuses a number of the wrong length, one that is no number, and one with an extension, showing each value", () => {
    const csv = [
      HEADER,
      row(1, { phone: "555-1234" }),
      row(2, { phone: "+1 555 123 45678" }),
      row(3, { phone: "call me" }),
      row(4, { phone: "555-123-4567 ext. 12" }),
    ].join("\n");
    expect(problemsOf(csv)).toEqual([
      'Line 2: phone_number: has the wrong number of digits for a US number: found "555-1234"',
      'Line 3: phone_number: has the wrong number of digits for country code +1: found "+1 555 123 45678"',
      'Line 4: phone_number: is not a phone number: write it as (555) 123-4567 or +15551234567: found "call me"',
      'Line 5: phone_number: has an extension, which a call cannot dial: found "555-123-4567 ext. 12"',
    ]);
  });
});

describe("drivers CSV: problems read like a person wrote them", () => {
  it("lists the same problem on many lines once, with its lines as ranges and the first value found", () => {
    const rows = [HEADER];
    for (let id = 1; id <= 39; id++) rows.push(row(id, { phone: `555-12${id}` }));
    for (let id = 40; id <= 95; id++) rows.push(row(id));
    rows.push(row(96, { phone: "555-0000" }));
    expect(problemsOf(rows.join("\n"))).toEqual([
      'Lines 2-40, 97: phone_number: has the wrong number of digits for a US number: found "555-121" on line 2, and other values',
    ]);
  });

  it("says the value once when every line has the same, and cuts a long value to 40 characters", () => {
    const long = "x".repeat(501);
    const csv = [
      HEADER,
      row(1, { zone: "Mars/Olympus" }),
      row(2, { zone: "Mars/Olympus" }),
      row(3, { description: long }),
    ].join("\n");
    expect(problemsOf(csv)).toEqual([
      'Lines 2-3: time_zone: must be an IANA time zone such as America/Chicago: found "Mars/Olympus"',
      `Line 4: violation_description: is longer than 500 characters: found "${"x".repeat(39)}…"`,
    ]);
  });

  it("makes a time zone missing for every driver one problem of the form's Time zone field, not a line problem per driver", () => {
    const rows = [HEADER];
    for (let id = 1; id <= 500; id++) rows.push(row(id, { zone: "" }));
    const result = campaignRequestFrom(form(), parseDriversCsv(rows.join("\n")));
    expect(result).toMatchObject({
      ok: false,
      fieldErrors: {
        time_zone: "no driver in the file has a time_zone: choose the time zone the drivers are in",
      },
    });
    if (result.ok) return;
    expect(result.csvProblems.isEmpty).toBe(true);
    // Without the column at all, the same.
    const noColumn = [
      "driver_id,phone_number,driver_name,violation_code,violation_description,violation_occurred_at",
      "1,+15551230001,Ana,HOS,Late,2026-11-20T14:05:00Z",
    ].join("\n");
    expect(campaignRequestFrom(form(), parseDriversCsv(noColumn))).toMatchObject({
      ok: false,
      fieldErrors: { time_zone: expect.stringMatching(/^no driver in the file has a time_zone/) },
    });
    // Picked on the form: no problem at all.
    const picked = campaignRequestFrom(
      form({ time_zone: "America/Denver" }),
      parseDriversCsv(rows.join("\n")),
    );
    expect(picked.ok).toBe(true);
  });

  it("never shows zod's own wording: lengths, numbers and lists in the console's words", () => {
    const rows = [
      HEADER,
      row(0),
      row(2, { name: "n".repeat(201) }),
      row(3, { description: "d".repeat(501) }),
      row(4, { code: "c".repeat(65) }),
      row(99999999999),
      row(5, { zone: "z".repeat(65) }),
    ];
    for (let index = 0; index < 51; index++) rows.push(row(6));
    const result = campaignRequestFrom(
      form({ name: "n".repeat(201), attempts: "9", backoff_minutes: "0", time_zone: "UTC" }),
      parseDriversCsv(rows.join("\n")),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const shown = [
      ...Object.values(result.fieldErrors),
      ...result.csvProblems.firstEntries(1_000).shown,
    ];
    expect(shown).toEqual(
      expect.arrayContaining([
        "is longer than 200 characters",
        "must be 5 or less",
        "must be 1 or more",
        'Line 2: driver_id: must be 1 or more: found "0"',
        expect.stringMatching(
          /^Line 3: driver_name: is longer than 200 characters: found "n{39}…"$/,
        ),
        expect.stringMatching(
          /^Line 4: violation_description: is longer than 500 characters: found /,
        ),
        expect.stringMatching(/^Line 5: violation_code: is longer than 64 characters: found /),
        'Line 6: driver_id: must be a whole number such as 1042: found "99999999999"',
        expect.stringMatching(/^Line 7: time_zone: is longer than 64 characters: found /),
        'Line 58: driver_id: has more than 50 violation rows: a driver takes at most 50: found "6"',
      ]),
    );
    for (const text of shown) {
      expect(text).not.toMatch(
        /Too (big|small)|expected (array|string|number)|Invalid input|<=|>=/,
      );
    }
  });
});

describe("drivers CSV: bounded, whatever the file holds", () => {
  it("skips 5 MiB of blank lines without keeping them, and says the file has no drivers", () => {
    const blank = new TextEncoder().encode(
      `${HEADER}\n${"\n".repeat(5 * 1024 * 1024 - HEADER.length - 1)}`,
    );
    const parsed = parseDriversCsv(blank);
    expect(parsed.drivers).toEqual([]);
    expect(parsed.problems.isEmpty).toBe(true);
    expect(campaignRequestFrom(form(), parsed)).toMatchObject({
      ok: false,
      fieldErrors: { drivers: "the file has no driver rows under its header" },
    });
  });

  it("counts a million blank and empty rows between two drivers in the line numbers", () => {
    const csv = [HEADER, row(1), "\n,,,,,,\n".repeat(500_000), row(2, { at: "later" })].join("\n");
    expect(problemsOf(csv)).toEqual([
      'Line 1000004: violation_occurred_at: must be an ISO 8601 date-time with a time zone, e.g. 2026-11-23T14:05:09.120Z: found "later"',
    ]);
  });

  it("keeps one entry per problem, not per line, for 100,000 bad rows", () => {
    const rows = [HEADER];
    for (let id = 1; id <= 100_000; id++) rows.push(`${id},12,N,,,,`);
    const result = campaignRequestFrom(form(), parseDriversCsv(rows.join("\n")));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const { shown, more } = result.csvProblems.firstEntries();
    expect(more).toBe(0);
    expect(shown).toEqual([
      'Lines 2-10001: phone_number: has the wrong number of digits for a US number: found "12"',
      "Lines 2-10001: violation_code: is empty",
      "Lines 2-10001: violation_description: is empty",
      "Lines 2-10001: violation_occurred_at: is empty",
      "Line 10002: driver_id: is driver number 10,001: a campaign takes at most 10,000 drivers",
    ]);
  });
});

describe("drivers CSV: a file that is not one", () => {
  it("refuses a 5 MiB row of commas before reading it, naming its line", () => {
    const csv = `${HEADER}\n${row(1)}\n${",".repeat(5 * 1024 * 1024 - 200)}`;
    const parsed = parseDriversCsv(csv);
    expect(parsed.drivers).toEqual([]);
    expect(parsed.problems.firstEntries().shown).toEqual([
      "Line 3: columns: has more than 10,000 cells: this is not a drivers file (it has 7 columns)",
    ]);
  });
});
