// The console's "New campaign" form -> a POST /campaigns request, validated by the API's
// own schema (createCampaignRequestSchema), its issues handed back to the form: a field's
// to that field, a driver's to its CSV line and column. Pure, like drivers-csv.ts.
import { utcOffsetAt, WEEKDAYS } from "../calling-rules/time-zone";
import { type CreateCampaignRequest, createCampaignRequestSchema } from "../campaigns/schemas";
import { IDEMPOTENCY_KEY } from "../http/idempotency";
import type { CsvProblem, DriversCsv } from "./drivers-csv";

export interface CampaignFormValues {
  name: string;
  time_zone: string;
  calls_from: string;
  calls_until: string;
  days: string[];
  start_at: string;
  attempts: string;
  backoff_minutes: string;
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
    idempotency_key: text(body.idempotency_key),
  };
}

/** The form's idempotency key when it is one (1..255 printable ASCII), else undefined. */
export function idempotencyKeyOf(values: CampaignFormValues): string | undefined {
  return IDEMPOTENCY_KEY.test(values.idempotency_key) ? values.idempotency_key : undefined;
}

export type CampaignFormResult =
  | { ok: true; request: CreateCampaignRequest }
  | { ok: false; fieldErrors: Partial<Record<FormField, string>>; csvProblems: CsvProblem[] };

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

/**
 * Builds the campaign request from the form and the parsed file, and validates it with
 * the API's schema. `fileError` is a problem with the file as a whole (none chosen, too
 * large); then `csv` is null.
 */
export function campaignRequestFrom(
  values: CampaignFormValues,
  csv: DriversCsv | null,
  fileError?: string,
): CampaignFormResult {
  const fieldErrors: Partial<Record<FormField, string>> = {};
  const csvProblems: CsvProblem[] = [...(csv?.problems ?? [])];
  if (fileError) fieldErrors.drivers = fileError;
  if (values.name === "") fieldErrors.name = "give the campaign a name";

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

  const request = {
    name: values.name === "" ? undefined : values.name,
    time_zone: values.time_zone === "" ? undefined : values.time_zone,
    calling_window: { start: values.calls_from, end: values.calls_until, days: values.days },
    start_at: startAt,
    retry: { max_attempts: attempts ?? 3, backoff_minutes: backoff ?? 60 },
    drivers: csv?.drivers ?? [],
  };
  const parsed = createCampaignRequestSchema.safeParse(request);
  if (parsed.success && Object.keys(fieldErrors).length === 0 && csvProblems.length === 0) {
    return { ok: true, request: parsed.data };
  }

  const reported = new Set(csvProblems.map((problem) => `${problem.line}:${problem.column}`));
  for (const issue of parsed.success ? [] : parsed.error.issues) {
    const at = csv?.locate(issue.path) ?? null;
    if (at) {
      // A cell already reported by the file's own checks (empty, not a number) once only.
      const key = `${at.line}:${at.column}`;
      if (reported.has(key)) continue;
      reported.add(key);
      csvProblems.push({ ...at, message: consoleWording(issue.message) });
      continue;
    }
    const field = fieldOf(issue.path);
    if (field === "drivers") {
      // A file with problems of its own, or none chosen, says so already.
      if (fieldErrors.drivers || csvProblems.length > 0) continue;
      fieldErrors.drivers =
        (csv?.drivers.length ?? 0) === 0
          ? "the file has no driver rows under its header"
          : consoleWording(issue.message);
      continue;
    }
    fieldErrors[field] ??= consoleWording(issue.message);
  }
  return { ok: false, fieldErrors, csvProblems };
}

/** The API's wording where it names a JSON field the form calls otherwise. */
function consoleWording(message: string): string {
  if (message.includes("no default time_zone")) {
    return "is empty and the form's Time zone is empty: fill in one of them";
  }
  return message;
}
