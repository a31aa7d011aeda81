// The machinery of the chaos test (tests/workers/chaos.test.ts): the seed and scale, a
// seeded PRNG, a courier that delivers the simulator's webhooks as a retrying sender would
// (in any order, some late, a 503 sent again later, a 500 never accepted), a sampler of
// live calls while work runs, and the invariant checks read straight from the lab's
// database and the simulator's records.
import type { OutboundRecord, OutgoingWebhook } from "../../scripts/lib/elevenlabs-simulator";
import { signElevenLabsPayload } from "../../src/elevenlabs/signature";
import { TEST_SECRETS } from "../setup/test-secrets";
import { type Lab, labRequest, type SimulatorStats } from "./dispatch";

// ---------------------------------------------------------------------------------------
// Seed, scale, PRNG

/**
 * An environment variable as the test sees it inside workerd. Vitest hands the Worker
 * runtime only VITE_-prefixed variables of the shell (and the configured bindings), so
 * `CHAOS_SEED=7 npm test` does not reach it; `VITE_CHAOS_SEED=7` does. Both are read.
 */
export function chaosEnv(name: string): string | undefined {
  const env = typeof process === "undefined" ? undefined : process.env;
  const value = env?.[name] ?? env?.[`VITE_${name}`];
  return value === undefined || value === "" ? undefined : value;
}

export const DEFAULT_CHAOS_SEED = 20_261_120;

export function chaosSeed(): number {
  const text = chaosEnv("CHAOS_SEED");
  if (text === undefined) return DEFAULT_CHAOS_SEED;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`CHAOS_SEED must be an integer, got ${text}`);
  return seed;
}

/** mulberry32: a tiny seeded PRNG (uniform in [0, 1)), the simulator's own. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function between(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

export function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------
// What went wrong, and every answer the Worker gave

export class ChaosLog {
  /** Broken promises: the test fails on any. */
  readonly violations: string[] = [];
  /** What is worth knowing but breaks no promise (a documented race, a rare path taken). */
  readonly notes: string[] = [];
  /** Answers per "METHOD /path-pattern status". */
  readonly answers = new Map<string, number>();
  round = -1;

  violation(text: string) {
    this.violations.push(`round ${this.round}: ${text}`);
  }

  note(text: string) {
    this.notes.push(`round ${this.round}: ${text}`);
  }

  count(key: string) {
    this.answers.set(key, (this.answers.get(key) ?? 0) + 1);
  }
}

function pathPattern(url: string): string {
  return new URL(url, "http://x").pathname
    .replace(/\/campaigns\/[0-9a-f-]{36}/, "/campaigns/{id}")
    .replace(/\/do-not-call\/.+$/, "/do-not-call/{number}");
}

/** Every request the test makes to the Worker: a 500 from any of them is a violation. */
export async function trackedRequest(lab: Lab, log: ChaosLog, request: Request) {
  const label = `${request.method} ${pathPattern(request.url)}`;
  const response = await labRequest(lab, request);
  log.count(`${label} ${response.status}`);
  if (response.status >= 500 && response.status !== 503) {
    const body = await response.clone().text();
    log.violation(`${label} answered ${response.status}: ${body.slice(0, 500)}`);
  }
  return response;
}

// ---------------------------------------------------------------------------------------
// The simulator

async function simulatorJson<T>(lab: Lab, path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(`${lab.simulatorUrl}${path}`, init);
  if (!response.ok) throw new Error(`simulator ${path}: ${response.status}`);
  return (await response.json()) as T;
}

export async function simulatorRecords(lab: Lab): Promise<OutboundRecord[]> {
  return (await simulatorJson<{ records: OutboundRecord[] }>(lab, "/__sim/records")).records;
}

export function simulatorStatsOf(lab: Lab): Promise<SimulatorStats> {
  return simulatorJson<SimulatorStats>(lab, "/simulator/stats");
}

/** Resolves once every call the simulator is playing has played out. */
export async function playedOut(lab: Lab): Promise<void> {
  await simulatorJson(lab, "/__sim/played");
}

/**
 * Delivers the simulator's webhooks to the Worker as a sender that retries would: in a
 * shuffled order, some held back a few rounds (a late webhook), those answered 503 sent
 * again later. A post-call event must be answered 200 (or 503 while the database fails);
 * a live utterance 200, 400 conversation_not_started (its call never stored the
 * conversation_id) or 503. Anything else is a violation.
 */
