// How busy the machine was with OTHER work while the bench measured: on a shared 2-core
// machine (tests, installs and editors of other people), CPU taken by other processes
// lowers every throughput figure and raises every latency. The bench reports this share
// next to its figures, so that a slow run can be told apart from a slow service.
// Linux only (/proc); elsewhere the share is unknown.
import { readdirSync, readFileSync } from "node:fs";

export interface CpuSnapshot {
  /** Busy CPU ticks of the whole machine (every core). */
  busy: number;
  /** Busy ticks of this process and every process below it (Postgres, wrangler, workerd). */
  ours: number;
  /** `ours` by kind of process: see CPU_KINDS. */
  byKind: Record<CpuKind, number>;
  /** Total ticks (busy + idle) of the whole machine. */
  total: number;
}

/**
 * The processes of a bench run: this process (the load generator and the local Neon
 * endpoint), wrangler's Node process (and its esbuild), the workerd processes (wrangler's
 * proxy and the Worker), and Postgres.
 */
export const CPU_KINDS = ["workerd", "wrangler", "postgres", "bench"] as const;
export type CpuKind = (typeof CPU_KINDS)[number];

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on Linux

export function cpuSnapshot(): CpuSnapshot | undefined {
  try {
    const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "")
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    // user nice system idle iowait irq softirq steal
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
      fields;
    const busy = user + nice + system + irq + softirq + steal;
    const byKind = descendantTicks(process.pid);
    const ours = CPU_KINDS.reduce((sum, kind) => sum + byKind[kind], 0);
    return { busy, ours, byKind, total: busy + idle + iowait };
  } catch {
    return undefined;
  }
}

/** Share of the machine's CPU (0..1) that other processes used between two snapshots. */
export function otherProcessesShare(before?: CpuSnapshot, after?: CpuSnapshot): number {
  if (!before || !after || after.total <= before.total) return Number.NaN;
  const others = after.busy - before.busy - (after.ours - before.ours);
  return Math.max(0, others) / (after.total - before.total);
}

/** CPU milliseconds each kind of process used between two snapshots. */
export function cpuMsByKind(before?: CpuSnapshot, after?: CpuSnapshot): Record<CpuKind, number> {
  const result = { workerd: 0, wrangler: 0, postgres: 0, bench: 0 };
  if (!before || !after) return result;
  for (const kind of CPU_KINDS) {
    result[kind] = ((after.byKind[kind] - before.byKind[kind]) * 1000) / TICKS_PER_SECOND;
  }
  return result;
}

function kindOf(pid: number, command: string): CpuKind {
  if (pid === process.pid) return "bench";
  if (command === "workerd") return "workerd";
  if (command.startsWith("postgres")) return "postgres";
  return "wrangler";
}

function descendantTicks(root: number): Record<CpuKind, number> {
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  const commands = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after "(comm)": state ppid ... utime stime cutime cstime (12th to 15th).
      // cutime/cstime hold the time of children that ended (Postgres backends come and go
      // with the endpoint's pool), so that their CPU does not vanish between snapshots.
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const pid = Number(entry);
      const ppid = Number(rest[1]);
      ticks.set(pid, Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]));
      commands.set(pid, stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")));
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // The process ended while we read.
    }
  }
  const sums = { workerd: 0, wrangler: 0, postgres: 0, bench: 0 };
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop() as number;
    sums[kindOf(pid, commands.get(pid) ?? "")] += ticks.get(pid) ?? 0;
    queue.push(...(children.get(pid) ?? []));
  }
  return sums;
}

/** CPU ms of wrangler dev's two workerd processes: its proxy and the Worker itself. */
export interface WorkerdCpu {
  /** The proxy workerd that listens on wrangler dev's port and forwards to the Worker. */
  proxyMs: number;
  /** The workerd that runs the Worker: what the service spends per request. */
  workerMs: number;
}

/**
 * Reads the CPU time (user + system, from /proc/<pid>/stat) of the workerd processes below
 * this one. wrangler dev runs two: the proxy, started with `--socket-addr=entry=<ip>:<port>`
 * for the port it serves on, and the Worker's own, on a port of its own. Linux only.
 */
export function workerdCpu(servedPort: number): WorkerdCpu {
  const result = { proxyMs: 0, workerMs: 0 };
  for (const pid of descendants(process.pid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) !== "workerd") continue;
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      const proxy = cmdline.some((arg) => arg.endsWith(`entry=127.0.0.1:${servedPort}`));
      result[proxy ? "proxyMs" : "workerMs"] += (ticks * 1000) / TICKS_PER_SECOND;
    } catch {
      // The process ended while we read.
    }
  }
  return result;
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process ended while we read.
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop() as number;
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

/**
 * Waits (at most `maxWaitMs`) until other processes use less than `threshold` of the
 * machine over a `sampleMs` window. Returns how long it waited. Other people's test runs
 * come in bursts of seconds: sliding a measurement past one costs less than measuring it.
 */
export async function waitForQuietMachine(options: {
  maxWaitMs: number;
  threshold?: number;
  sampleMs?: number;
}): Promise<number> {
  const threshold = options.threshold ?? 0.2;
  const sampleMs = options.sampleMs ?? 500;
  const started = Date.now();
  while (true) {
    const before = cpuSnapshot();
    if (!before) return 0;
    await new Promise((resolve) => setTimeout(resolve, sampleMs));
    const share = otherProcessesShare(before, cpuSnapshot());
    const waited = Date.now() - started;
    if (!(share >= threshold) || waited + sampleMs > options.maxWaitMs) return waited;
  }
}
