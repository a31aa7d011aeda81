// Time-zone arithmetic from Intl alone: Workers ship full ICU time-zone data, so no
// library. Dispatch runs this for thousands of drivers in one request and Intl
// formatting is the slow part, so Intl is asked only for a zone's UTC offset at UTC
// midnights (memoized per zone) and, on the rare day two midnights disagree, for the
// instant the offset changes (binary search, memoized). Everything else is integer
// arithmetic on "local milliseconds": the instant plus its offset, read with getUTC*.
//
// Assumption: a zone changes its offset at most once between two UTC midnights. That
// holds for every zone in the tz database for as far back as anyone schedules a call.
export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

/** Weekdays as they appear on the wire, Monday first. */
export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

// Indexed by Date#getUTCDay (0 = Sunday).
const WEEKDAY_BY_JS_DAY: readonly Weekday[] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const WEEKDAY_LABEL: Readonly<Record<Weekday, string>> = {
  mon: "Mon",
  tue: "Tue",
  wed: "Wed",
  thu: "Thu",
  fri: "Fri",
  sat: "Sat",
  sun: "Sun",
};

interface Zone {
  readonly formatter: Intl.DateTimeFormat;
  /** UTC day number -> offset in ms at that day's 00:00Z. */
  readonly midnightOffsets: Map<number, number>;
  /** UTC day number -> first instant of that day (after 00:00Z) with the next midnight's offset. */
  readonly changes: Map<number, number>;
}

// Bounds keep an isolate's memory flat whatever names or dates requests bring; starting
// over only costs a few Intl calls.
const MAX_ZONES = 1_000;
const MAX_DAYS_PER_ZONE = 10_000;
const zones = new Map<string, Zone>();

// ECMA-402 now accepts "+05:00" as a time zone. A fixed offset ignores daylight saving
// time, so a driver stored with one would be called an hour off for half the year.
const UTC_OFFSET = /^[+\-\u2212]/;

/**
 * Whether `name` is a time zone the calling rules accept: a name Intl knows from the IANA
 * database ("America/Chicago", "UTC", "Etc/GMT+5", legacy links such as "US/Eastern").
 * Intl matches names case-insensitively, so "america/chicago" is accepted too. Rejects
 * "", names with surrounding spaces, and UTC offsets such as "+05:00".
 */
export function isValidTimeZone(name: string): boolean {
  if (typeof name !== "string") return false;
  if (zones.has(name)) return true;
  try {
    zoneFor(name);
    return true;
  } catch {
    return false;
  }
}

// Names that are valid IANA zones but stand for a fixed offset all year: a fleet that says
// "EST" means New York, whose clocks move to EDT in summer, so an 08:00-21:00 "EST" window
// would call New York until 22:00 local. Each is refused, with the place to name instead.
const FIXED_OFFSET_PLACES: Readonly<Record<string, string>> = {
  est: "America/New_York",
  mst: "America/Denver (or America/Phoenix, which keeps MST all year)",
  hst: "Pacific/Honolulu",
  gmt: "Europe/London",
  "etc/gmt": "Europe/London",
  "etc/gmt0": "Europe/London",
  "etc/gmt+0": "Europe/London",
  "etc/gmt-0": "Europe/London",
  "etc/greenwich": "Europe/London",
  gmt0: "Europe/London",
  "gmt+0": "Europe/London",
  "gmt-0": "Europe/London",
  greenwich: "Europe/London",
};
/** Zones that are UTC and say so: accepted. */
const UTC_NAMES = new Set(["utc", "etc/utc"]);

/**
 * Why a valid zone name is still refused: it is a fixed offset (EST, MST, HST, GMT and
 * the Etc/... names other than UTC) that never follows daylight saving, while the places
 * whose clocks people call by it do. Returns the place to name instead, or null when the
 * name is fine. UTC stays accepted.
 */
export function fixedOffsetZonePlace(name: string): string | null {
  const lower = name.toLowerCase();
  if (UTC_NAMES.has(lower)) return null;
  const known = FIXED_OFFSET_PLACES[lower];
  if (known !== undefined) return known;
  if (lower.startsWith("etc/")) return "a place such as America/Chicago or America/New_York";
  return null;
}

let selectable: readonly string[] | undefined;

/**
 * The zone names an operator may pick from: every IANA name Intl knows (its canonical
 * ones, Workers ship full ICU data) that the calling rules accept, fixed-offset names
 * left out, UTC included.
 */
export function selectableTimeZones(): readonly string[] {
  if (selectable === undefined) {
    let names: string[];
    try {
      names = Intl.supportedValuesOf("timeZone");
    } catch {
      names = [];
    }
    selectable = [...new Set([...names, "UTC"])]
      .filter((name) => fixedOffsetZonePlace(name) === null)
      .sort();
  }
  return selectable;
}

function zoneFor(timeZone: string): Zone {
  const cached = zones.get(timeZone);
  if (cached !== undefined) return cached;
  // Intl reads an undefined timeZone as the host's zone; never let a missing value
  // quietly become UTC.
  if (typeof timeZone !== "string" || timeZone === "" || UTC_OFFSET.test(timeZone)) {
    throw new RangeError(`unknown time zone ${JSON.stringify(timeZone)}`);
  }
  let formatter: Intl.DateTimeFormat;
  try {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
  } catch {
    throw new RangeError(`unknown time zone ${JSON.stringify(timeZone)}`);
  }
  if (zones.size >= MAX_ZONES) zones.clear();
  const zone: Zone = { formatter, midnightOffsets: new Map(), changes: new Map() };
  zones.set(timeZone, zone);
  return zone;
}

