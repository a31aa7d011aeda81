// The measuring loop and the tables of `npm run bench:scale` (scripts/bench-scale.ts).
import type { ScaleSizes } from "./scale-seed.ts";
import {
  type CapturedStatement,
  planText,
  type RollbackTransport,
  scansOf,
} from "./scale-transport.ts";

export const RUNS = Number(process.env.SCALE_RUNS ?? 5);

export interface Step {
  label: string;
  statements: CapturedStatement[];
}

export interface Measure {
  /** Short key (the fixes pick the measures they redo by it). */
  id: string;
  name: string;
  /** ms of database time (Execution Time, summed over the statements); null: information only. */
  target: number | null;
  /** Calls the service's functions through `step`; `run` is 0 for the warm-up. */
  run(step: StepFn, run: number): Promise<void>;
}

export type StepFn = (label: string, work: () => Promise<unknown>) => Promise<void>;

export interface MeasureResult {
  name: string;
  target: number | null;
  execMs: number[];
  planMs: number[];
  wallMs: number[];
  /** The steps of the last run, statements explained. */
  steps: Step[];
  /** Per step: execution ms of each run. */
  stepExecMs: Record<string, number[]>;
  error?: string;
}

export async function measure(
  transport: RollbackTransport,
  item: Measure,
  options: { rewrite?: (query: string) => string; setup?: string[]; runs?: number } = {},
): Promise<MeasureResult> {
  const runs = options.runs ?? RUNS;
  const result: MeasureResult = {
    name: item.name,
    target: item.target,
    execMs: [],
    planMs: [],
    wallMs: [],
    steps: [],
    stepExecMs: {},
  };
  try {
    for (let run = 0; run <= runs; run++) {
      // The runs before left dead row versions (rolled back): gone, as autovacuum would
      // have them, so that every run starts from the same tables.
      await transport.pg.query("VACUUM campaign_targets, campaigns, calls, live_call_slots");
      const steps: (Step & { from: number; to: number })[] = [];
      const { statements } = await transport.session(
        () =>
          item.run(async (label, work) => {
            const from = transport.capturedCount;
            await work();
            steps.push({ label, statements: [], from, to: transport.capturedCount });
          }, run),
        {
          ...(options.rewrite ? { rewrite: options.rewrite } : {}),
          ...(options.setup ? { setup: options.setup } : {}),
        },
      );
      for (const step of steps) step.statements = statements.slice(step.from, step.to);
      for (const statement of statements) {
        if (statement.error) throw new Error(`statement failed: ${statement.error}`);
      }
      if (run === 0) continue;
      const exec = (list: CapturedStatement[]) =>
        list.reduce((sum, s) => sum + (s.explained?.executionMs ?? 0), 0);
      result.execMs.push(exec(statements));
      result.planMs.push(statements.reduce((sum, s) => sum + (s.explained?.planningMs ?? 0), 0));
      result.wallMs.push(statements.reduce((sum, s) => sum + s.wallMs, 0));
      for (const step of steps) {
        const list = result.stepExecMs[step.label] ?? [];
        list.push(exec(step.statements));
        result.stepExecMs[step.label] = list;
      }
      result.steps = steps;
    }
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
  }
  return result;
}

export function p50(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return "-";
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function sizeLabel(sizes: ScaleSizes): string {
  const short = (n: number) =>
    n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n);
  return `${short(sizes.targets)} targets / ${short(sizes.calls)} calls / ${short(sizes.dnc)} dnc`;
}

