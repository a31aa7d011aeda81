// When a campaign may call a driver: inside its calling window, read on the driver's own
// wall clock (US telephone rules: 8 a.m.-9 p.m. at the called party's location). Pure
// functions of (window, zone, instant), no I/O.
//
// What "inside" means, everywhere in this file: the driver's local weekday is an allowed
// day and the local time of day is in [start, end). The end minute itself is outside, so
// a 08:00-21:00 window allows 20:59:59.999 and not 21:00. It is read off the wall clock
// as it actually runs, which settles the daylight-saving cases:
// - a start that does not exist (02:30 on a spring-forward night) opens when the clock
//   jumps past it (03:00 local);
// - a start that happens twice (01:30 on a fall-back night) opens at the first one;
// - if the clock falls back out of the window (a window 01:30-05:00 when 02:00 becomes
//   01:00 again), it closes there and opens again when the clock reaches 01:30 once more.
// The 8:00-21:00 windows calls use never meet these cases in any US zone; they are
// defined anyway so that every answer can be checked against the wall clock.
import {
  DAY_MS,
  MINUTE_MS,
  nextOffsetChange,
  utcOffsetAt,
  validInstant,
  WEEKDAYS,
  type Weekday,
  weekdayOfLocal,
} from "./time-zone";

export interface CallingWindow {
  /** Local minute of the day the window opens (08:00 -> 480). */
  readonly startMinutes: number;
  /** Local minute of the day the window closes, exclusive; always > startMinutes. */
  readonly endMinutes: number;
  /** Local weekdays the window applies on; never empty. */
  readonly days: ReadonlySet<Weekday>;
}

/** The wire shape: `{ start: "08:00", end: "21:00", days?: ["mon", ...] }` (no days = every day). */
export interface CallingWindowWire {
  start: string;
  end: string;
  days?: readonly string[] | undefined;
}

/** One problem with a wire window; `path` is relative to the window object, ready for a zod issue. */
export interface CallingWindowIssue {
  path: (string | number)[];
  message: string;
}

export type CallingWindowParse =
  | { ok: true; window: CallingWindow }
  | { ok: false; issues: CallingWindowIssue[] };

export interface WindowOpening {
  /** The earliest instant >= the asked one that is inside the window. */
  opensAt: Date;
  /** The first instant after opensAt that is outside again (normally the local end that day). */
  closesAt: Date;
}

const EVERY_DAY: ReadonlySet<Weekday> = new Set(WEEKDAYS);

/** 08:00-21:00 local, every day: the US telephone-rules hours. */
export const DEFAULT_CALLING_WINDOW: CallingWindow = Object.freeze({
  startMinutes: 8 * 60,
  endMinutes: 21 * 60,
  days: EVERY_DAY,
});

const CLOCK_TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;
export const CLOCK_TIME_MESSAGE = "must be HH:MM between 00:00 and 23:59";

/** "08:30" -> 510; null unless exactly two-digit HH:MM from 00:00 to 23:59. */
export function parseClockTime(text: string): number | null {
  const match = typeof text === "string" ? CLOCK_TIME.exec(text) : null;
  if (match === null) return null;
  return Number(match[1]) * 60 + Number(match[2]);
}

function formatClockTime(minutes: number): string {
  const hh = String(Math.floor(minutes / 60)).padStart(2, "0");
  const mm = String(minutes % 60).padStart(2, "0");
  return `${hh}:${mm}`;
}

/**
 * Checks a wire window and returns every problem at once. Day names are the lowercase
 * three-letter ones only; a day named twice counts once. "24:00" is not accepted, so the
 * latest possible end is 23:59.
 */
export function parseCallingWindow(wire: CallingWindowWire): CallingWindowParse {
  const issues: CallingWindowIssue[] = [];
  const startMinutes = parseClockTime(wire.start);
  const endMinutes = parseClockTime(wire.end);
  if (startMinutes === null) issues.push({ path: ["start"], message: CLOCK_TIME_MESSAGE });
  if (endMinutes === null) issues.push({ path: ["end"], message: CLOCK_TIME_MESSAGE });
  if (startMinutes !== null && endMinutes !== null && startMinutes >= endMinutes) {
    issues.push({ path: ["end"], message: "start must be before end" });
  }

  let days = EVERY_DAY;
  if (wire.days !== undefined) {
    const named = new Set<Weekday>();
    wire.days.forEach((name, index) => {
      if ((WEEKDAYS as readonly string[]).includes(name)) named.add(name as Weekday);
      else {
        issues.push({
          path: ["days", index],
          message: `unknown day ${JSON.stringify(name)}: use ${WEEKDAYS.join(", ")}`,
        });
      }
    });
    if (wire.days.length === 0) {
      issues.push({ path: ["days"], message: "must name at least one day" });
    }
    days = named;
  }

  if (issues.length > 0 || startMinutes === null || endMinutes === null) {
    return { ok: false, issues };
  }
  return { ok: true, window: { startMinutes, endMinutes, days } };
}