export class Courier {
  /** When the first post-call event of each conversation left the simulator (its call's end). */
  readonly finalTakenAt = new Map<string, number>();
  private late: { webhook: OutgoingWebhook; dueRound: number }[] = [];
  private again: OutgoingWebhook[] = [];
  /**
   * Calls whose dialing consumer "died" after ElevenLabs accepted them: their post-call
   * events wait until the reconciler has failed the call (initiation_interrupted, it may
   * have rung), so that the report that comes after all takes the may-have-rung path.
   */
  private readonly holdSids = new Set<string>();
  private held: OutgoingWebhook[] = [];
  delivered = 0;

  private readonly lab: Lab;
  private readonly log: ChaosLog;
  private readonly random: () => number;
  private readonly clock: { now(): Date };

  constructor(lab: Lab, log: ChaosLog, random: () => number, clock: { now(): Date }) {
    this.lab = lab;
    this.log = log;
    this.random = random;
    this.clock = clock;
  }

  /** Webhooks not delivered yet (late, held or to send again). */
  pending(): number {
    return this.late.length + this.again.length + this.held.length;
  }

  /** Holds the post-call events of this call until releaseHeld lets them go. */
  hold(callSid: string) {
    this.holdSids.add(callSid);
  }

  /** The call_sids whose post-call events are held. */
  heldSids(): string[] {
    return [...this.holdSids];
  }

  /** Lets the held events of these calls go with the next delivery. */
  releaseHeld(callSids: readonly string[]) {
    for (const sid of callSids) this.holdSids.delete(sid);
    const released = this.held.filter((webhook) => !this.holdSids.has(webhook.callSid ?? ""));
    this.held = this.held.filter((webhook) => this.holdSids.has(webhook.callSid ?? ""));
    this.again.push(...released);
  }

  /** Takes what the simulator queued, delivers it (and what is due again), returns how many. */
  async deliverOnce(options: { lateChance?: number; includeLate?: boolean } = {}) {
    const { webhooks } = await simulatorJson<{ webhooks: OutgoingWebhook[] }>(
      this.lab,
      "/__sim/outbox?keep_answers_held=1",
    );
    const takenAt = Date.now();
    for (const webhook of webhooks) {
      if (webhook.kind === "post_call" && !this.finalTakenAt.has(webhook.conversationId)) {
        this.finalTakenAt.set(webhook.conversationId, takenAt);
      }
    }
    const due = this.late.filter(
      (entry) => options.includeLate || entry.dueRound <= this.log.round,
    );
    this.late = this.late.filter((entry) => !due.includes(entry));
    const again = this.again;
    this.again = [];
    const batch: OutgoingWebhook[] = [];
    for (const webhook of webhooks) {
      if (webhook.kind === "post_call" && this.holdSids.has(webhook.callSid ?? "")) {
        this.held.push(webhook);
      } else if (
        webhook.kind === "post_call" &&
        options.lateChance !== undefined &&
        this.random() < options.lateChance
      ) {
        this.late.push({ webhook, dueRound: this.log.round + 1 + Math.floor(this.random() * 3) });
      } else {
        batch.push(webhook);
      }
    }
    batch.push(...due.map((entry) => entry.webhook), ...again);
    for (const webhook of shuffled(this.random, batch)) await this.deliver(webhook);
    // A dial whose answer the simulator holds until its early event is taken (0603): the
    // event has reached the Worker now, so the answer may go.
    if (webhooks.length > 0) {
      await simulatorJson(this.lab, "/__sim/release-held-answers", { method: "POST" });
    }
    return batch.length;
  }

  /** Delivers everything but what is held, late and retried webhooks included. */
  async drain() {
    for (let pass = 0; pass < 20; pass++) {
      const sent = await this.deliverOnce({ includeLate: true });
      if (sent === 0 && this.late.length + this.again.length === 0) return;
    }
    this.log.violation(`webhooks still undelivered after 20 passes (${this.pending()} pending)`);
  }

  /** Runs `work` while delivering webhooks every few milliseconds, as a live system would. */
  async whilst<T>(work: Promise<T>, options: { lateChance?: number } = {}): Promise<T> {
    let settled = false;
    const watched = work.finally(() => {
      settled = true;
    });
    watched.catch(() => {});
    while (!settled) {
      await this.deliverOnce(options);
      await Promise.race([watched.catch(() => {}), sleep(15)]);
    }
    await this.deliverOnce(options);
    return watched;
  }

