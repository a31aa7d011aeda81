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
// Phone numbers may be written as people write them (phone-number.ts).
//
// This module checks what only the file can get wrong (columns, cells that are not a
// number, rows of one driver that disagree, too many drivers). What a valid driver is
// (E.164 numbers, IANA zones, instants with an offset, lengths) is decided by the API's
// own schemas: each row's violation by `violationSchema` here, as it is read, and the
// drivers by createCampaignRequestSchema (campaign-form.ts), whose issues `locate` turns
// back into lines and columns. The rules are not copied here.
//
// Line numbers are the ones a spreadsheet shows: the header is line 1 and each record is
// one line, even when a quoted cell holds a line break; blank lines count but are skipped.
//
// Bounded memory, whatever the 5 MiB hold (a Worker has 128 MB): the file is read row by
// row (papaparse's step mode, so no array of every row is ever built, and not its fast
// mode, which splits the whole text into lines first); blank rows are counted and dropped;
// problems are grouped as they come (csv-problems.ts); a violation is kept only when its
// cells are good, and at most 50 per driver (the schema's most), so what is kept is the
// campaign, not the file's mistakes.
//
// Parsed with papaparse: pure JavaScript with no Node or DOM dependency (it runs in a
// Worker as is), RFC 4180 quoting including line breaks in quoted cells, small (about
// 7 KiB gzipped), and already used for the results CSV.
import type { CountryCode } from "libphonenumber-js/min";
import Papa from "papaparse";
import { violationSchema } from "../calls/schemas";
import { MAX_DRIVERS_PER_CAMPAIGN } from "../campaigns/schemas";
import { ProblemList } from "./csv-problems";
import { consoleIssueWording } from "./issue-wording";
import { DEFAULT_PHONE_COUNTRY, readPhoneNumber } from "./phone-number";

export const MAX_CSV_BYTES = 5 * 1024 * 1024;
/** The schema's most violations per driver (driverSchema: violations .max(50)). */
const MAX_VIOLATIONS_PER_DRIVER = 50;
/** More cells than this on one line and the file is not read (firstLineWithTooManyCells). */
const MAX_CELLS_PER_LINE = 10_000;

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
  "1043,(555) 123-0486,Bo Lee,,INSP_OOS,Out-of-service at inspection,2026-11-22T11:30:00-06:00",
  "",
].join("\r\n");

/** A driver as the campaign request takes it; driver_id stays text when it is not a number. */
export interface CsvDriver {
  driver_id: number | string;
  /** E.164 when the cell could be read as a number, else the cell as found. */
  phone_number: string;
  driver_name: string;
  time_zone?: string;
  violations: { code: string; description: string; occurred_at: string }[];
}

/** Where a request path (`drivers.3.violations.1.occurred_at`) came from in the file. */
export interface CsvLocation {
  line: number;
  column: string;
  /** The cell as the request holds it. */
  value?: string;
  /** The file's own checks named this cell (or the driver's rows) already. */
  reported: boolean;
}

export interface DriversCsv {
  /** At most MAX_DRIVERS_PER_CAMPAIGN, in the order of their first row. */
  drivers: CsvDriver[];
  /** What is wrong with the file (the drivers' schema findings are added by the form). */
  problems: ProblemList;
  locate(path: readonly PropertyKey[]): CsvLocation | null;
}

export interface DriversCsvOptions {
  /** Country for numbers written without +: an ISO code, or null when the form's is not one. */
  phoneCountry?: CountryCode | null;
}

const VIOLATION_COLUMNS: Readonly<Record<string, Column>> = {
  code: "violation_code",
  description: "violation_description",
  occurred_at: "violation_occurred_at",
};

const bit = (column: Column) => 1 << DRIVER_CSV_COLUMNS.indexOf(column);
const VIOLATION_BITS =
  bit("violation_code") | bit("violation_description") | bit("violation_occurred_at");

interface DriverSource {
  firstLine: number;
  /** The phone_number cell of the first row, as written. */
  phoneText: string;
  /** The line of each kept violation. */
  violationLines: number[];
  /** Columns of the first row the file's checks named (bit per DRIVER_CSV_COLUMNS). */
  reported: number;
  /** A row of this driver was not kept because of a problem in its violation cells. */
  violationRowsDropped: boolean;
}