/** The offset Intl reports at a whole-second instant. */
function askIntl(zone: Zone, instantMs: number): number {
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const part of zone.formatter.formatToParts(instantMs)) {
    switch (part.type) {
      case "year":
        year = Number(part.value);
        break;
      case "month":
        month = Number(part.value);
        break;
      case "day":
        day = Number(part.value);
        break;
      case "hour":
        hour = Number(part.value);
        break;
      case "minute":
        minute = Number(part.value);
        break;
      case "second":
        second = Number(part.value);
        break;
    }
  }
  // Not Date.UTC: it reads years 0-99 as 1900-1999.
  const wall = new Date(0);
  wall.setUTCFullYear(year, month - 1, day);
  wall.setUTCHours(hour, minute, second, 0);
  return wall.getTime() - instantMs;
}

function midnightOffset(zone: Zone, utcDay: number): number {
  const cached = zone.midnightOffsets.get(utcDay);
  if (cached !== undefined) return cached;
  if (zone.midnightOffsets.size >= MAX_DAYS_PER_ZONE) {
    zone.midnightOffsets.clear();
    zone.changes.clear();
  }
  const offset = askIntl(zone, utcDay * DAY_MS);
  zone.midnightOffsets.set(utcDay, offset);
  return offset;
}

/** The instant in (day 00:00Z, next day 00:00Z] where the offset changes, or null. */
function changeDuring(zone: Zone, utcDay: number): number | null {
  const before = midnightOffset(zone, utcDay);
  const after = midnightOffset(zone, utcDay + 1);
  if (before === after) return null;
  const cached = zone.changes.get(utcDay);
  if (cached !== undefined) return cached;
  // Offsets change on whole seconds; lo always has the old offset, hi the new one.
  let lo = utcDay * DAY_MS;
  let hi = lo + DAY_MS;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (askIntl(zone, mid) === before) lo = mid;
    else hi = mid;
  }
  zone.changes.set(utcDay, hi);
  return hi;
}

/** The zone's UTC offset in ms at an instant (local = instant + offset). Throws RangeError for an unknown zone. */
export function utcOffsetAt(timeZone: string, instantMs: number): number {
  const zone = zoneFor(timeZone);
  const utcDay = Math.floor(instantMs / DAY_MS);
  const change = changeDuring(zone, utcDay);
  return change === null || instantMs < change
    ? midnightOffset(zone, utcDay)
    : midnightOffset(zone, utcDay + 1);
}

/** The first instant in (afterMs, untilMs] at which the zone's offset changes, or null. */
export function nextOffsetChange(
  timeZone: string,
  afterMs: number,
  untilMs: number,
): number | null {
  const zone = zoneFor(timeZone);
  for (let utcDay = Math.floor(afterMs / DAY_MS); utcDay * DAY_MS < untilMs; utcDay++) {
    const change = changeDuring(zone, utcDay);
    if (change !== null && change > afterMs) return change <= untilMs ? change : null;
  }
  return null;
}

/** The local weekday of a local-milliseconds value. */
export function weekdayOfLocal(localMs: number): Weekday {
  // Day 0 (1970-01-01) was a Thursday.
  const jsDay = (((Math.floor(localMs / DAY_MS) + 4) % 7) + 7) % 7;
  return WEEKDAY_BY_JS_DAY[jsDay] as Weekday;
}

export interface LocalParts {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: Weekday;
  /** hour * 60 + minute: what calling windows compare against. */
  minuteOfDay: number;
  /** Local time minus UTC, in minutes (-300 for New York in winter, 345 for Kathmandu). */
  utcOffsetMinutes: number;
}

/** The wall-clock reading in `timeZone` at `at`. Throws RangeError for an unknown zone or an invalid Date. */
export function localParts(at: Date, timeZone: string): LocalParts {
  const instantMs = validInstant(at, "at");
  const offset = utcOffsetAt(timeZone, instantMs);
  const local = new Date(instantMs + offset);
  const hour = local.getUTCHours();
  const minute = local.getUTCMinutes();
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour,
    minute,
    second: local.getUTCSeconds(),
    weekday: weekdayOfLocal(instantMs + offset),
    minuteOfDay: hour * 60 + minute,
    utcOffsetMinutes: offset / MINUTE_MS,
  };
}

/** For operators: "08:00 Tue, America/Denver" (24-hour local time, seconds dropped, the zone as given). */
export function formatLocal(at: Date, timeZone: string): string {
  const parts = localParts(at, timeZone);
  const hh = String(parts.hour).padStart(2, "0");
  const mm = String(parts.minute).padStart(2, "0");
  return `${hh}:${mm} ${WEEKDAY_LABEL[parts.weekday]}, ${timeZone}`;
}

const MONTH_LABEL = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
] as const;

/**
 * For operators, with the date: "08:00 Tue 8 Dec, America/Denver"; the year is added
 * ("09:00 Mon 6 Jan 2031, UTC") when it is not the year of `now` in that zone.
 */
export function formatLocalDate(at: Date, timeZone: string, now: Date = new Date()): string {
  const parts = localParts(at, timeZone);
  const hh = String(parts.hour).padStart(2, "0");
  const mm = String(parts.minute).padStart(2, "0");
  const year = parts.year === localParts(now, timeZone).year ? "" : ` ${parts.year}`;
  return `${hh}:${mm} ${WEEKDAY_LABEL[parts.weekday]} ${parts.day} ${MONTH_LABEL[parts.month - 1]}${year}, ${timeZone}`;
}

export function validInstant(at: Date, name: string): number {
  const instantMs = at instanceof Date ? at.getTime() : Number.NaN;
  if (Number.isNaN(instantMs)) throw new RangeError(`${name} must be a valid Date`);
  return instantMs;
}
