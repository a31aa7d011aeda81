// Driving campaigns in tests: a private database and simulator each (tests/support/lab.ts),
// the Worker's real queue consumer and cron handlers called with them, and the simulator's
// webhooks delivered as ElevenLabs would post them.
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import type { OutgoingWebhook } from "../../scripts/lib/elevenlabs-simulator";
import type { AppDeps } from "../../src/app-env";
import { DISPATCH_CRON, RECONCILER_CRON, RETENTION_CRON } from "../../src/crons";
import { createElevenLabsClient, type ElevenLabsClient } from "../../src/elevenlabs/client";
import { signElevenLabsPayload } from "../../src/elevenlabs/signature";
import type { Config, DispatchMessage, EventsMessage } from "../../src/env";
import { createWorker } from "../../src/index";
import { TEST_SECRETS } from "../setup/test-secrets";
import { privateDatabase, privateSimulator } from "./lab";
import { callWorker, jsonRequest, testEnv } from "./worker";

export interface Lab {
  /** The Worker's clock, when the test moves it. */
  clock?: { now(): Date };
  databaseUrl: string;
  sql: Awaited<ReturnType<typeof privateDatabase>>["sql"];
  simulatorUrl: string;
  env: Record<string, string>;
  worker: ReturnType<typeof createWorker>;
}

/** A private database and simulator, and a Worker whose bindings point at them. */
export async function newLab(
  options: {
    maxLiveCalls?: number;
    simulatorPlan?: number;
    callSeconds?: number;
    callConcurrency?: number;
    deps?: Partial<AppDeps>;
    /** Turns the simulator's chaos on with this seed (scripts/lib/elevenlabs-simulator.ts). */
    chaosSeed?: number;
  } = {},
): Promise<Lab> {
  const [database, simulatorUrl] = await Promise.all([
    privateDatabase(),
    privateSimulator({
      maxLiveCalls: options.simulatorPlan ?? options.maxLiveCalls,
      callSeconds: options.callSeconds ?? 0.05,
      ...(options.chaosSeed === undefined ? {} : { chaosSeed: options.chaosSeed }),
    }),
  ]);
  return {
    clock: options.deps?.clock,
    databaseUrl: database.url,
    sql: database.sql,
    simulatorUrl,
    env: {
      DATABASE_URL: database.url,
      ELEVENLABS_API_BASE_URL: simulatorUrl,
      MAX_LIVE_CALLS: String(options.maxLiveCalls ?? 10),
      CALL_CONCURRENCY: String(options.callConcurrency ?? 5),
    },
    worker: createWorker(options.deps),
  };
}

export function labBindings(lab: Lab) {
  return { ...testEnv, ...lab.env };
}

export async function labRequest(lab: Lab, request: Request): Promise<Response> {
  return callWorker(request, { env: lab.env, worker: lab.worker });
}

export function operatorRequest(method: string, path: string, body?: unknown, headers = {}) {
  const authorization = { authorization: `Bearer ${TEST_SECRETS.API_TOKEN}`, ...headers };
  if (body === undefined) {
    return new Request(`http://driver-calls.test${path}`, { method, headers: authorization });
  }
  return jsonRequest(method, path, body, authorization);
}

/** Runs the Worker's queue consumer once, as a delivered batch of `messages` would. */
export async function consumeDispatch(lab: Lab, messages = 1) {
  const batch = createMessageBatch<DispatchMessage>(
    "driver-calls-dispatch",
    Array.from({ length: messages }, (_, index) => ({
      id: `m${index}-${crypto.randomUUID()}`,
      timestamp: new Date(),
      attempts: 1,
      body: { kind: "dispatch", reason: "test" },
    })),
  );
  const ctx = createExecutionContext();
  await lab.worker.queue(batch, labBindings(lab) as never);
  return getQueueResult(batch, ctx);
}

