// Calling windows on concrete dates, inside workerd so Intl is the Worker's. Every
// expected instant was worked out by hand from the zone's rules and checked against
// Intl's wall-clock reading, so a wrong offset or weekday fails with the instant it got.
import { describe, expect, it } from "vitest";
import {
  formatLocal,
  formatLocalDate,
  isValidTimeZone,
  localParts,
  utcOffsetAt,
} from "../../src/calling-rules/time-zone";
import {
  type CallingWindow,
  type CallingWindowWire,
  callingWindowToWire,
  DEFAULT_CALLING_WINDOW,
  isInsideWindow,
  nextOpening,
  parseCallingWindow,
  retryAt,
} from "../../src/calling-rules/window";

function window(wire: CallingWindowWire): CallingWindow {
  const parsed = parseCallingWindow(wire);
  if (!parsed.ok) throw new Error(`test window is invalid: ${JSON.stringify(parsed.issues)}`);
  return parsed.window;
}

/** nextOpening as ISO strings, so a failure shows both instants readably. */
function opening(w: CallingWindow, timeZone: string, notBefore: string) {
  const { opensAt, closesAt } = nextOpening(w, timeZone, new Date(notBefore));
  return { opensAt: opensAt.toISOString(), closesAt: closesAt.toISOString() };
}

const EIGHT_TO_NINE = DEFAULT_CALLING_WINDOW;

describe("nextOpening on an ordinary day (America/Chicago, CDT = UTC-5, 2026-06-16 is a Tuesday)", () => {
  it("at 03:00 local waits for 08:00 local the same day and closes at 21:00", () => {
    expect(opening(EIGHT_TO_NINE, "America/Chicago", "2026-06-16T08:00:00.000Z")).toEqual({
      opensAt: "2026-06-16T13:00:00.000Z",
      closesAt: "2026-06-17T02:00:00.000Z",
    });
  });

  it("at 12:00 local is inside: opens now", () => {
    const now = "2026-06-16T17:00:00.000Z";
    expect(isInsideWindow(EIGHT_TO_NINE, "America/Chicago", new Date(now))).toBe(true);
    expect(opening(EIGHT_TO_NINE, "America/Chicago", now)).toEqual({
      opensAt: now,
      closesAt: "2026-06-17T02:00:00.000Z",
    });
  });

  it("keeps the milliseconds of a notBefore that is inside", () => {
    expect(opening(EIGHT_TO_NINE, "America/Chicago", "2026-06-16T17:00:00.123Z").opensAt).toBe(
      "2026-06-16T17:00:00.123Z",
    );
  });

  it("at 21:30 local waits for 08:00 local the next day", () => {
    expect(opening(EIGHT_TO_NINE, "America/Chicago", "2026-06-17T02:30:00.000Z")).toEqual({
      opensAt: "2026-06-17T13:00:00.000Z",
      closesAt: "2026-06-18T02:00:00.000Z",
    });
  });

  it("counts the start minute as inside and the end minute as outside", () => {
    const at = (iso: string) => isInsideWindow(EIGHT_TO_NINE, "America/Chicago", new Date(iso));
    expect(at("2026-06-16T12:59:59.999Z")).toBe(false); // 07:59:59.999
    expect(at("2026-06-16T13:00:00.000Z")).toBe(true); // 08:00
    expect(at("2026-06-17T01:59:59.999Z")).toBe(true); // 20:59:59.999
    expect(at("2026-06-17T02:00:00.000Z")).toBe(false); // 21:00
    expect(opening(EIGHT_TO_NINE, "America/Chicago", "2026-06-17T02:00:00.000Z").opensAt).toBe(
      "2026-06-17T13:00:00.000Z",
    );
  });
});

