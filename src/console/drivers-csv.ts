// The console's drivers file: CSV -> the `drivers` of a campaign request, with every
// problem named by its line and column. Pure (no I/O), so it is unit-tested directly.
//
// The file: a header row, then one row per violation; columns are found by their header
// name (any order; other columns are ignored):
//   driver_id, phone_number, driver_name, time_zone (may be empty, or missing), violation_code,
//   violation_description, violation_occurred_at
// Rows with the same driver_id are one driver with several violations; they must agree on
// phone_number, driver_name and time_zone. UTF-8 with or without a byte-order mark, CRLF
// or LF line ends, RFC 4180 quoting (commas, quotes and line breaks inside quoted cells).
//
// This module checks what only the file can get wrong (columns, cells that are not a
// number, rows of one driver that disagree, too many drivers). What a valid driver is
// (E.164 numbers, IANA zones, instants with an offset, lengths) is decided by the same zod
// schema as POST /campaigns (createCampaignRequestSchema), whose issues `locate` turns back
// into lines and columns: the rules are not copied here.
//
// Line numbers are the ones a spreadsheet shows: the header is line 1 and each record is
// one line, even when a quoted cell holds a line break; blank lines count but are skipped.
//
// Parsed with papaparse: pure JavaScript with no Node or DOM dependency (it runs in a
// Worker as is), RFC 4180 quoting including line breaks in quoted cells, small (about
// 7 KiB gzipped), and already used for the results CSV.
import Papa from "papaparse";
import { MAX_DRIVERS_PER_CAMPAIGN } from "../campaigns/schemas";

export const MAX_CSV_BYTES = 5 * 1024 * 1024;

export const DRIVER_CSV_COLUMNS = [
  "driver_id",
  "phone_number",
  "driver_name",
  "time_zone",
  "violation_code",
  "violation_description",
  "violation_occurred_at",
] as const;
type Column = (typeof DRIVER_CSV_COLUMNS)[number];

/** Every column but time_zone must be in the header and filled in on every row. */
const REQUIRED_COLUMNS: readonly Column[] = DRIVER_CSV_COLUMNS.filter(
  (column) => column !== "time_zone",
);

/** The file offered by the console's `CSV template` link. */
export const DRIVERS_CSV_TEMPLATE = [
  DRIVER_CSV_COLUMNS.join(","),
  '1042,+15551230042,Ana Ruiz,America/Denver,HOS_11H,"Exceeded the 11-hour driving limit",2026-11-20T14:05:00-06:00',
  '1042,+15551230042,Ana Ruiz,America/Denver,SPEED_15,"15 mph over the limit, I-25",2026-11-21T09:00:00-06:00',
  "1043,+15551230486,Bo Lee,,INSP_OOS,Out-of-service at inspection,2026-11-22T11:30:00-06:00",
  "",
].join("\r\n");

export interface CsvProblem {
  line: number;
  column: string;
  message: string;
}

/** `Line N: column: what is wrong`, as the form lists it. */
export function formatProblem(problem: CsvProblem): string {
  return `Line ${problem.line}: ${problem.column}: ${problem.message}`;
}

/** The first `limit` problems in line order, and how many more there are ("and K more"). */
export function firstProblems(
  problems: readonly CsvProblem[],
  limit = 100,
): { shown: string[]; more: number } {
  const sorted = sortProblems(problems);
  return {
    shown: sorted.slice(0, limit).map(formatProblem),
    more: Math.max(0, sorted.length - limit),
  };
}

export function sortProblems(problems: readonly CsvProblem[]): CsvProblem[] {
  const order = (column: string) => {
    const index = (DRIVER_CSV_COLUMNS as readonly string[]).indexOf(column);
    return index === -1 ? DRIVER_CSV_COLUMNS.length : index;
  };
  return [...problems].sort((a, b) => a.line - b.line || order(a.column) - order(b.column));
}

/** A driver as the campaign request takes it; driver_id stays text when it is not a number. */
export interface CsvDriver {
  driver_id: number | string;
  phone_number: string;
  driver_name: string;
  time_zone?: string;
  violations: { code: string; description: string; occurred_at: string }[];
}

export interface DriversCsv {
  /** At most MAX_DRIVERS_PER_CAMPAIGN, in the order of their first row. */
  drivers: CsvDriver[];
  /** What is wrong with the file itself (the schema's findings come through `locate`). */
  problems: CsvProblem[];
  /** The line and column a request path (`drivers.3.violations.1.occurred_at`) came from. */
  locate(path: readonly PropertyKey[]): { line: number; column: string } | null;
}

const VIOLATION_COLUMNS: Readonly<Record<string, Column>> = {
  code: "violation_code",
  description: "violation_description",
  occurred_at: "violation_occurred_at",
};

interface DriverSource {
  firstLine: number;
  violationLines: number[];
}

