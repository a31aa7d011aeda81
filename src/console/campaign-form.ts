// The console's "New campaign" form -> a POST /campaigns request, validated by the API's
// own schema (createCampaignRequestSchema), its issues handed back to the form: a field's
// to that field, a driver's to its CSV line and column, in the console's wording
// (issue-wording.ts). Pure, like drivers-csv.ts.
import { utcOffsetAt, WEEKDAYS } from "../calling-rules/time-zone";
import { type CreateCampaignRequest, createCampaignRequestSchema } from "../campaigns/schemas";
import { IDEMPOTENCY_KEY } from "../http/idempotency";
import { ProblemList } from "./csv-problems";
import { DRIVER_CSV_COLUMNS, type DriversCsv, parseDriversCsv } from "./drivers-csv";
import { consoleIssueWording } from "./issue-wording";
import { DEFAULT_PHONE_COUNTRY, phoneCountryOf } from "./phone-number";

export interface CampaignFormValues {
  name: string;
  time_zone: string;
  calls_from: string;
  calls_until: string;
  days: string[];
  start_at: string;
  attempts: string;
  backoff_minutes: string;
  /** ISO code of the country whose numbers the file writes without + (default US). */
  phone_country: string;
  idempotency_key: string;
}

export type FormField = Exclude<keyof CampaignFormValues, "idempotency_key"> | "drivers";

/** The labels the form shows (outside checks find the fields by them). */
export const FIELD_LABELS: Readonly<Record<FormField, string>> = {
  name: "Name",
  drivers: "Drivers (CSV)",
  time_zone: "Time zone",
  calls_from: "Calls from",
  calls_until: "Calls until",
  days: "Days",
  start_at: "Start at",
  attempts: "Attempts",
  backoff_minutes: "Minutes between attempts",
  phone_country: "Country for numbers without +",
};

/** A fresh form: the API's defaults (08:00-21:00 every day, 3 attempts, 60 minutes). */
export function defaultFormValues(): CampaignFormValues {
  return {
    name: "",
    time_zone: "",
    calls_from: "08:00",
    calls_until: "21:00",
    days: [...WEEKDAYS],
    start_at: "",
    attempts: "3",
    backoff_minutes: "60",
    phone_country: DEFAULT_PHONE_COUNTRY,
    idempotency_key: crypto.randomUUID(),
  };
}

type FormBody = Record<string, string | File | (string | File)[]>;

const text = (value: FormBody[string] | undefined): string =>
  typeof value === "string" ? value.trim() : Array.isArray(value) ? text(value[0]) : "";

/** The submitted fields (the file apart), as strings, for validation and re-display. */
export function formValuesFrom(body: FormBody): CampaignFormValues {
  const days = body.days;
  return {
    name: text(body.name),
    time_zone: text(body.time_zone),
    calls_from: text(body.calls_from),
    calls_until: text(body.calls_until),
    days: (Array.isArray(days) ? days : days === undefined ? [] : [days]).filter(
      (day): day is string => typeof day === "string",
    ),
    start_at: text(body.start_at),
    attempts: text(body.attempts),
    backoff_minutes: text(body.backoff_minutes),
    phone_country: text(body.phone_country).toUpperCase(),
    idempotency_key: text(body.idempotency_key),
  };
}

/** The form's idempotency key when it is one (1..255 printable ASCII), else undefined. */
export function idempotencyKeyOf(values: CampaignFormValues): string | undefined {
  return IDEMPOTENCY_KEY.test(values.idempotency_key) ? values.idempotency_key : undefined;
}

export type CampaignFormResult =
  | { ok: true; request: CreateCampaignRequest }
  | { ok: false; fieldErrors: Partial<Record<FormField, string>>; csvProblems: ProblemList };

/** The drivers file read with the form's `Country for numbers without +`. */
export function parseDriversFile(
  values: CampaignFormValues,
  file: Uint8Array | ArrayBuffer | string,
): DriversCsv {
  return parseDriversCsv(file, { phoneCountry: phoneCountryOf(values.phone_country) });
}

const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})$/;

/**
 * "2026-12-01 09:00" in `timeZone` -> the instant. A local time that a daylight-saving
 * change skips resolves to the hour after; one it repeats, to the first of the two.
 */
export function localTimeToInstant(local: string, timeZone: string): Date | null {
  const match = LOCAL_DATE_TIME.exec(local);
  if (!match) return null;
  const [year, month, day, hour, minute] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const wall = new Date(0);
  wall.setUTCFullYear(year, month - 1, day);
  wall.setUTCHours(hour, minute, 0, 0);
  if (
    wall.getUTCFullYear() !== year ||
    wall.getUTCMonth() !== month - 1 ||
    wall.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59
  ) {
    return null;
  }
  const localMs = wall.getTime();
  const guess = localMs - utcOffsetAt(timeZone, localMs);
  return new Date(localMs - utcOffsetAt(timeZone, guess));
}

