// Property tests for calling windows: random zones, windows, days and instants (many of
// them near daylight-saving changes), each answer checked against a brute-force reference
// that walks the wall clock minute by minute. The reference reads only Intl's wall-clock
// parts and shares no code with src/calling-rules, so a wrong offset, a wrong weekday or
// a missed change disagrees with it.
//
// Minute steps are enough: every offset and change in these zones (2020-2033) falls on a
// whole minute, and windows are whole minutes, so insideness only changes on minutes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CallingWindow,
  isInsideWindow,
  nextOpening,
  parseCallingWindow,
  retryAt,
} from "../../src/calling-rules/window";

const ZONES = [
  "UTC",
  "America/New_York",
  "America/Chicago",
  "America/Denver",
  "America/Phoenix",
  "America/Los_Angeles",
  "America/Anchorage",
  "Pacific/Honolulu",
  "America/St_Johns", // -03:30, with daylight saving
  "America/Havana", // changes at midnight
  "America/Mexico_City", // dropped daylight saving in 2022
  "America/Santiago", // southern hemisphere, changes at midnight
  "America/Asuncion", // dropped daylight saving in 2024
  "America/Nuuk", // changes on Saturday evening local time
  "America/Sao_Paulo",
  "Europe/London",
  "Europe/Dublin", // "negative" daylight saving in the tz database
  "Europe/Berlin",
  "Africa/Casablanca", // suspends its offset for Ramadan
  "Africa/Cairo", // changes at midnight
  "Asia/Beirut", // changes at midnight
  "Asia/Tehran", // dropped daylight saving in 2022
  "Asia/Kolkata", // +05:30
  "Asia/Kathmandu", // +05:45
  "Australia/Eucla", // +08:45
  "Australia/Adelaide", // +09:30 / +10:30
  "Australia/Sydney",
  "Australia/Lord_Howe", // 30-minute daylight saving
  "Pacific/Auckland",
  "Pacific/Chatham", // +12:45 / +13:45
  "Pacific/Apia", // dropped daylight saving in 2021
  "Pacific/Kiritimati", // +14
  "Pacific/Pago_Pago", // -11
  "Antarctica/Troll", // two-hour daylight saving
] as const;

const DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const FROM_MS = Date.UTC(2020, 0, 1);
const UNTIL_MS = Date.UTC(2033, 0, 1);
const PROPERTY_TIMEOUT = 60_000;

// ---------------------------------------------------------------------------------------
// The reference: Intl's wall clock, read minute by minute
// ---------------------------------------------------------------------------------------

const wallClockFormatters = new Map<string, Intl.DateTimeFormat>();

function wallClock(timeZone: string, instantMs: number): { weekday: string; minuteOfDay: number } {
  let formatter = wallClockFormatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    wallClockFormatters.set(timeZone, formatter);
  }
  let weekday = "";
  let hour = Number.NaN;
  let minute = Number.NaN;
  for (const part of formatter.formatToParts(instantMs)) {
    if (part.type === "weekday") weekday = part.value.toLowerCase();
    else if (part.type === "hour") hour = Number(part.value);
    else if (part.type === "minute") minute = Number(part.value);
  }
  return { weekday, minuteOfDay: hour * 60 + minute };
}

interface RawWindow {
  start: number;
  end: number;
  days: readonly string[] | undefined;
}

function referenceInside(raw: RawWindow, timeZone: string, instantMs: number): boolean {
  const { weekday, minuteOfDay } = wallClock(timeZone, instantMs);
  const dayAllowed = raw.days === undefined || raw.days.includes(weekday);
  return dayAllowed && minuteOfDay >= raw.start && minuteOfDay < raw.end;
}