/** Reads the file's bytes (or its text) into campaign drivers and the file's problems. */
export function parseDriversCsv(
  input: Uint8Array | ArrayBuffer | string,
  options: DriversCsvOptions = {},
): DriversCsv {
  const phoneCountry =
    options.phoneCountry === undefined ? DEFAULT_PHONE_COUNTRY : options.phoneCountry;
  const problems = new ProblemList(DRIVER_CSV_COLUMNS);
  const drivers: CsvDriver[] = [];
  const sources: DriverSource[] = [];
  const byKey = new Map<string, number>();
  const columnIndex = new Map<Column, number>();
  let headerLength = 0;
  let line = 0;
  let refusedDrivers = false;

  // Not fatal on bad bytes: a cell that holds one is named below, with its line.
  // TextDecoder drops a leading byte-order mark (ignoreBOM: false).
  const text = typeof input === "string" ? input.replace(/^\uFEFF/, "") : decodeUtf8(input);

  const readHeader = (cells: string[], stop: () => void) => {
    const header = cells.map((name) => name.trim().toLowerCase());
    if (header.every((name) => name === "")) {
      problems.add({
        line: 1,
        column: "header",
        message: "the file is empty: a header row comes first",
      });
      stop();
      return;
    }
    headerLength = header.length;
    header.forEach((name, index) => {
      if (!(DRIVER_CSV_COLUMNS as readonly string[]).includes(name)) return;
      if (columnIndex.has(name as Column)) {
        problems.add({ line: 1, column: name, message: "is in the header twice" });
      } else {
        columnIndex.set(name as Column, index);
      }
    });
    const missing = REQUIRED_COLUMNS.filter((column) => !columnIndex.has(column));
    if (missing.length === 0) return;
    const semicolons = header.length === 1 && (cells[0] ?? "").includes(";");
    for (const column of missing) {
      problems.add({
        line: 1,
        column,
        message: semicolons
          ? "column is missing: separate the columns with commas, not semicolons"
          : "column is missing from the header",
      });
    }
    stop();
  };

  const readRow = (cells: string[]) => {
    if (cells.every((cell) => cell.trim() === "")) return;
    let reported = 0;
    const report = (column: Column, message: string, value?: string) => {
      reported |= bit(column);
      problems.add({ line, column, message, value });
    };
    const cell = (column: Column) => {
      const at = columnIndex.get(column);
      return at === undefined ? "" : (cells[at] ?? "").trim();
    };
    const rawId = cell("driver_id");
    const numericId = /^\d{1,10}$/.test(rawId) ? Number(rawId) : null;
    const key = numericId === null ? `text:${rawId}` : `id:${numericId}`;
    let index = byKey.get(key);
    if (index === undefined && drivers.length >= MAX_DRIVERS_PER_CAMPAIGN) {
      // Refused as a whole: its cells are not read further (nor its number, whose reading
      // is the costly part of a row).
      if (!refusedDrivers) {
        refusedDrivers = true;
        problems.add({
          line,
          column: "driver_id",
          message: `is driver number ${(MAX_DRIVERS_PER_CAMPAIGN + 1).toLocaleString("en-US")}: a campaign takes at most ${MAX_DRIVERS_PER_CAMPAIGN.toLocaleString("en-US")} drivers`,
        });
      }
      return;
    }
    for (const column of DRIVER_CSV_COLUMNS) {
      const value = cell(column);
      if (value.includes("\uFFFD")) {
        report(column, "is not UTF-8 text: save the file as CSV UTF-8", value);
      } else if (value === "" && REQUIRED_COLUMNS.includes(column)) {
        report(column, "is empty");
      }
    }
    const extra = cells.findIndex((value, at) => at >= headerLength && value.trim() !== "");
    if (extra !== -1) {
      problems.add({
        line,
        column: `column ${extra + 1}`,
        message: `has a value but the header has only ${headerLength} columns`,
        value: cells[extra],
      });
    }

    if (rawId !== "" && numericId === null) {
      report("driver_id", "must be a whole number such as 1042", rawId);
    }
    const known = index === undefined ? null : (sources[index] as DriverSource);
    if (
      known &&
      (drivers[index as number] as CsvDriver).violations.length >= MAX_VIOLATIONS_PER_DRIVER
    ) {
      report(
        "driver_id",
        `has more than ${MAX_VIOLATIONS_PER_DRIVER} violation rows: a driver takes at most ${MAX_VIOLATIONS_PER_DRIVER}`,
        rawId,
      );
      return;
    }

    const phoneText = cell("phone_number");
    let phoneNumber = phoneText;
    if (known && phoneText === known.phoneText) {
      // Written as on the driver's first row: read (and named, if wrong) there.
      phoneNumber = (drivers[index as number] as CsvDriver).phone_number;
    } else if (!(reported & bit("phone_number"))) {
      const reading = readPhoneNumber(phoneText, phoneCountry);
      if (reading.ok) phoneNumber = reading.e164;
      else report("phone_number", reading.message, phoneText);
    }
    const violation = {
      code: cell("violation_code"),
      description: cell("violation_description"),
      occurred_at: cell("violation_occurred_at"),
    };

    if (index !== undefined) {
      const first = drivers[index] as CsvDriver;
      const agree: [Column, string, string][] = [
        ["phone_number", first.phone_number, phoneNumber],
        ["driver_name", first.driver_name, cell("driver_name")],
        ["time_zone", first.time_zone ?? "", cell("time_zone")],
      ];
      for (const [column, there, here] of agree) {
        if (there !== here && !(reported & bit(column))) {
          report(
            column,
            `driver ${rawId} has ${there === "" ? "none" : JSON.stringify(there)} on line ${(known as DriverSource).firstLine}: every row of a driver must agree`,
            column === "phone_number" ? phoneText : here,
          );
        }
      }
    } else {
      const timeZone = cell("time_zone");
      index = drivers.length;
      byKey.set(key, index);
      drivers.push({
        driver_id: numericId ?? rawId,
        phone_number: phoneNumber,
        driver_name: cell("driver_name"),
        ...(timeZone === "" ? {} : { time_zone: timeZone }),
        violations: [],
      });
      sources.push({
        firstLine: line,
        phoneText,
        violationLines: [],
        reported,
        violationRowsDropped: false,
      });
    }

    const driver = drivers[index] as CsvDriver;
    const source = sources[index] as DriverSource;
    // The API's own rule for a violation, checked as the row is read, so that only good
    // violations are kept (and the cells the checks above named are not named twice).
    const checked = violationSchema.safeParse(violation, { error: consoleIssueWording });
    if (!checked.success) {
      for (const issue of checked.error.issues) {
        const column = VIOLATION_COLUMNS[String(issue.path[0])] ?? "violation_code";
        if (reported & bit(column)) continue;
        report(column, issue.message, violation[issue.path[0] as keyof typeof violation]);
      }
    }
    if (reported & VIOLATION_BITS) {
      source.violationRowsDropped = true;
      return;
    }
    driver.violations.push(violation);
    source.violationLines.push(line);
  };

  const overlong = firstLineWithTooManyCells(text);
  if (overlong !== null) {
    problems.add({
      line: overlong,
      column: "columns",
      message: `has more than ${MAX_CELLS_PER_LINE.toLocaleString("en-US")} cells: this is not a drivers file (it has ${DRIVER_CSV_COLUMNS.length} columns)`,
    });
    return { drivers, problems, locate: () => null };
  }

  Papa.parse<string[]>(text, {
    delimiter: ",",
    skipEmptyLines: false,
    fastMode: false,
    step: (results, parser) => {
      line++;
      for (const error of results.errors) {
        if (error.type !== "Quotes") continue;
        problems.add({
          line,
          column: "quotes",
          message:
            error.code === "MissingQuotes"
              ? "a quoted cell is never closed (a quote is missing)"
              : "a closing quote is followed by more text in the same cell",
        });
      }
      if (line === 1) readHeader(results.data, () => parser.abort());
      else readRow(results.data);
    },
  });
  if (line === 0) {
    problems.add({
      line: 1,
      column: "header",
      message: "the file is empty: a header row comes first",
    });
  }

  const locate = (path: readonly PropertyKey[]) => locateIn(drivers, sources, path);
  return { drivers, problems, locate };
}