describe("nextOpening across daylight-saving changes in America/New_York", () => {
  it("opens at 08:00 EDT (12:00Z) on the spring-forward Sunday, 2026-03-08", () => {
    // Asked at 00:00 EST, before the clocks jump at 02:00.
    expect(opening(EIGHT_TO_NINE, "America/New_York", "2026-03-08T05:00:00.000Z")).toEqual({
      opensAt: "2026-03-08T12:00:00.000Z",
      closesAt: "2026-03-09T01:00:00.000Z",
    });
    // Asked the evening before (Saturday 22:00 EST), across the change.
    expect(opening(EIGHT_TO_NINE, "America/New_York", "2026-03-08T03:00:00.000Z").opensAt).toBe(
      "2026-03-08T12:00:00.000Z",
    );
  });

  it("opens at 08:00 EST (13:00Z) on the fall-back Sunday, 2026-11-01", () => {
    // Asked at 00:00 EDT, before the clocks fall back at 02:00.
    expect(opening(EIGHT_TO_NINE, "America/New_York", "2026-11-01T04:00:00.000Z")).toEqual({
      opensAt: "2026-11-01T13:00:00.000Z",
      closesAt: "2026-11-02T02:00:00.000Z",
    });
  });

  it("opens a start that does not exist (02:30 on 2026-03-08) when the clock jumps to 03:00 EDT", () => {
    const w = window({ start: "02:30", end: "05:00" });
    expect(opening(w, "America/New_York", "2026-03-08T05:00:00.000Z")).toEqual({
      opensAt: "2026-03-08T07:00:00.000Z",
      closesAt: "2026-03-08T09:00:00.000Z",
    });
  });

  it("opens a start that happens twice (01:30 on 2026-11-01) at the first one, 01:30 EDT", () => {
    const w = window({ start: "01:30", end: "05:00" });
    // The clock falls back from 01:59 EDT to 01:00 EST, out of the window until 01:30 EST.
    expect(opening(w, "America/New_York", "2026-11-01T04:00:00.000Z")).toEqual({
      opensAt: "2026-11-01T05:30:00.000Z",
      closesAt: "2026-11-01T06:00:00.000Z",
    });
    expect(opening(w, "America/New_York", "2026-11-01T06:00:00.000Z")).toEqual({
      opensAt: "2026-11-01T06:30:00.000Z",
      closesAt: "2026-11-01T10:00:00.000Z",
    });
  });

  it("stays open across a jump that lands inside the window", () => {
    const w = window({ start: "01:00", end: "05:00" });
    // 01:00 EST to 05:00 EDT is three real hours.
    expect(opening(w, "America/New_York", "2026-03-08T05:00:00.000Z")).toEqual({
      opensAt: "2026-03-08T06:00:00.000Z",
      closesAt: "2026-03-08T09:00:00.000Z",
    });
  });
});

describe("days are the driver's local weekday", () => {
  it("a Saturday-only window asked on Sunday waits six days, to Saturday 08:00 local", () => {
    const saturdays = window({ start: "08:00", end: "21:00", days: ["sat"] });
    // Sunday 2026-06-14 10:00 PDT -> Saturday 2026-06-20 08:00 PDT.
    expect(opening(saturdays, "America/Los_Angeles", "2026-06-14T17:00:00.000Z")).toEqual({
      opensAt: "2026-06-20T15:00:00.000Z",
      closesAt: "2026-06-21T04:00:00.000Z",
    });
  });

  it("uses the local date where it differs from UTC's (Pacific/Auckland, NZST = UTC+12)", () => {
    // Monday 2026-06-15 07:00 local is still Sunday in UTC.
    const asked = "2026-06-14T19:00:00.000Z";
    const mondays = window({ start: "08:00", end: "21:00", days: ["mon"] });
    const sundays = window({ start: "08:00", end: "21:00", days: ["sun"] });
    expect(opening(mondays, "Pacific/Auckland", asked).opensAt).toBe("2026-06-14T20:00:00.000Z");
    expect(opening(sundays, "Pacific/Auckland", asked).opensAt).toBe("2026-06-20T20:00:00.000Z");
  });

  it("a weekdays window asked on Friday evening waits for Monday", () => {
    const weekdays = window({
      start: "08:00",
      end: "21:00",
      days: ["mon", "tue", "wed", "thu", "fri"],
    });
    // Friday 2026-06-19 22:00 CDT -> Monday 2026-06-22 08:00 CDT.
    expect(opening(weekdays, "America/Chicago", "2026-06-20T03:00:00.000Z").opensAt).toBe(
      "2026-06-22T13:00:00.000Z",
    );
  });
});