/** The first inside instant in [fromMs, upToMs], walking whole minutes after fromMs; null if none. */
function referenceFirstInside(
  raw: RawWindow,
  timeZone: string,
  fromMs: number,
  upToMs: number,
): number | null {
  if (referenceInside(raw, timeZone, fromMs)) return fromMs;
  for (
    let at = Math.floor(fromMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    at <= upToMs;
    at += MINUTE_MS
  ) {
    if (referenceInside(raw, timeZone, at)) return at;
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Instants near offset changes, found with Intl alone (only to aim the generator)
// ---------------------------------------------------------------------------------------

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

function referenceOffsetMinutes(timeZone: string, instantMs: number): number {
  let formatter = offsetFormatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
    });
    offsetFormatters.set(timeZone, formatter);
  }
  const field = (parts: Intl.DateTimeFormatPart[], type: string) =>
    Number(parts.find((part) => part.type === type)?.value);
  const minuteMs = Math.floor(instantMs / MINUTE_MS) * MINUTE_MS;
  const parts = formatter.formatToParts(minuteMs);
  const wall = Date.UTC(
    field(parts, "year"),
    field(parts, "month") - 1,
    field(parts, "day"),
    field(parts, "hour"),
    field(parts, "minute"),
  );
  return (wall - minuteMs) / MINUTE_MS;
}

const changesByZoneYear = new Map<string, number[]>();