  private async deliver(webhook: OutgoingWebhook) {
    const headers = { ...webhook.headers };
    if (webhook.kind === "post_call") {
      // Signed at the Worker's time, or the check would call it stale.
      headers["ElevenLabs-Signature"] = await signElevenLabsPayload(
        webhook.body,
        TEST_SECRETS.ELEVENLABS_WEBHOOK_SECRET,
        Math.floor(this.clock.now().getTime() / 1000),
      );
    }
    const path = new URL(webhook.url, "http://x").pathname;
    const response = await trackedRequest(
      this.lab,
      this.log,
      new Request(`http://driver-calls.test${path}`, {
        method: "POST",
        headers,
        body: webhook.body,
      }),
    );
    const text = await response.text();
    this.delivered += 1;
    if (response.status === 200) return;
    if (response.status === 503) {
      this.again.push(webhook);
      return;
    }
    if (
      webhook.kind === "transcription" &&
      response.status === 400 &&
      text.includes("conversation_not_started")
    ) {
      return;
    }
    this.log.violation(
      `${webhook.kind} webhook of ${webhook.callSid ?? webhook.conversationId} answered ${response.status}: ${text.slice(0, 300)}`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Time zones and calling windows, read independently of src/calling-rules

const WEEKDAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const formatters = new Map<string, Intl.DateTimeFormat>();

/** The driver's wall clock at `instant`: weekday (mon...) and minute of the day. */
export function wallClock(instant: Date, timeZone: string): { weekday: string; minutes: number } {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
    });
    formatters.set(timeZone, formatter);
  }
  const parts = Object.fromEntries(
    formatter.formatToParts(instant).map((part) => [part.type, part.value]),
  );
  const weekday = String(parts.weekday).slice(0, 3).toLowerCase();
  return { weekday, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

function clockMinutes(text: string): number {
  const [hours, minutes] = text.split(":").map(Number);
  return (hours ?? 0) * 60 + (minutes ?? 0);
}

export interface WindowJson {
  start: string;
  end: string;
  days?: string[] | null;
}

/** Inside the window: an allowed local weekday, and a local time in [start, end). */
export function insideWindow(window: WindowJson, timeZone: string, instant: Date): boolean {
  const local = wallClock(instant, timeZone);
  const days = window.days ?? WEEKDAY_NAMES;
  return (
    days.includes(local.weekday) &&
    local.minutes >= clockMinutes(window.start) &&
    local.minutes < clockMinutes(window.end)
  );
}

/**
 * Zones named by places: one for every whole-hour offset from -11 to +14, and the half- and
 * three-quarter-hour ones, so that some window edge is always less than 40 minutes away.
 */
const ZONES = [
  "Pacific/Pago_Pago",
  "Pacific/Marquesas",
  "America/St_Johns",
  "Asia/Tehran",
  "Asia/Kabul",
  "Asia/Kathmandu",
  "Asia/Yangon",
  "Australia/Eucla",
  "Australia/Darwin",
  "Australia/Adelaide",
  "Pacific/Chatham",
  "Pacific/Honolulu",
  "America/Anchorage",
  "America/Los_Angeles",
  "America/Phoenix",
  "America/Denver",
  "America/Chicago",
  "America/Bogota",
  "America/New_York",
  "America/Halifax",
  "America/Sao_Paulo",
  "Atlantic/South_Georgia",
  "Atlantic/Azores",
  "Europe/London",
  "Africa/Lagos",
  "Europe/Paris",
  "Africa/Johannesburg",
  "Europe/Helsinki",
  "Europe/Moscow",
  "Asia/Dubai",
  "Asia/Karachi",
  "Asia/Kolkata",
  "Asia/Dhaka",
  "Asia/Bangkok",
  "Asia/Shanghai",
  "Asia/Tokyo",
  "Australia/Brisbane",
  "Pacific/Noumea",
  "Pacific/Auckland",
  "Pacific/Tongatapu",
  "Pacific/Kiritimati",
];

/** Minutes from `now` until the driver's wall clock next reads `hhmm` (ignoring DST jumps). */
function minutesUntil(now: Date, timeZone: string, hhmm: number): number {
  const { minutes } = wallClock(now, timeZone);
  return (hhmm - minutes + 24 * 60) % (24 * 60);
}

/**
 * Zones for a 06:00-22:00 window seen from `now`: one whose window closes within the hour
 * (the clock crosses its end mid-run), one whose window opens within the hour, one in the
 * middle of the day, one at night (opens hours later, in the end phase).
 */
export function zonesAround(now: Date): {
  closing: string;
  opening: string;
  midday: string;
  night: string;
} {
  const best = (score: (zone: string) => number) =>
    [...ZONES].sort((a, b) => score(a) - score(b))[0] as string;
  const closing = best((zone) => {
    const until = minutesUntil(now, zone, 22 * 60);
    return until >= 8 ? until : 10_000;
  });
  const opening = best((zone) => {
    const until = minutesUntil(now, zone, 6 * 60);
    return until >= 3 ? until : 10_000;
  });
  const midday = best((zone) => Math.abs(wallClock(now, zone).minutes - 13 * 60));
  const night = best((zone) => Math.abs(wallClock(now, zone).minutes - 2 * 60));
  return { closing, opening, midday, night };
}

// ---------------------------------------------------------------------------------------
// The lab's database, as the invariants read it

export interface CallRow {
  id: number;
  call_sid: string;
  phone_number: string | null;
  status: string;
  failure_reason: string | null;
  target_id: number | null;
  conversation_id: string | null;
  call_start_time: string | null;
  call_end_time: string | null;
  created_at: string;
  updated_at: string;
}

export interface TargetRow {
  id: number;
  campaign_id: string;
  driver_id: number;
  phone_number: string;
  time_zone: string;
  status: string;
  call_ids: number[];
  last_failure_reason: string | null;
  next_attempt_at: string | null;
}

export interface CampaignRow {
  id: string;
  status: string;
  calling_window: WindowJson;
  retry_max_attempts: number;
  retry_backoff_minutes: number;
  retry_on: string[];
  finished_at: string | null;
}

export interface DoNotCallRow {
  phone_number: string;
  reason: string | null;
  created_at: string;
}

export interface Snapshot {
  calls: CallRow[];
  targets: TargetRow[];
  campaigns: CampaignRow[];
  doNotCall: DoNotCallRow[];
  slots: number;
  records: OutboundRecord[];
  stats: SimulatorStats;
}

export async function snapshot(lab: Lab): Promise<Snapshot> {
  const [calls, targets, campaigns, doNotCall, slots, records, stats] = await Promise.all([
    lab.sql`
      SELECT id, call_sid, phone_number, status, failure_reason,
             campaign_target_id::int AS target_id, conversation_id,
             to_json(call_start_time)#>>'{}' AS call_start_time,
             to_json(call_end_time)#>>'{}' AS call_end_time,
             to_json(created_at)#>>'{}' AS created_at,
             to_json(updated_at)#>>'{}' AS updated_at
      FROM calls ORDER BY id`,
    lab.sql`
      SELECT id::int AS id, campaign_id::text AS campaign_id, driver_id, phone_number, time_zone,
             status, call_ids, last_failure_reason,
             to_json(next_attempt_at)#>>'{}' AS next_attempt_at
      FROM campaign_targets ORDER BY id`,
    lab.sql`
      SELECT id::text AS id, status, calling_window, retry_max_attempts, retry_backoff_minutes,
             retry_on, to_json(finished_at)#>>'{}' AS finished_at
      FROM campaigns ORDER BY created_at, id`,
    lab.sql`
      SELECT phone_number, reason, to_json(created_at)#>>'{}' AS created_at FROM do_not_call`,
    lab.sql`SELECT count(*)::int AS n FROM live_call_slots`,
    simulatorRecords(lab),
    simulatorStatsOf(lab),
  ]);
  return {
    calls: calls as CallRow[],
    targets: targets as TargetRow[],
    campaigns: campaigns as CampaignRow[],
    doNotCall: doNotCall as DoNotCallRow[],
    slots: (slots[0] as { n: number } | undefined)?.n ?? -1,
    records,
    stats,
  };
}

/** Live calls and the most live calls to one number, right now. */
export async function liveNow(lab: Lab): Promise<{ live: number; mostPerNumber: number }> {
  const [row] = (await lab.sql`
    SELECT (SELECT count(*)::int FROM calls WHERE status = 'IN_PROGRESS') AS live,
           (SELECT coalesce(max(n), 0)::int FROM (
              SELECT count(*) AS n FROM calls WHERE status = 'IN_PROGRESS' GROUP BY phone_number
           ) per_number) AS most`) as { live: number; most: number }[];
  return { live: row?.live ?? -1, mostPerNumber: row?.most ?? -1 };
}

/** Samples live calls every few milliseconds until `work` settles: never over the cap. */
export async function sampledWhile<T>(
  lab: Lab,
  log: ChaosLog,
  cap: number,
  work: Promise<T>,
): Promise<T> {
  let settled = false;
  const watched = work.finally(() => {
    settled = true;
  });
  watched.catch(() => {});
  const sampler = (async () => {
    while (!settled) {
      const { live, mostPerNumber } = await liveNow(lab);
      if (live > cap) log.violation(`${live} live calls (IN_PROGRESS) while work ran, cap ${cap}`);
      if (mostPerNumber > 1) {
        log.violation(`${mostPerNumber} live calls to one number while work ran`);
      }
      await Promise.race([watched.catch(() => {}), sleep(20)]);
    }
  })();
  try {
    return await watched;
  } finally {
    await sampler;
  }
}

// ---------------------------------------------------------------------------------------
// The invariants

export const FINAL_TARGET_STATUSES = ["COMPLETED", "FAILED", "SKIPPED", "CANCELLED"];
/** Call failures that are not attempts: their Call leaves the target's call_ids. */
const NOT_AN_ATTEMPT = ["elevenlabs_at_capacity", "campaign_cancelled"];

export function reasonCode(reason: string | null): string | null {
  return reason === null ? null : (reason.split(":")[0] ?? reason);
}

export interface ChaosContext {
  cap: number;
  plan: number;
  callSeconds: number;
  /** Numbers put on the do-not-call list by the test, and when the PUT answered (ms). */
  doNotCallPuts: Map<string, number>;
  cancel: {
    campaignId: string;
    /** When the cancel answered (ms), once it has. */
    answeredAt: number | null;
    /** When the work it raced with ended (ms); null when nothing raced it. */
    raceEndedAt: number | null;
  };
  /** Targets seen COMPLETED, and how many Calls they had then. */
  completedCalls: Map<number, number>;
  /** Each target's status at the previous check. */
  previousStatus: Map<number, string>;
  finalTakenAt: Map<string, number>;
}

export function newContext(options: {
  cap: number;
  plan: number;
  callSeconds: number;
  cancelCampaignId: string;
  finalTakenAt: Map<string, number>;
}): ChaosContext {
  return {
    cap: options.cap,
    plan: options.plan,
    callSeconds: options.callSeconds,
    doNotCallPuts: new Map(),
    cancel: { campaignId: options.cancelCampaignId, answeredAt: null, raceEndedAt: null },
    completedCalls: new Map(),
    previousStatus: new Map(),
    finalTakenAt: options.finalTakenAt,
  };
}

const ms = (text: string | null) => (text === null ? null : new Date(text).getTime());
const rowText = (row: unknown) => JSON.stringify(row);

/** Checks every invariant that must hold at any quiet moment (no work in flight). */
export function checkInvariants(snap: Snapshot, ctx: ChaosContext, log: ChaosLog) {
  const callsById = new Map(snap.calls.map((call) => [call.id, call]));
  const callsBySid = new Map(snap.calls.map((call) => [call.call_sid, call]));
  const campaigns = new Map(snap.campaigns.map((campaign) => [campaign.id, campaign]));
  const targets = new Map(snap.targets.map((target) => [target.id, target]));
  const callsOfTarget = new Map<number, CallRow[]>();
  for (const call of snap.calls) {
    if (call.target_id === null) continue;
    const list = callsOfTarget.get(call.target_id) ?? [];
    list.push(call);
    callsOfTarget.set(call.target_id, list);
  }
  const dialedSids = new Map<string, OutboundRecord[]>();
  for (const record of snap.records) {
    if (record.callSid === null) {
      log.violation(`a dial without a call_sid reached ElevenLabs: ${rowText(record)}`);
      continue;
    }
    const list = dialedSids.get(record.callSid) ?? [];
    list.push(record);
    dialedSids.set(record.callSid, list);
  }

  // 1. The cap, here and at the simulator.
  const live = snap.calls.filter((call) => call.status === "IN_PROGRESS");
  if (live.length > ctx.cap) log.violation(`${live.length} live calls, cap ${ctx.cap}`);
  if (snap.slots > ctx.cap) log.violation(`${snap.slots} live-call slots taken, cap ${ctx.cap}`);
  if (snap.slots !== live.length) {
    log.violation(`${snap.slots} slots taken but ${live.length} calls IN_PROGRESS`);
  }
  if (snap.stats.max_live > ctx.plan) {
    log.violation(`the simulator saw ${snap.stats.max_live} live calls, plan ${ctx.plan}`);
  }

  // 2. One number, one live call: in the database, and at the simulator (accepted dials
  // never overlap in time; a dial's live time runs from its acceptance to its final
  // webhook leaving the simulator). And no Call is ever dialed twice.
  const liveNumbers = new Map<string, CallRow[]>();
  for (const call of live) {
    const list = liveNumbers.get(call.phone_number ?? "") ?? [];
    list.push(call);
    liveNumbers.set(call.phone_number ?? "", list);
  }
  for (const [number, calls] of liveNumbers) {
    if (calls.length > 1) {
      log.violation(`${calls.length} live calls to ${number}: ${rowText(calls)}`);
    }
  }
  const intervals = new Map<string, { sid: string; start: number; end: number }[]>();
  for (const [sid, records] of dialedSids) {
    const call = callsBySid.get(sid);
    if (!call) {
      log.violation(`ElevenLabs was asked to dial ${sid}, which has no Call row`);
      continue;
    }
    if (records.length > 1) {
      log.violation(`${sid} dialed ${records.length} times: ${rowText(records)}`);
    }
    for (const record of records) {
      if (call.phone_number?.slice(-4) !== record.toNumberLast4) {
        log.violation(
          `${sid} dialed ***${record.toNumberLast4}, its Call says ${call.phone_number}`,
        );
      }
      if (record.conversationId === null) continue;
      const noWebhook =
        record.outcome === "stuck_processing" || record.outcome === "failed_silently";
      // 0604 and 0605 send no final webhook: live until the call's length has passed since
      // its acceptance (a hair after `at`); only then may ElevenLabs report it failed.
      const end = noWebhook
        ? record.at + ctx.callSeconds * 1000
        : (ctx.finalTakenAt.get(record.conversationId) ?? Number.POSITIVE_INFINITY);
      const list = intervals.get(call.phone_number ?? "") ?? [];
      list.push({ sid, start: record.at, end });
      intervals.set(call.phone_number ?? "", list);
    }
  }
  for (const [number, list] of intervals) {
    list.sort((a, b) => a.start - b.start);
    let latest: { sid: string; end: number } | null = null;
    for (const interval of list) {
      if (latest && interval.start < latest.end) {
        log.violation(
          `two accepted dials to ${number} overlap: ${latest.sid} live until ${latest.end}, ${interval.sid} accepted at ${interval.start}`,
        );
      }
      if (!latest || interval.end > latest.end) latest = { sid: interval.sid, end: interval.end };
    }
  }

  // 3. Never outside the calling window, never after COMPLETED, never after the cancel,
  // never to a number on the do-not-call list.
  for (const call of snap.calls) {
    if (call.target_id === null || call.call_start_time === null) continue;
    const target = targets.get(call.target_id);
    const campaign = target && campaigns.get(target.campaign_id);
    if (!target || !campaign) {
      log.violation(`call ${call.call_sid} has no target or campaign`);
      continue;
    }
    const window =
      typeof campaign.calling_window === "string"
        ? (JSON.parse(campaign.calling_window) as WindowJson)
        : campaign.calling_window;
    if (!insideWindow(window, target.time_zone, new Date(call.call_start_time))) {
      const local = wallClock(new Date(call.call_start_time), target.time_zone);
      log.violation(
        `call ${call.call_sid} claimed at ${call.call_start_time}, ${local.weekday} ${Math.floor(local.minutes / 60)}:${String(local.minutes % 60).padStart(2, "0")} in ${target.time_zone}, outside ${rowText(window)}`,
      );
    }
  }
  for (const target of snap.targets) {
    const count = callsOfTarget.get(target.id)?.length ?? 0;
    const seen = ctx.completedCalls.get(target.id);
    if (seen !== undefined && count !== seen) {
      log.violation(
        `target ${target.id} (driver ${target.driver_id}) had ${seen} calls when COMPLETED, now ${count}: ${rowText(callsOfTarget.get(target.id))}`,
      );
    }
    if (target.status === "COMPLETED" && seen === undefined) {
      ctx.completedCalls.set(target.id, count);
    }
    const before = ctx.previousStatus.get(target.id);
    if (
      before !== undefined &&
      before !== target.status &&
      ["COMPLETED", "SKIPPED", "CANCELLED"].includes(before)
    ) {
      log.violation(`target ${target.id} went from ${before} to ${target.status}`);
    }
    if (before === "FAILED" && target.status !== "FAILED") {
      log.note(
        `target ${target.id} went from FAILED to ${target.status} (a may-have-rung call reported later)`,
      );
    }
    ctx.previousStatus.set(target.id, target.status);
  }
  const { cancel } = ctx;
  if (cancel.answeredAt !== null) {
    const answeredAt = cancel.answeredAt;
    for (const call of snap.calls) {
      const target = call.target_id === null ? undefined : targets.get(call.target_id);
      if (target?.campaign_id !== cancel.campaignId) continue;
      if ((ms(call.created_at) ?? 0) > answeredAt) {
        log.violation(
          `call ${call.call_sid} of the cancelled campaign claimed after the cancel answered (${new Date(answeredAt).toISOString()}): ${rowText(call)}`,
        );
      }
      for (const record of dialedSids.get(call.call_sid) ?? []) {
        if (record.at <= answeredAt) continue;
        if (cancel.raceEndedAt !== null && record.at <= cancel.raceEndedAt) {
          log.note(
            `call ${call.call_sid} of the cancelled campaign reached ElevenLabs ${record.at - answeredAt} ms after the cancel answered, by a dial that raced it (documented)`,
          );
        } else {
          log.violation(
            `call ${call.call_sid} of the cancelled campaign dialed at ${new Date(record.at).toISOString()}, after the cancel answered at ${new Date(answeredAt).toISOString()}`,
          );
        }
      }
    }
  }
  for (const call of snap.calls) {
    if (reasonCode(call.failure_reason) === "campaign_cancelled" && dialedSids.has(call.call_sid)) {
      log.violation(`call ${call.call_sid} FAILED campaign_cancelled reached ElevenLabs`);
    }
  }
  const listedAt = new Map(
    snap.doNotCall.map((row) => [row.phone_number, ms(row.created_at) ?? 0]),
  );
  for (const call of snap.calls) {
    const records = dialedSids.get(call.call_sid);
    if (!records || call.phone_number === null) continue;
    const put = ctx.doNotCallPuts.get(call.phone_number);
    for (const record of records) {
      if (put !== undefined && record.at > put) {
        log.violation(
          `${call.call_sid} dialed ${call.phone_number} at ${new Date(record.at).toISOString()}, after it was put on the do-not-call list at ${new Date(put).toISOString()}`,
        );
      }
    }
    const listed = listedAt.get(call.phone_number);
    // Claimed (created_at) a full second after the number's entry was written: the claim
    // saw it, so it must not have dialed.
    if (listed !== undefined && (ms(call.created_at) ?? 0) > listed + 1000) {
      log.violation(
        `${call.call_sid} to ${call.phone_number} claimed at ${call.created_at} and dialed, though on the do-not-call list since ${new Date(listed).toISOString()}`,
      );
    }
  }

  // 5 (the part that holds at any time). Retries as `retry` says.
  for (const target of snap.targets) {
    const campaign = campaigns.get(target.campaign_id);
    if (!campaign) continue;
    checkRetries(target, campaign, callsOfTarget.get(target.id) ?? [], callsById, log, false);
  }
  // A COMPLETED campaign has every driver in a final state.
  for (const campaign of snap.campaigns) {
    if (campaign.status !== "COMPLETED") continue;
    const active = snap.targets.filter(
      (target) =>
        target.campaign_id === campaign.id && !FINAL_TARGET_STATUSES.includes(target.status),
    );
    if (active.length > 0) {
      log.violation(`campaign ${campaign.id} COMPLETED with targets not final: ${rowText(active)}`);
    }
  }
}

/** Invariant 5 for one target; `atEnd`: the run is over, so the exact count is due. */
export function checkRetries(
  target: TargetRow,
  campaign: CampaignRow,
  calls: CallRow[],
  callsById: Map<number, CallRow>,
  log: ChaosLog,
  atEnd: boolean,
) {
  const who = `target ${target.id} (driver ${target.driver_id}, ${target.phone_number}, campaign ${campaign.id.slice(0, 8)})`;
  const retryOn = campaign.retry_on;
  const max = campaign.retry_max_attempts;
  const attempts = target.call_ids.length;
  if (attempts > max) log.violation(`${who}: ${attempts} attempts, max_attempts ${max}`);
  const retryable = calls.filter((call) => retryOn.includes(reasonCode(call.failure_reason) ?? ""));
  if (retryable.length > max) {
    log.violation(`${who}: ${retryable.length} calls ended ${retryOn.join("/")}, max ${max}`);
  }
  for (const call of calls) {
    if (target.call_ids.includes(call.id)) continue;
    if (
      !(call.status === "FAILED" && NOT_AN_ATTEMPT.includes(reasonCode(call.failure_reason) ?? ""))
    ) {
      log.violation(`${who}: call ${call.call_sid} is not in call_ids: ${rowText(call)}`);
    }
  }
  target.call_ids.forEach((id, index) => {
    const call = callsById.get(id);
    if (!call) {
      log.violation(`${who}: call id ${id} in call_ids does not exist`);
      return;
    }
    const last = index === target.call_ids.length - 1;
    if (!last) {
      // An attempt only ever follows a retryable ending.
      if (call.status !== "FAILED" || !retryOn.includes(reasonCode(call.failure_reason) ?? "")) {
        log.violation(
          `${who}: attempt ${index + 2} followed ${call.call_sid} ${call.status} ${call.failure_reason}, not one of ${retryOn.join("/")}: ${rowText(target.call_ids.map((i) => callsById.get(i)))}`,
        );
      }
      const next = callsById.get(target.call_ids[index + 1] as number);
      const end = ms(call.call_end_time);
      const start = ms(next?.call_start_time ?? null);
      if (end !== null && start !== null && start < end + campaign.retry_backoff_minutes * 60_000) {
        log.violation(
          `${who}: attempt ${index + 2} at ${next?.call_start_time}, within backoff ${campaign.retry_backoff_minutes} min of ${call.call_sid}'s end ${call.call_end_time}`,
        );
      }
    }
  });
  if (!atEnd) return;
  const lastCall = callsById.get(target.call_ids[target.call_ids.length - 1] ?? -1);
  const lastReason = reasonCode(target.last_failure_reason);
  if (
    target.status === "FAILED" &&
    campaign.status !== "CANCELLED" &&
    lastReason !== null &&
    retryOn.includes(lastReason) &&
    attempts !== max
  ) {
    log.violation(
      `${who}: FAILED ${lastReason} (retried on it) after ${attempts} attempts, max_attempts ${max}: ${rowText(calls)}`,
    );
  }
  if (target.status === "COMPLETED" && lastCall?.status !== "COMPLETED") {
    log.violation(`${who}: COMPLETED but its last call is ${rowText(lastCall)}`);
  }
  if (target.status === "FAILED" && lastCall?.status !== "FAILED") {
    log.violation(`${who}: FAILED but its last call is ${rowText(lastCall)}`);
  }
}

/** The end: every target final, every campaign over, retries exactly as `retry` says. */
export function checkEnd(snap: Snapshot, log: ChaosLog) {
  const callsById = new Map(snap.calls.map((call) => [call.id, call]));
  const campaigns = new Map(snap.campaigns.map((campaign) => [campaign.id, campaign]));
  for (const campaign of snap.campaigns) {
    if (campaign.status !== "COMPLETED" && campaign.status !== "CANCELLED") {
      log.violation(`campaign ${campaign.id} still ${campaign.status}`);
    }
  }
  for (const target of snap.targets) {
    if (!FINAL_TARGET_STATUSES.includes(target.status)) {
      log.violation(
        `target ${target.id} (driver ${target.driver_id}) still ${target.status}: ${rowText(target)}`,
      );
    }
    const campaign = campaigns.get(target.campaign_id);
    if (!campaign) continue;
    const calls = snap.calls.filter((call) => call.target_id === target.id);
    checkRetries(target, campaign, calls, callsById, log, true);
  }
}