describe("zones with odd offsets and southern-hemisphere daylight saving", () => {
  it("Asia/Kathmandu (UTC+05:45): 05:45 local waits until 08:00 local", () => {
    expect(opening(EIGHT_TO_NINE, "Asia/Kathmandu", "2026-06-16T00:00:00.000Z")).toEqual({
      opensAt: "2026-06-16T02:15:00.000Z",
      closesAt: "2026-06-16T15:15:00.000Z",
    });
  });

  it("Australia/Lord_Howe: 08:00 is UTC+11 in summer and UTC+10:30 in winter", () => {
    expect(opening(EIGHT_TO_NINE, "Australia/Lord_Howe", "2026-01-14T18:00:00.000Z").opensAt).toBe(
      "2026-01-14T21:00:00.000Z",
    );
    expect(opening(EIGHT_TO_NINE, "Australia/Lord_Howe", "2026-07-14T18:00:00.000Z").opensAt).toBe(
      "2026-07-14T21:30:00.000Z",
    );
  });

  it("Australia/Lord_Howe: the 30-minute jump on 2026-10-04 (02:00 -> 02:30) opens a 02:00 start at 02:30", () => {
    const w = window({ start: "02:00", end: "05:00" });
    // Asked at 01:00 +10:30; the clock jumps at 15:30Z.
    expect(opening(w, "Australia/Lord_Howe", "2026-10-03T14:30:00.000Z")).toEqual({
      opensAt: "2026-10-03T15:30:00.000Z",
      closesAt: "2026-10-03T18:00:00.000Z",
    });
  });

  it("Australia/Lord_Howe: the 30-minute fall-back on 2026-04-05 (02:00 -> 01:30) reopens 01:45", () => {
    const w = window({ start: "01:45", end: "05:00" });
    expect(opening(w, "Australia/Lord_Howe", "2026-04-04T14:00:00.000Z")).toEqual({
      opensAt: "2026-04-04T14:45:00.000Z",
      closesAt: "2026-04-04T15:00:00.000Z",
    });
    expect(opening(w, "Australia/Lord_Howe", "2026-04-04T15:00:00.000Z").opensAt).toBe(
      "2026-04-04T15:15:00.000Z",
    );
  });

  it("Pacific/Chatham: 08:00 is UTC+12:45 in June and UTC+13:45 in January", () => {
    expect(opening(EIGHT_TO_NINE, "Pacific/Chatham", "2026-06-15T12:00:00.000Z").opensAt).toBe(
      "2026-06-15T19:15:00.000Z",
    );
    expect(opening(EIGHT_TO_NINE, "Pacific/Chatham", "2026-01-15T12:00:00.000Z").opensAt).toBe(
      "2026-01-15T18:15:00.000Z",
    );
  });

  it("Australia/Sydney: summer time ends 2026-04-05 and starts 2026-10-04 (Sundays)", () => {
    // Saturday 04-04 08:00 AEDT (+11), then Sunday 04-05 08:00 AEST (+10).
    expect(opening(EIGHT_TO_NINE, "Australia/Sydney", "2026-04-03T18:00:00.000Z").opensAt).toBe(
      "2026-04-03T21:00:00.000Z",
    );
    expect(opening(EIGHT_TO_NINE, "Australia/Sydney", "2026-04-04T12:00:00.000Z").opensAt).toBe(
      "2026-04-04T22:00:00.000Z",
    );
    // Saturday 10-03 08:00 AEST (+10), then Sunday 10-04 08:00 AEDT (+11).
    expect(opening(EIGHT_TO_NINE, "Australia/Sydney", "2026-10-02T18:00:00.000Z").opensAt).toBe(
      "2026-10-02T22:00:00.000Z",
    );
    expect(opening(EIGHT_TO_NINE, "Australia/Sydney", "2026-10-03T12:00:00.000Z").opensAt).toBe(
      "2026-10-03T21:00:00.000Z",
    );
  });

  it("America/Santiago: clocks change at midnight, so Saturday 23:00 happens twice on 2026-04-04", () => {
    const lateSaturday = window({ start: "23:00", end: "23:59", days: ["sat"] });
    // 23:00 -03, then at 24:00 -03 the clock returns to 23:00 -04.
    expect(opening(lateSaturday, "America/Santiago", "2026-04-04T20:00:00.000Z")).toEqual({
      opensAt: "2026-04-05T02:00:00.000Z",
      closesAt: "2026-04-05T02:59:00.000Z",
    });
    expect(opening(lateSaturday, "America/Santiago", "2026-04-05T02:59:00.000Z")).toEqual({
      opensAt: "2026-04-05T03:00:00.000Z",
      closesAt: "2026-04-05T03:59:00.000Z",
    });
  });

  it("America/Santiago: Sunday 2026-09-06 has no 00:xx, so a midnight start opens at 01:00 -03", () => {
    const earlySunday = window({ start: "00:00", end: "02:00", days: ["sun"] });
    expect(opening(earlySunday, "America/Santiago", "2026-09-05T20:00:00.000Z")).toEqual({
      opensAt: "2026-09-06T04:00:00.000Z",
      closesAt: "2026-09-06T05:00:00.000Z",
    });
    expect(opening(EIGHT_TO_NINE, "America/Santiago", "2026-09-06T04:00:00.000Z").opensAt).toBe(
      "2026-09-06T11:00:00.000Z",
    );
  });
});