/** One table row per measure (total) and, below it, one per step of several. */
export function printTable(title: string, results: MeasureResult[], sizes: ScaleSizes) {
  const rows: string[][] = [
    ["query", "size", "db ms p50", "plan ms", "min-max", "plan shape", "target", "result"],
  ];
  for (const result of results) {
    if (result.error) {
      rows.push([
        result.name,
        sizeLabel(sizes),
        "error",
        "",
        "",
        result.error.slice(0, 100),
        "",
        "",
      ]);
      continue;
    }
    const exec = p50(result.execMs);
    const verdict = result.target === null ? "info" : exec <= result.target ? "PASS" : "FAIL";
    const multi = result.steps.length > 1;
    const shape = multi ? "(per step below)" : shapeOf(result.steps.flatMap((s) => s.statements));
    rows.push([
      result.name,
      sizeLabel(sizes),
      ms(exec),
      ms(p50(result.planMs)),
      `${ms(Math.min(...result.execMs))}-${ms(Math.max(...result.execMs))}`,
      shape,
      result.target === null ? "-" : `<= ${result.target}`,
      verdict,
    ]);
    if (multi) {
      for (const step of result.steps) {
        const values = result.stepExecMs[step.label] ?? [];
        rows.push([
          `  ${step.label}`,
          "",
          ms(p50(values)),
          "",
          `${ms(Math.min(...values))}-${ms(Math.max(...values))}`,
          shapeOf(step.statements),
          "",
          "",
        ]);
      }
    }
  }
  const widths = rows[0]?.map((_, column) =>
    Math.min(column === 5 ? 110 : 60, Math.max(...rows.map((row) => (row[column] ?? "").length))),
  ) as number[];
  console.log(`\n${title}`);
  for (const [index, row] of rows.entries()) {
    // The plan shape may be long: wrap it under its column.
    const shape = row[5] ?? "";
    const shapeLines = wrap(shape, widths[5] as number);
    const cells = (shapePart: string) =>
      row.map((cell, column) =>
        column === 5
          ? shapePart.padEnd(widths[5] as number)
          : column === 2 || column === 3 || column === 4
            ? cell.padStart(widths[column] as number)
            : cell.padEnd(widths[column] as number),
      );
    console.log(`| ${cells(shapeLines[0] ?? "").join(" | ")} |`);
    for (const more of shapeLines.slice(1)) {
      console.log(
        `| ${row.map((_, column) => (column === 5 ? more.padEnd(widths[5] as number) : " ".repeat(widths[column] as number))).join(" | ")} |`,
      );
    }
    if (index === 0) console.log(`|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
  }
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const part of text.split("; ")) {
    const next = line ? `${line}; ${part}` : part;
    if (next.length > width && line) {
      lines.push(`${line};`);
      line = part;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines.length ? lines : [""];
}

function shapeOf(statements: CapturedStatement[]): string {
  const scans = statements.flatMap((s) => (s.explained ? scansOf(s.explained.plan) : []));
  return scans.length ? scans.join("; ") : "(no table scanned)";
}

export function printPlans(results: MeasureResult[], full: boolean) {
  console.log("\nStatements (last run): each table scan, its index, probes and rows");
  for (const result of results) {
    for (const step of result.steps) {
      for (const [index, statement] of step.statements.entries()) {
        const explained = statement.explained;
        if (!explained) continue;
        console.log(
          `\n# ${result.name} / ${step.label}${step.statements.length > 1 ? ` #${index + 1}` : ""}: ` +
            `exec ${ms(explained.executionMs)} ms, planning ${ms(explained.planningMs)} ms`,
        );
        for (const scan of scansOf(explained.plan)) console.log(`    ${scan}`);
        if (full) for (const line of planText(explained.plan, 200)) console.log(`    ${line}`);
      }
    }
  }
}

export function resultsJson(results: MeasureResult[]) {
  return results.map((result) => ({
    name: result.name,
    target: result.target,
    execMsP50: p50(result.execMs),
    planningMsP50: p50(result.planMs),
    execMs: result.execMs,
    wallMs: result.wallMs,
    error: result.error,
    steps: result.steps.map((step) => ({
      label: step.label,
      execMs: result.stepExecMs[step.label],
      statements: step.statements.map((statement) => ({
        query: statement.query,
        params: statement.params,
        executionMs: statement.explained?.executionMs,
        planningMs: statement.explained?.planningMs,
        scans: statement.explained ? scansOf(statement.explained.plan) : [],
        plan: statement.explained ? planText(statement.explained.plan, 400) : [],
      })),
    })),
  }));
}