/** Instants in a UTC year where the zone's offset changes (weekly scan, then minute bisection). */
function offsetChanges(timeZone: string, year: number): number[] {
  const key = `${timeZone} ${year}`;
  const cached = changesByZoneYear.get(key);
  if (cached !== undefined) return cached;
  const changes: number[] = [];
  const yearEnd = Date.UTC(year + 1, 0, 1);
  for (let lo = Date.UTC(year, 0, 1); lo < yearEnd; lo += 7 * DAY_MS) {
    const before = referenceOffsetMinutes(timeZone, lo);
    if (referenceOffsetMinutes(timeZone, lo + 7 * DAY_MS) === before) continue;
    let low = lo;
    let high = lo + 7 * DAY_MS;
    while (high - low > MINUTE_MS) {
      const mid = low + Math.floor((high - low) / (2 * MINUTE_MS)) * MINUTE_MS;
      if (referenceOffsetMinutes(timeZone, mid) === before) low = mid;
      else high = mid;
    }
    changes.push(high);
  }
  changesByZoneYear.set(key, changes);
  return changes;
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

const minutePair = (min: number, max: number, step: number): fc.Arbitrary<[number, number]> =>
  fc
    .uniqueArray(fc.integer({ min: min / step, max: Math.floor(max / step) }), {
      minLength: 2,
      maxLength: 2,
    })
    .map(([a = 0, b = 0]) => (a < b ? [a * step, b * step] : [b * step, a * step]));

const startEnd = fc.oneof(
  minutePair(0, 1439, 15),
  minutePair(0, 1439, 1),
  // Where clocks change (00:00-04:00 local), so starts and ends meet gaps and repeats.
  minutePair(0, 240, 1),
  minutePair(0, 240, 15),
  fc.constant<[number, number]>([8 * 60, 21 * 60]),
  // Near the end of the day, where Saturday 23:xx repeats in some zones.
  minutePair(1320, 1439, 1),
);

const rawWindow: fc.Arbitrary<RawWindow> = fc
  .record({
    startEnd,
    days: fc.option(fc.subarray([...DAY_NAMES], { minLength: 1 }), { nil: undefined }),
  })
  .map(({ startEnd: [start, end], days }) => ({ start, end, days }));

type InstantSpec =
  | { kind: "anytime"; ms: number }
  | { kind: "near-change"; year: number; pick: number; deltaMs: number };

const instantSpec: fc.Arbitrary<InstantSpec> = fc.oneof(
  fc.record({
    kind: fc.constant("anytime" as const),
    ms: fc.integer({ min: FROM_MS, max: UNTIL_MS }),
  }),
  fc.record({
    kind: fc.constant("near-change" as const),
    year: fc.integer({ min: 2020, max: 2032 }),
    pick: fc.nat(),
    deltaMs: fc.oneof(
      fc.integer({ min: -2 * 24 * 60, max: 2 * 24 * 60 }).map((minutes) => minutes * MINUTE_MS),
      fc.integer({ min: -2 * DAY_MS, max: 2 * DAY_MS }),
      fc.integer({ min: -5, max: 5 }),
    ),
  }),
);

function instantOf(spec: InstantSpec, timeZone: string): number {
  if (spec.kind === "anytime") return spec.ms;
  const changes = offsetChanges(timeZone, spec.year);
  const change = changes[spec.pick % Math.max(changes.length, 1)];
  // Zones without changes that year: anywhere in the year.
  const base = change ?? Date.UTC(spec.year, 0, 1) + (spec.pick % 365) * DAY_MS;
  return base + spec.deltaMs;
}

function parsed(raw: RawWindow): CallingWindow {
  const pad = (minutes: number) =>
    `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
  const result = parseCallingWindow({ start: pad(raw.start), end: pad(raw.end), days: raw.days });
  if (!result.ok) throw new Error(`generated window rejected: ${JSON.stringify(result.issues)}`);
  return result.window;
}

const iso = (ms: number) => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

describe("calling windows against the wall clock", () => {
  it(
    "nextOpening is the earliest inside instant at or after notBefore, and stays inside until closesAt",
    () => {
      fc.assert(
        fc.property(fc.constantFrom(...ZONES), rawWindow, instantSpec, (zone, raw, spec) => {
          const window = parsed(raw);
          const notBefore = instantOf(spec, zone);
          const { opensAt, closesAt } = nextOpening(window, zone, new Date(notBefore));
          const opens = opensAt.getTime();
          const closes = closesAt.getTime();
          const context = `${zone} ${JSON.stringify(raw)} notBefore ${iso(notBefore)} -> ${iso(opens)}..${iso(closes)}`;

          expect(opens, context).toBeGreaterThanOrEqual(notBefore);
          expect(opens - notBefore, context).toBeLessThanOrEqual(8 * DAY_MS);
          // Inside at opensAt, and no inside minute before it.
          expect(referenceFirstInside(raw, zone, notBefore, opens), context).toBe(opens);

          const insideNow = referenceInside(raw, zone, notBefore);
          expect(isInsideWindow(window, zone, new Date(notBefore)), context).toBe(insideNow);
          expect(opens === notBefore, context).toBe(insideNow);

          expect(closes, context).toBeGreaterThan(opens);
          for (
            let at = opens;
            at < closes;
            at = Math.floor(at / MINUTE_MS) * MINUTE_MS + MINUTE_MS
          ) {
            if (!referenceInside(raw, zone, at)) {
              expect.fail(`${context}: outside at ${iso(at)}, before closesAt`);
            }
          }
          expect(referenceInside(raw, zone, closes), `${context}: still inside at closesAt`).toBe(
            false,
          );
        }),
        { numRuns: 400 },
      );
    },
    PROPERTY_TIMEOUT,
  );

  it(
    "isInsideWindow agrees with the wall clock at any instant",
    () => {
      fc.assert(
        fc.property(fc.constantFrom(...ZONES), rawWindow, instantSpec, (zone, raw, spec) => {
          const at = instantOf(spec, zone);
          expect(
            isInsideWindow(parsed(raw), zone, new Date(at)),
            `${zone} ${JSON.stringify(raw)} at ${iso(at)}`,
          ).toBe(referenceInside(raw, zone, at));
        }),
        { numRuns: 3_000 },
      );
    },
    PROPERTY_TIMEOUT,
  );

  it(
    "retryAt never retries before the backoff ends, and always inside the window",
    () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...ZONES),
          rawWindow,
          instantSpec,
          fc.integer({ min: 0, max: 3 * 24 * 60 }),
          (zone, raw, spec, backoffMinutes) => {
            const window = parsed(raw);
            const failedAt = instantOf(spec, zone);
            const { opensAt } = retryAt(window, zone, new Date(failedAt), backoffMinutes);
            const context = `${zone} ${JSON.stringify(raw)} failed ${iso(failedAt)} +${backoffMinutes} min -> ${iso(opensAt.getTime())}`;
            expect(opensAt.getTime(), context).toBeGreaterThanOrEqual(
              failedAt + backoffMinutes * MINUTE_MS,
            );
            expect(referenceInside(raw, zone, opensAt.getTime()), context).toBe(true);
          },
        ),
        { numRuns: 1_000 },
      );
    },
    PROPERTY_TIMEOUT,
  );
});