/** Reads the file's bytes (or its text) into campaign drivers and the file's problems. */
export function parseDriversCsv(input: Uint8Array | ArrayBuffer | string): DriversCsv {
  const problems: CsvProblem[] = [];
  const drivers: CsvDriver[] = [];
  const sources: DriverSource[] = [];
  const locate = (path: readonly PropertyKey[]) => locateIn(sources, path);

  // Not fatal on bad bytes: a cell that holds one is named below, with its line.
  // TextDecoder drops a leading byte-order mark (ignoreBOM: false).
  const text = typeof input === "string" ? input.replace(/^\uFEFF/, "") : decodeUtf8(input);
  const parsed = Papa.parse<string[]>(text, { delimiter: ",", skipEmptyLines: false });
  const rows = parsed.data;
  for (const error of parsed.errors) {
    if (error.type !== "Quotes") continue;
    problems.push({
      line: (error.row ?? 0) + 1,
      column: "quotes",
      message:
        error.code === "MissingQuotes"
          ? "a quoted cell is never closed (a quote is missing)"
          : "a closing quote is followed by more text in the same cell",
    });
  }

  const header = (rows[0] ?? []).map((name) => name.trim().toLowerCase());
  if (header.length === 0 || header.every((name) => name === "")) {
    problems.push({
      line: 1,
      column: "header",
      message: "the file is empty: a header row comes first",
    });
    return { drivers, problems, locate };
  }
  const columnIndex = new Map<Column, number>();
  header.forEach((name, index) => {
    if (!(DRIVER_CSV_COLUMNS as readonly string[]).includes(name)) return;
    if (columnIndex.has(name as Column)) {
      problems.push({ line: 1, column: name, message: "is in the header twice" });
    } else {
      columnIndex.set(name as Column, index);
    }
  });
  const missing = REQUIRED_COLUMNS.filter((column) => !columnIndex.has(column));
  if (missing.length > 0) {
    const semicolons = header.length === 1 && (rows[0]?.[0] ?? "").includes(";");
    for (const column of missing) {
      problems.push({
        line: 1,
        column,
        message: semicolons
          ? "column is missing: separate the columns with commas, not semicolons"
          : "column is missing from the header",
      });
    }
    return { drivers, problems, locate };
  }

  const byKey = new Map<string, number>();
  let refusedDrivers = false;
  rows.slice(1).forEach((cells, index) => {
    const line = index + 2;
    if (cells.every((cell) => cell.trim() === "")) return;
    const cell = (column: Column) => {
      const at = columnIndex.get(column);
      return at === undefined ? "" : (cells[at] ?? "").trim();
    };
    for (const column of DRIVER_CSV_COLUMNS) {
      const value = cell(column);
      if (value.includes("\uFFFD")) {
        problems.push({ line, column, message: "is not UTF-8 text: save the file as CSV UTF-8" });
      } else if (value === "" && REQUIRED_COLUMNS.includes(column)) {
        problems.push({ line, column, message: "is empty" });
      }
    }
    const extra = cells.findIndex((value, at) => at >= header.length && value.trim() !== "");
    if (extra !== -1) {
      problems.push({
        line,
        column: `column ${extra + 1}`,
        message: `has a value but the header has only ${header.length} columns`,
      });
    }

    const rawId = cell("driver_id");
    const numericId = /^\d{1,10}$/.test(rawId) ? Number(rawId) : null;
    if (rawId !== "" && numericId === null) {
      problems.push({ line, column: "driver_id", message: "must be a whole number such as 1042" });
    }
    const key = numericId === null ? `text:${rawId}` : `id:${numericId}`;
    const violation = {
      code: cell("violation_code"),
      description: cell("violation_description"),
      occurred_at: cell("violation_occurred_at"),
    };
    const known = byKey.get(key);
    if (known !== undefined) {
      const driver = drivers[known] as CsvDriver;
      const source = sources[known] as DriverSource;
      const agree: [Column, string, string][] = [
        ["phone_number", driver.phone_number, cell("phone_number")],
        ["driver_name", driver.driver_name, cell("driver_name")],
        ["time_zone", driver.time_zone ?? "", cell("time_zone")],
      ];
      for (const [column, first, here] of agree) {
        if (first !== here) {
          problems.push({
            line,
            column,
            message: `driver ${rawId} has ${first === "" ? "none" : JSON.stringify(first)} on line ${source.firstLine}: every row of a driver must agree`,
          });
        }
      }
      driver.violations.push(violation);
      source.violationLines.push(line);
      return;
    }
    if (drivers.length >= MAX_DRIVERS_PER_CAMPAIGN) {
      if (!refusedDrivers) {
        refusedDrivers = true;
        problems.push({
          line,
          column: "driver_id",
          message: `is driver number ${(MAX_DRIVERS_PER_CAMPAIGN + 1).toLocaleString("en-US")}: a campaign takes at most ${MAX_DRIVERS_PER_CAMPAIGN.toLocaleString("en-US")} drivers`,
        });
      }
      return;
    }
    const timeZone = cell("time_zone");
    byKey.set(key, drivers.length);
    drivers.push({
      driver_id: numericId ?? rawId,
      phone_number: cell("phone_number"),
      driver_name: cell("driver_name"),
      ...(timeZone === "" ? {} : { time_zone: timeZone }),
      violations: [violation],
    });
    sources.push({ firstLine: line, violationLines: [line] });
  });
  return { drivers, problems, locate };
}

function decodeUtf8(input: Uint8Array | ArrayBuffer): string {
  return new TextDecoder("utf-8", { fatal: false, ignoreBOM: false }).decode(input);
}

function locateIn(
  sources: readonly DriverSource[],
  path: readonly PropertyKey[],
): { line: number; column: string } | null {
  const [root, driverIndex, field, violationIndex, violationField] = path;
  if (root !== "drivers" || typeof driverIndex !== "number") return null;
  const source = sources[driverIndex];
  if (!source) return null;
  if (field === "violations") {
    if (typeof violationIndex !== "number") return { line: source.firstLine, column: "violations" };
    const line = source.violationLines[violationIndex] ?? source.firstLine;
    const column =
      typeof violationField === "string"
        ? (VIOLATION_COLUMNS[violationField] ?? "violations")
        : "violations";
    return { line, column };
  }
  return {
    line: source.firstLine,
    column: typeof field === "string" ? field : "driver_id",
  };
}