/** Back to the wire shape, days always listed, Monday first. */
export function callingWindowToWire(window: CallingWindow): {
  start: string;
  end: string;
  days: Weekday[];
} {
  return {
    start: formatClockTime(window.startMinutes),
    end: formatClockTime(window.endMinutes),
    days: WEEKDAYS.filter((day) => window.days.has(day)),
  };
}

function insideAtLocal(window: CallingWindow, localMs: number): boolean {
  const localDayStart = Math.floor(localMs / DAY_MS) * DAY_MS;
  const minuteOfDay = Math.floor((localMs - localDayStart) / MINUTE_MS);
  return (
    window.days.has(weekdayOfLocal(localMs)) &&
    minuteOfDay >= window.startMinutes &&
    minuteOfDay < window.endMinutes
  );
}

function insideAt(window: CallingWindow, timeZone: string, instantMs: number): boolean {
  return insideAtLocal(window, instantMs + utcOffsetAt(timeZone, instantMs));
}

/** Whether the driver's wall clock is inside the window at `at` (see the top of this file). */
export function isInsideWindow(window: CallingWindow, timeZone: string, at: Date): boolean {
  return insideAt(window, timeZone, validInstant(at, "at"));
}

// A week and a day is always enough for a non-empty set of days; the extra week covers a
// zone skipping a whole date (Pacific/Apia, 2011-12-30) before anything is called broken.
const SEARCH_LIMIT_MS = 15 * DAY_MS;

/**
 * The earliest instant at or after `notBefore` at which the driver's wall clock is inside
 * the window, and when that stretch closes. If `notBefore` is inside, opensAt is
 * `notBefore` itself. Throws RangeError for an unknown zone or an invalid Date.
 */
export function nextOpening(
  window: CallingWindow,
  timeZone: string,
  notBefore: Date,
): WindowOpening {
  const from = validInstant(notBefore, "notBefore");
  const opensAt = firstInstantInside(window, timeZone, from);
  return {
    opensAt: new Date(opensAt),
    closesAt: new Date(firstInstantOutside(window, timeZone, opensAt)),
  };
}

/**
 * When to try again after a failed call: the next opening at or after
 * `failedAt + backoffMinutes`, so a retry never lands outside the window.
 */
export function retryAt(
  window: CallingWindow,
  timeZone: string,
  failedAt: Date,
  backoffMinutes: number,
): WindowOpening {
  const failed = validInstant(failedAt, "failedAt");
  if (!Number.isFinite(backoffMinutes) || backoffMinutes < 0) {
    throw new RangeError("backoffMinutes must be a finite number >= 0");
  }
  return nextOpening(window, timeZone, new Date(failed + backoffMinutes * MINUTE_MS));
}

// Between two offset changes local time is the instant plus a constant, so the first
// inside instant is plain arithmetic: assume the current offset holds, and if the zone
// changes its offset before that answer, start over from the change.
function firstInstantInside(window: CallingWindow, timeZone: string, from: number): number {
  let at = from;
  while (at - from <= SEARCH_LIMIT_MS) {
    const offset = utcOffsetAt(timeZone, at);
    const candidate = firstInsideAtFixedOffset(window, at + offset) - offset;
    const change = nextOffsetChange(timeZone, at, candidate);
    if (change === null) return candidate;
    at = change;
  }
  throw new Error(`calling window never opens in ${timeZone} within 15 days`);
}

/** The first local-milliseconds value >= localMs that is inside, as if the offset never changed. */
function firstInsideAtFixedOffset(window: CallingWindow, localMs: number): number {
  const today = Math.floor(localMs / DAY_MS);
  for (let day = today; day <= today + 7; day++) {
    const dayStart = day * DAY_MS;
    if (!window.days.has(weekdayOfLocal(dayStart))) continue;
    const opens = dayStart + window.startMinutes * MINUTE_MS;
    const closes = dayStart + window.endMinutes * MINUTE_MS;
    if (localMs < closes) return Math.max(localMs, opens);
  }
  throw new RangeError("a calling window needs at least one day");
}

// Same idea: the local end of today's window, unless an offset change first throws the
// wall clock out of the window (or keeps it inside across the change: carry on from there).
function firstInstantOutside(window: CallingWindow, timeZone: string, insideFrom: number): number {
  let at = insideFrom;
  while (at - insideFrom <= SEARCH_LIMIT_MS) {
    const offset = utcOffsetAt(timeZone, at);
    const localDayStart = Math.floor((at + offset) / DAY_MS) * DAY_MS;
    const closes = localDayStart + window.endMinutes * MINUTE_MS - offset;
    const change = nextOffsetChange(timeZone, at, closes);
    if (change === null) return closes;
    if (!insideAt(window, timeZone, change)) return change;
    at = change;
  }
  throw new Error(`calling window never closes in ${timeZone} within 15 days`);
}
