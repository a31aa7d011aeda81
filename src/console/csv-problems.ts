// The problems of a drivers file, as a person would list them: the same problem on many
// lines is one entry with its lines and the value found,
//   Lines 2-40, 97: phone_number: has the wrong number of digits for a US number: found "12345" on line 2, and other values
// in line order, the first 100 and then "and K more".
//
// Memory stays bounded whatever the file holds (5 MiB of bad rows is half a million
// problems): problems are grouped as they arrive, by column and wording, and a group keeps
// its lines as ranges, at most MAX_RANGES_KEPT of them (the earliest), counting the rest.
// Wordings are a fixed set apart from the "rows of one driver must agree" ones, which
// name a driver, so there are at most a few per driver.
export interface CsvProblem {
  /** The line as a spreadsheet numbers it (the header is line 1). */
  line: number;
  /** A column of the file, or `header`, `quotes`, `column N`. */
  column: string;
  /** What is wrong, without the value (so that the same problem groups). */
  message: string;
  /** The cell as found, when showing it helps (not for an empty cell). */
  value?: string;
}

/** How much of a value an entry shows. */
export const VALUE_SHOWN_CHARACTERS = 40;
/** How many line ranges an entry lists before "and N more lines". */
const RANGES_SHOWN = 20;
/** How many line ranges a group keeps (the earliest). */
const MAX_RANGES_KEPT = 50;

interface Group {
  column: string;
  message: string;
  /** Sorted, disjoint, not adjacent: [start, end] inclusive. */
  ranges: [number, number][];
  /** Lines past the kept ranges. */
  linesNotKept: number;
  firstValue: string | undefined;
  firstValueLine: number;
  otherValues: boolean;
}

export interface ProblemEntry {
  firstLine: number;
  column: string;
  text: string;
}

/** `"value"` cut to 40 characters (whole code points), control characters as spaces. */
export function shownValue(value: string): string {
  const characters = Array.from(value.replace(/[\u0000-\u001f\u007f]/g, " "));
  const cut =
    characters.length > VALUE_SHOWN_CHARACTERS
      ? `${characters.slice(0, VALUE_SHOWN_CHARACTERS - 1).join("")}…`
      : characters.join("");
  return `"${cut}"`;
}

export class ProblemList {
  private readonly groups = new Map<string, Group>();
  private readonly columns: readonly string[];

  /** `columns`: the file's columns in the order entries on one line are listed. */
  constructor(columns: readonly string[] = []) {
    this.columns = columns;
  }

  /** Adds a problem; the same problem on the same line twice counts once. */
  add(problem: CsvProblem): void {
    const key = `${problem.column}\u0000${problem.message}`;
    let group = this.groups.get(key);
    if (!group) {
      group = {
        column: problem.column,
        message: problem.message,
        ranges: [],
        linesNotKept: 0,
        firstValue: undefined,
        firstValueLine: 0,
        otherValues: false,
      };
      this.groups.set(key, group);
    }
    if (!addLine(group, problem.line)) return;
    if (problem.value === undefined || problem.value === "") return;
    if (group.firstValue === undefined || problem.line < group.firstValueLine) {
      if (group.firstValue !== undefined && group.firstValue !== problem.value) {
        group.otherValues = true;
      }
      group.firstValue = problem.value;
      group.firstValueLine = problem.line;
    } else if (problem.value !== group.firstValue) {
      group.otherValues = true;
    }
  }

  get isEmpty(): boolean {
    return this.groups.size === 0;
  }

  /** Entries in line order (then column order), each as the form lists it. */
  entries(): ProblemEntry[] {
    const columnOrder = (column: string) => {
      const index = this.columns.indexOf(column);
      return index === -1 ? this.columns.length : index;
    };
    return [...this.groups.values()]
      .map((group) => ({
        firstLine: group.ranges[0]?.[0] ?? 0,
        column: group.column,
        text: formatGroup(group),
      }))
      .sort((a, b) => a.firstLine - b.firstLine || columnOrder(a.column) - columnOrder(b.column));
  }

  /** The first `limit` entries' text, and how many more there are ("and K more"). */
  firstEntries(limit = 100): { shown: string[]; more: number } {
    const entries = this.entries();
    return {
      shown: entries.slice(0, limit).map((entry) => entry.text),
      more: Math.max(0, entries.length - limit),
    };
  }
}

/** Puts `line` into the group's ranges; false when it was there already. */
function addLine(group: Group, line: number): boolean {
  const { ranges } = group;
  // The first range that ends at or after line - 1 (the one line may join or precede).
  let low = 0;
  let high = ranges.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if ((ranges[middle] as [number, number])[1] < line - 1) low = middle + 1;
    else high = middle;
  }
  const at = ranges[low];
  if (at && at[0] <= line && line <= at[1]) return false;
  if (at && at[1] === line - 1) {
    at[1] = line;
    const next = ranges[low + 1];
    if (next && next[0] === line + 1) {
      at[1] = next[1];
      ranges.splice(low + 1, 1);
    }
    return true;
  }
  if (at && at[0] === line + 1) {
    at[0] = line;
    return true;
  }
  if (low >= MAX_RANGES_KEPT) {
    // Past the kept ranges: counted, not kept (it might repeat a line not kept; the count
    // is then a little high, which "and N more lines" can afford).
    group.linesNotKept++;
    return true;
  }
  ranges.splice(low, 0, [line, line]);
  if (ranges.length > MAX_RANGES_KEPT) {
    const [start, end] = ranges.pop() as [number, number];
    group.linesNotKept += end - start + 1;
  }
  return true;
}

function formatGroup(group: Group): string {
  const shown = group.ranges
    .slice(0, RANGES_SHOWN)
    .map(([start, end]) => (start === end ? `${start}` : `${start}-${end}`));
  const moreLines =
    group.ranges.slice(RANGES_SHOWN).reduce((sum, [start, end]) => sum + end - start + 1, 0) +
    group.linesNotKept;
  const single = group.ranges.length === 1 && group.ranges[0]?.[0] === group.ranges[0]?.[1];
  const lines =
    single && moreLines === 0
      ? `Line ${shown[0]}`
      : `Lines ${shown.join(", ")}${moreLines > 0 ? ` and ${moreLines} more` : ""}`;
  let found = "";
  if (group.firstValue !== undefined) {
    found = group.otherValues
      ? `: found ${shownValue(group.firstValue)} on line ${group.firstValueLine}, and other values`
      : `: found ${shownValue(group.firstValue)}`;
  }
  return `${lines}: ${group.column}: ${group.message}${found}`;
}