describe("retryAt", () => {
  it("retries after the backoff when that is still inside the window", () => {
    // Failed at 10:00 CDT, 30 minutes of backoff.
    expect(
      retryAt(EIGHT_TO_NINE, "America/Chicago", new Date("2026-06-16T15:00:00.000Z"), 30).opensAt,
    ).toEqual(new Date("2026-06-16T15:30:00.000Z"));
  });

  it("waits for the next opening when the backoff ends outside the window", () => {
    // Failed at 20:45 CDT; 20:45 + 30 minutes is after 21:00.
    expect(
      retryAt(EIGHT_TO_NINE, "America/Chicago", new Date("2026-06-17T01:45:00.000Z"), 30),
    ).toEqual({
      opensAt: new Date("2026-06-17T13:00:00.000Z"),
      closesAt: new Date("2026-06-18T02:00:00.000Z"),
    });
  });

  it("refuses a negative or non-finite backoff", () => {
    const failedAt = new Date("2026-06-16T15:00:00.000Z");
    expect(() => retryAt(EIGHT_TO_NINE, "America/Chicago", failedAt, -1)).toThrow(RangeError);
    expect(() => retryAt(EIGHT_TO_NINE, "America/Chicago", failedAt, Number.NaN)).toThrow(
      RangeError,
    );
  });
});

describe("formatLocalDate", () => {
  it("says the local time with its date, in the zone, and the year only when it is not now's", () => {
    const now = new Date("2026-12-04T12:00:00Z");
    expect(formatLocalDate(new Date("2026-12-08T15:00:00Z"), "America/Denver", now)).toBe(
      "08:00 Tue 8 Dec, America/Denver",
    );
    expect(formatLocalDate(new Date("2031-01-06T14:00:00Z"), "America/Chicago", now)).toBe(
      "08:00 Mon 6 Jan 2031, America/Chicago",
    );
    // The local date, not UTC's: 03:00Z on the 1st is still the 31st in Los Angeles.
    expect(formatLocalDate(new Date("2027-01-01T03:00:00Z"), "America/Los_Angeles", now)).toBe(
      "19:00 Thu 31 Dec, America/Los_Angeles",
    );
  });
});

describe("formatLocal and localParts", () => {
  it("formats 24-hour local time, the short weekday and the zone", () => {
    expect(formatLocal(new Date("2026-06-16T14:00:00.000Z"), "America/Denver")).toBe(
      "08:00 Tue, America/Denver",
    );
    expect(formatLocal(new Date("2026-06-16T14:00:59.999Z"), "America/Denver")).toBe(
      "08:00 Tue, America/Denver",
    );
    expect(formatLocal(new Date("2026-06-16T00:00:00.000Z"), "Asia/Kathmandu")).toBe(
      "05:45 Tue, Asia/Kathmandu",
    );
    expect(formatLocal(new Date("2026-06-14T19:00:00.000Z"), "Pacific/Auckland")).toBe(
      "07:00 Mon, Pacific/Auckland",
    );
    expect(formatLocal(new Date("2026-06-17T02:30:00.000Z"), "America/Chicago")).toBe(
      "21:30 Tue, America/Chicago",
    );
    expect(formatLocal(new Date("2026-06-16T00:00:00.000Z"), "UTC")).toBe("00:00 Tue, UTC");
  });

  it("reads the wall clock on both sides of a change", () => {
    expect(localParts(new Date("2026-11-01T05:59:00.000Z"), "America/New_York")).toEqual({
      year: 2026,
      month: 11,
      day: 1,
      hour: 1,
      minute: 59,
      second: 0,
      weekday: "sun",
      minuteOfDay: 119,
      utcOffsetMinutes: -240,
    });
    expect(localParts(new Date("2026-11-01T06:00:00.000Z"), "America/New_York")).toMatchObject({
      hour: 1,
      minute: 0,
      utcOffsetMinutes: -300,
    });
    // The change instant itself has the new offset; a millisecond before has the old one.
    expect(utcOffsetAt("America/New_York", Date.parse("2026-03-08T07:00:00.000Z"))).toBe(
      -4 * 3_600_000,
    );
    expect(utcOffsetAt("America/New_York", Date.parse("2026-03-08T06:59:59.999Z"))).toBe(
      -5 * 3_600_000,
    );
  });

  it("throws RangeError for an unknown zone or an invalid Date", () => {
    expect(() => formatLocal(new Date("2026-06-16T00:00:00.000Z"), "Mars/Olympus_Mons")).toThrow(
      RangeError,
    );
    expect(() => formatLocal(new Date(Number.NaN), "UTC")).toThrow(RangeError);
    expect(() => nextOpening(EIGHT_TO_NINE, "+05:00", new Date())).toThrow(RangeError);
  });
});