/**
 * The first line (counting every line break) with more than MAX_CELLS_PER_LINE commas, or
 * null. papaparse builds a row's cells in one array before handing it over, so one 5 MiB
 * row of commas is five million cells: 110 MB of heap while the array grows. No drivers
 * file comes near the limit (7 columns, cells of at most 500 characters), and counting
 * commas is one pass over the text.
 */
function firstLineWithTooManyCells(text: string): number | null {
  let line = 1;
  let commas = 0;
  for (let at = 0; at < text.length; at++) {
    const code = text.charCodeAt(at);
    if (code === 44) {
      if (++commas > MAX_CELLS_PER_LINE) return line;
    } else if (code === 10) {
      line++;
      commas = 0;
    }
  }
  return null;
}

function decodeUtf8(input: Uint8Array | ArrayBuffer): string {
  return new TextDecoder("utf-8", { fatal: false, ignoreBOM: false }).decode(input);
}

function locateIn(
  drivers: readonly CsvDriver[],
  sources: readonly DriverSource[],
  path: readonly PropertyKey[],
): CsvLocation | null {
  const [root, driverIndex, field, violationIndex, violationField] = path;
  if (root !== "drivers" || typeof driverIndex !== "number") return null;
  const source = sources[driverIndex];
  const driver = drivers[driverIndex];
  if (!source || !driver) return null;
  if (field === "violations") {
    if (typeof violationIndex !== "number") {
      // The list itself (none kept): its rows were named already, or it has none.
      return {
        line: source.firstLine,
        column: "violations",
        reported: source.violationRowsDropped,
      };
    }
    const line = source.violationLines[violationIndex] ?? source.firstLine;
    const violation = driver.violations[violationIndex];
    const column =
      typeof violationField === "string"
        ? (VIOLATION_COLUMNS[violationField] ?? "violations")
        : "violations";
    const value =
      violation && typeof violationField === "string"
        ? violation[violationField as keyof typeof violation]
        : undefined;
    return { line, column, value, reported: false };
  }
  const column =
    typeof field === "string" && (DRIVER_CSV_COLUMNS as readonly string[]).includes(field)
      ? (field as Column)
      : "driver_id";
  const value = driver[column as keyof CsvDriver];
  return {
    line: source.firstLine,
    column,
    value: typeof value === "string" || typeof value === "number" ? String(value) : undefined,
    reported: (source.reported & bit(column)) !== 0,
  };
}