/** Runs the Worker's queue consumer once with an events-queue message: sends due deliveries. */
export async function consumeEvents(lab: Lab) {
  const batch = createMessageBatch<EventsMessage>("driver-calls-events", [
    {
      id: `e-${crypto.randomUUID()}`,
      timestamp: new Date(),
      attempts: 1,
      body: { kind: "events", reason: "test" },
    },
  ]);
  const ctx = createExecutionContext();
  await lab.worker.queue(batch as never, labBindings(lab) as never);
  return getQueueResult(batch, ctx);
}

/** Fires one of the Worker's crons and waits for it. */
export async function fireCron(
  lab: Lab,
  cron: typeof DISPATCH_CRON | typeof RECONCILER_CRON | typeof RETENTION_CRON,
) {
  const ctx = createExecutionContext();
  await lab.worker.scheduled(
    { cron, scheduledTime: Date.now(), noRetry() {} } as ScheduledController,
    labBindings(lab) as never,
    ctx,
  );
  await waitOnExecutionContext(ctx);
}

async function simulator<T>(lab: Lab, path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(`${lab.simulatorUrl}${path}`, init);
  if (!response.ok) throw new Error(`simulator ${path}: ${response.status}`);
  return (await response.json()) as T;
}

export interface SimulatorStats {
  live: number;
  max_live: number;
  plan_max_live_calls: number | null;
  refused_for_concurrency: number;
  dials: Record<string, number>;
}

export function simulatorStats(lab: Lab) {
  return simulator<SimulatorStats>(lab, "/simulator/stats");
}

export async function setSimulatorPlan(lab: Lab, maxLiveCalls: number | null) {
  await simulator(lab, "/__sim/plan", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ max_live_calls: maxLiveCalls }),
  });
}

/**
 * Delivers every webhook the simulator has queued so far, in order; returns how many.
 * `keepAnswersHeld`: a dial whose answer the simulator holds until its early event is
 * taken (0603) stays held, so the event surely reaches the Worker before the answer
 * (release it with releaseHeldAnswers).
 */
export async function deliverOutbox(
  lab: Lab,
  options: { keepAnswersHeld?: boolean } = {},
): Promise<number> {
  const { webhooks } = await simulator<{ webhooks: OutgoingWebhook[] }>(
    lab,
    options.keepAnswersHeld ? "/__sim/outbox?keep_answers_held=1" : "/__sim/outbox",
  );
  for (const webhook of webhooks) {
    const headers = { ...webhook.headers };
    if (lab.clock && webhook.kind === "post_call") {
      // Signed again at the test's time, or the signature check would call it stale.
      headers["ElevenLabs-Signature"] = await signElevenLabsPayload(
        webhook.body,
        TEST_SECRETS.ELEVENLABS_WEBHOOK_SECRET,
        Math.floor(lab.clock.now().getTime() / 1000),
      );
    }
    const response = await labRequest(
      lab,
      new Request(`http://driver-calls.test${new URL(webhook.url, "http://x").pathname}`, {
        method: "POST",
        headers,
        body: webhook.body,
      }),
    );
    await response.arrayBuffer();
    // A live utterance of a call whose conversation_id was never stored is refused (400
    // conversation_not_started), as the contract says; a post-call event never is.
    if (response.status !== 200 && webhook.kind === "post_call") {
      throw new Error(`webhook ${webhook.kind} answered ${response.status}`);
    }
  }
  return webhooks.length;
}

/** Lets the simulator send the dial answers it holds (0603); returns how many. */
export async function releaseHeldAnswers(lab: Lab): Promise<number> {
  const { released } = await simulator<{ released: number }>(lab, "/__sim/release-held-answers", {
    method: "POST",
  });
  return released;
}

export function driver(driverId: number, lastFour: string, extra: Record<string, unknown> = {}) {
  return {
    driver_id: driverId,
    phone_number: `+1555${String(driverId % 1000).padStart(3, "0")}${lastFour}`,
    driver_name: `Driver ${driverId}`,
    violations: [
      {
        code: "HOS_11H",
        description: "Exceeded the 11-hour driving limit",
        occurred_at: "2026-11-20T14:05:00-06:00",
      },
    ],
    ...extra,
  };
}