describe("isValidTimeZone", () => {
  it.each([
    "America/New_York",
    "America/Denver",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "UTC",
    "Etc/GMT+5",
    "US/Eastern",
  ])("accepts %s", (name) => {
    expect(isValidTimeZone(name)).toBe(true);
  });

  it.each([
    "",
    " America/New_York",
    "America/Nowhere",
    "Mars/Olympus_Mons",
    "+05:00",
    "-08:00",
    "\u221205:00",
    "GMT+5",
    "Z",
  ])("rejects %j", (name) => {
    expect(isValidTimeZone(name)).toBe(false);
  });

  it("rejects a non-string from untyped callers instead of reading it as the host zone", () => {
    expect(isValidTimeZone(undefined as unknown as string)).toBe(false);
  });
});

describe("parseCallingWindow", () => {
  it("parses the wire shape; no days means every day", () => {
    const parsed = parseCallingWindow({ start: "08:00", end: "21:00" });
    expect(parsed.ok && callingWindowToWire(parsed.window)).toEqual({
      start: "08:00",
      end: "21:00",
      days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    });
    const weekend = parseCallingWindow({
      start: "09:15",
      end: "17:45",
      days: ["sun", "sat", "sat"],
    });
    expect(weekend.ok && weekend.window.startMinutes).toBe(555);
    expect(weekend.ok && weekend.window.endMinutes).toBe(1065);
    expect(weekend.ok && callingWindowToWire(weekend.window).days).toEqual(["sat", "sun"]);
  });

  it("the default window is 08:00-21:00 every day", () => {
    expect(callingWindowToWire(DEFAULT_CALLING_WINDOW)).toEqual({
      start: "08:00",
      end: "21:00",
      days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    });
  });

  it.each(["8:00", "24:00", "12:60", "12:00:00", "", " 08:00", "0800", "08:0", "٠٨:٠٠"])(
    "rejects start %j",
    (start) => {
      expect(parseCallingWindow({ start, end: "21:00" })).toEqual({
        ok: false,
        issues: [{ path: ["start"], message: "must be HH:MM between 00:00 and 23:59" }],
      });
    },
  );

  it("accepts the extremes 00:00 and 23:59", () => {
    expect(parseCallingWindow({ start: "00:00", end: "23:59" }).ok).toBe(true);
  });

  it("requires start before end (no window across midnight, no empty window)", () => {
    for (const [start, end] of [
      ["21:00", "08:00"],
      ["08:00", "08:00"],
    ] as const) {
      expect(parseCallingWindow({ start, end })).toEqual({
        ok: false,
        issues: [{ path: ["end"], message: "start must be before end" }],
      });
    }
  });

  it("names unknown days by their index and refuses an empty list", () => {
    expect(
      parseCallingWindow({ start: "08:00", end: "21:00", days: ["mon", "Tue", "friday"] }),
    ).toEqual({
      ok: false,
      issues: [
        { path: ["days", 1], message: 'unknown day "Tue": use mon, tue, wed, thu, fri, sat, sun' },
        {
          path: ["days", 2],
          message: 'unknown day "friday": use mon, tue, wed, thu, fri, sat, sun',
        },
      ],
    });
    expect(parseCallingWindow({ start: "08:00", end: "21:00", days: [] })).toEqual({
      ok: false,
      issues: [{ path: ["days"], message: "must name at least one day" }],
    });
  });

  it("reports every problem at once", () => {
    const parsed = parseCallingWindow({ start: "25:00", end: "9pm", days: ["someday"] });
    expect(parsed.ok ? [] : parsed.issues.map((issue) => issue.path)).toEqual([
      ["start"],
      ["end"],
      ["days", 0],
    ]);
  });
});