function wholeNumber(value: string): number | null {
  return /^\d{1,6}$/.test(value) ? Number(value) : null;
}

/** Which form field a request path belongs to (drivers.* aside). */
function fieldOf(path: readonly PropertyKey[]): FormField {
  const [first, second] = path;
  if (first === "calling_window") {
    if (second === "start") return "calls_from";
    if (second === "days") return "days";
    return "calls_until";
  }
  if (first === "retry") return second === "backoff_minutes" ? "backoff_minutes" : "attempts";
  if (first === "name" || first === "time_zone" || first === "start_at") return first;
  return "drivers";
}

/** The schema's issue for a driver with no zone when the campaign has none either. */
const NO_ZONE_AT_ALL = "no default time_zone";

/**
 * Builds the campaign request from the form and the parsed file, and validates it with
 * the API's schema. `fileError` is a problem with the file as a whole (none chosen, too
 * large); then `csv` is null. The schema's findings in the drivers are added to
 * `csv.problems`, which the result hands back.
 */
export function campaignRequestFrom(
  values: CampaignFormValues,
  csv: DriversCsv | null,
  fileError?: string,
): CampaignFormResult {
  const fieldErrors: Partial<Record<FormField, string>> = {};
  const csvProblems = csv?.problems ?? new ProblemList(DRIVER_CSV_COLUMNS);
  if (fileError) fieldErrors.drivers = fileError;
  if (values.name === "") fieldErrors.name = "give the campaign a name";
  if (phoneCountryOf(values.phone_country) === null) {
    fieldErrors.phone_country = "must be a two-letter country code such as US, CA or MX";
  }

  const attempts = wholeNumber(values.attempts);
  if (attempts === null) fieldErrors.attempts = "must be a whole number from 1 to 5";
  const backoff = wholeNumber(values.backoff_minutes);
  if (backoff === null) fieldErrors.backoff_minutes = "must be a whole number from 1 to 1440";

  let startAt: string | undefined;
  if (values.start_at !== "") {
    if (values.time_zone === "") {
      fieldErrors.start_at = "is read in the campaign's Time zone: fill in Time zone too";
    } else {
      try {
        const instant = localTimeToInstant(values.start_at, values.time_zone);
        if (instant) startAt = instant.toISOString();
        else fieldErrors.start_at = "must be a local date and time such as 2026-12-01 09:00";
      } catch {
        // An unknown zone (RangeError): the schema names Time zone below.
      }
    }
  }

  // A file with no zone at all and an empty Time zone is one problem, on the form's
  // field, not the same line problem for every driver.
  const drivers = csv?.drivers ?? [];
  const noZoneAnywhere =
    values.time_zone === "" &&
    drivers.length > 0 &&
    drivers.every((driver) => driver.time_zone === undefined);
  if (noZoneAnywhere) {
    fieldErrors.time_zone =
      "no driver in the file has a time_zone: choose the time zone the drivers are in";
  }

  const request = {
    name: values.name === "" ? undefined : values.name,
    time_zone: values.time_zone === "" ? undefined : values.time_zone,
    calling_window: { start: values.calls_from, end: values.calls_until, days: values.days },
    start_at: startAt,
    retry: { max_attempts: attempts ?? 3, backoff_minutes: backoff ?? 60 },
    drivers,
  };
  const parsed = createCampaignRequestSchema.safeParse(request, { error: consoleIssueWording });
  if (parsed.success && Object.keys(fieldErrors).length === 0 && csvProblems.isEmpty) {
    return { ok: true, request: parsed.data };
  }

  for (const issue of parsed.success ? [] : parsed.error.issues) {
    const noZone = issue.message.includes(NO_ZONE_AT_ALL);
    if (noZone && noZoneAnywhere) continue;
    const at = csv?.locate(issue.path) ?? null;
    if (at) {
      // A cell the file's own checks named already (empty, not a number, not a phone
      // number) is listed once, in their words.
      if (at.reported) continue;
      csvProblems.add({
        line: at.line,
        column: at.column,
        message: noZone
          ? "is empty and the form's Time zone is empty: fill in one of them"
          : issue.message,
        value: noZone ? undefined : at.value,
      });
      continue;
    }
    const field = fieldOf(issue.path);
    if (field === "drivers") {
      // A file with problems of its own, or none chosen, says so already.
      if (fieldErrors.drivers || !csvProblems.isEmpty) continue;
      fieldErrors.drivers =
        drivers.length === 0 ? "the file has no driver rows under its header" : issue.message;
      continue;
    }
    fieldErrors[field] ??= issue.message;
  }
  return { ok: false, fieldErrors, csvProblems };
}