export interface CampaignJson {
  id: string;
  status: string;
  counts: Record<string, number>;
  [key: string]: unknown;
}

export async function createCampaign(lab: Lab, body: Record<string, unknown>, headers = {}) {
  const response = await labRequest(lab, operatorRequest("POST", "/campaigns", body, headers));
  return { response, json: (await response.json()) as { campaign: CampaignJson } };
}

export async function getCampaign(lab: Lab, id: string): Promise<CampaignJson> {
  const response = await labRequest(lab, operatorRequest("GET", `/campaigns/${id}`));
  if (response.status !== 200) throw new Error(`GET campaign: ${response.status}`);
  return ((await response.json()) as { campaign: CampaignJson }).campaign;
}

export interface TargetJson {
  driver_id: number;
  status: string;
  waiting_for: string | null;
  next_attempt_at: string | null;
  attempts: number;
  call_sids: string[];
  last_failure_reason: string | null;
  call_successful: string | null;
  phone_number: string;
}

export async function allTargets(lab: Lab, id: string): Promise<TargetJson[]> {
  const targets: TargetJson[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${cursor}` : "";
    const response = await labRequest(
      lab,
      operatorRequest("GET", `/campaigns/${id}/targets?limit=500${query}`),
    );
    const page = (await response.json()) as { targets: TargetJson[]; next_cursor: string | null };
    targets.push(...page.targets);
    cursor = page.next_cursor;
  } while (cursor);
  return targets;
}

/**
 * Plays a campaign to its end: the queue consumer dials, the simulator plays the calls,
 * their webhooks are delivered (which frees the slots), again and again. Fails after
 * `maxRounds` without the campaign finishing.
 */
export async function playUntilFinished(lab: Lab, campaignId: string, maxRounds = 2_000) {
  for (let round = 0; round < maxRounds; round++) {
    await consumeDispatch(lab);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await deliverOutbox(lab);
    const campaign = await getCampaign(lab, campaignId);
    if (campaign.status !== "RUNNING") return campaign;
  }
  throw new Error(`campaign ${campaignId} still RUNNING after ${maxRounds} rounds`);
}

/** A clock a test moves by hand (the dispatcher's "now"). */
export function movableClock(start: Date = new Date()) {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    set(at: Date | string) {
      now = new Date(at).getTime();
    },
    advance(ms: number) {
      now += ms;
    },
  };
}

/** How many times each number was dialed, from the simulator. */
export async function dialsOf(lab: Lab, phoneNumber: string): Promise<number> {
  return (await simulatorStats(lab)).dials[phoneNumber] ?? 0;
}

export async function liveCalls(lab: Lab): Promise<{ inProgress: number; slots: number }> {
  const [row] = (await lab.sql`
    SELECT (SELECT count(*)::int FROM calls WHERE status = 'IN_PROGRESS') AS in_progress,
           (SELECT count(*)::int FROM live_call_slots) AS slots`) as {
    in_progress: number;
    slots: number;
  }[];
  return { inProgress: row?.in_progress ?? -1, slots: row?.slots ?? -1 };
}

/**
 * The real ElevenLabs client pointed at the Worker's configured base URL (the simulator),
 * with a short timeout (a 0408 number then fails in milliseconds, not 10 s) and, if given,
 * a wrapper around placeOutboundCall (to make the Worker "die" before or after dialing).
 */
export function simulatorClient(
  options: {
    timeoutMs?: number;
    around?: (
      place: ElevenLabsClient["placeOutboundCall"],
    ) => ElevenLabsClient["placeOutboundCall"];
  } = {},
) {
  return (config: Config): ElevenLabsClient => {
    const real = createElevenLabsClient({
      apiKey: TEST_SECRETS.ELEVENLABS_API_KEY,
      baseUrl: config.ELEVENLABS_API_BASE_URL,
      agentId: "agent_test",
      agentPhoneNumberId: "phnum_test",
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    return options.around
      ? { ...real, placeOutboundCall: options.around(real.placeOutboundCall) }
      : real;
  };
}
