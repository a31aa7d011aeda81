// Chaos: the dispatcher's promises, checked after every round of a seeded, replayable run
// in which everything goes wrong at once. Campaigns that share phone numbers, with calling
// windows (the clock crosses their edges) and retry rules; batches racing them for the same
// numbers; a do-not-call entry before and one mid-run; a campaign cancelled mid-run;
// consumers that run twice at once or die before or after dialing; database faults (503s,
// dropped connections, answers lost after the commit); and a simulator in chaos mode
// (every call draws an ending, its post-call webhook may come twice or before the last
// utterance), whose webhooks are delivered shuffled, some late, those answered 503 again.
//
// Seed: CHAOS_SEED (inside workerd, Vitest passes only VITE_-prefixed shell variables, so
// run `VITE_CHAOS_SEED=7 npx vitest run --project workers tests/workers/chaos.test.ts`);
// a fixed default otherwise. Scale: CHAOS_SCALE=big (VITE_CHAOS_SCALE=big) for the bench.
// Every failure message carries the seed. A run replays the test's own choices from its
// seed, and the simulator's draws in the order dials arrive; what concurrency decides
// (which lane dials first, when a webhook is taken) can differ from one run to the next.
//
// The promises (checked at every quiet moment, tests/support/chaos.ts checkInvariants):
//   1. live calls never above MAX_LIVE_CALLS (also sampled while work runs), slots and live
//      calls agree, the simulator never sees more live calls than its plan;
//   2. never two live calls to one number (database, and accepted dials at the simulator
//      never overlapping in time), never a Call dialed twice;
//   3. never a dial outside the driver's calling window, for a COMPLETED target, of the
//      cancelled campaign after its cancel answered, or to a number on the do-not-call list;
//   4. every target final, every campaign COMPLETED or CANCELLED, no call live, within a
//      bound of rounds;
//   5. retries exactly as `retry` says;
//   6. no answer 500 to any request the test made.
import { describe, expect, it } from "vitest";
import { DISPATCH_CRON, RECONCILER_CRON } from "../../src/crons";
import {
  between,
  type ChaosContext,
  ChaosLog,
  Courier,
  chaosEnv,
  chaosSeed,
  checkEnd,
  checkInvariants,
  mulberry32,
  newContext,
  playedOut,
  type Snapshot,
  sampledWhile,
  shuffled,
  sleep,
  snapshot,
  trackedRequest,
  zonesAround,
} from "../support/chaos";
import {
  consumeDispatch,
  fireCron,
  type Lab,
  movableClock,
  newLab,
  operatorRequest,
  simulatorClient,
} from "../support/dispatch";
import { neonControl, newScope } from "../support/worker";

const SEED = chaosSeed();
const BIG = chaosEnv("CHAOS_SCALE") === "big";
const SCALE = BIG
  ? {
      campaigns: 4,
      drivers: 30,
      numbers: 24,
      batches: 6,
      batchSize: 4,
      rounds: 150,
      endRounds: 150,
      cap: 8,
      callConcurrency: 5,
      timeoutMs: 900_000,
    }
  : {
      campaigns: 3,
      drivers: 8,
      numbers: 8,
      batches: 2,
      batchSize: 3,
      rounds: 40,
      endRounds: 60,
      cap: 4,
      callConcurrency: 3,
      // The run takes 10-17 s alone; the margin is for a loaded CI machine running every file.
      timeoutMs: 90_000,
    };
const CALL_SECONDS = 0.3;
/** Chance that a post-call webhook is held back one to three rounds (main phase). */
const LATE_CHANCE = 0.08;
const REPLAY = `VITE_CHAOS_SEED=${SEED}${BIG ? " VITE_CHAOS_SCALE=big" : ""} npx vitest run --project workers tests/workers/chaos.test.ts`;

const RETRYABLE = ["busy", "no-answer", "voicemail"] as const;

interface CampaignSpec {
  name: string;
  window: { start: string; end: string };
  /** "utc": every driver in UTC; "spread": drivers in zones around the window's edges. */
  zones: "utc" | "spread";
  retry: { max_attempts: number; backoff_minutes: number; on: string[] };
}

const CAMPAIGN_SPECS: CampaignSpec[] = [
  {
    name: "chaos all day",
    window: { start: "00:00", end: "23:59" },
    zones: "utc",
    retry: { max_attempts: 3, backoff_minutes: 1, on: [...RETRYABLE] },
  },
  {
    name: "chaos windows, busy and no answer",
    window: { start: "06:00", end: "22:00" },
    zones: "spread",
    retry: { max_attempts: 2, backoff_minutes: 1, on: ["busy", "no-answer"] },
  },
  {
    name: "chaos windows, no answer and voicemail",
    window: { start: "06:00", end: "22:00" },
    zones: "spread",
    retry: { max_attempts: 3, backoff_minutes: 1, on: ["no-answer", "voicemail"] },
  },
  {
    name: "chaos windows, voicemail",
    window: { start: "06:00", end: "22:00" },
    zones: "spread",
    retry: { max_attempts: 2, backoff_minutes: 1, on: ["voicemail"] },
  },
];

const VIOLATIONS = [
  {
    code: "HOS_11H",
    description: "Exceeded the 11-hour driving limit",
    occurred_at: "2026-11-20T14:05:00-06:00",
  },
];

/**
 * Shared numbers: the first three always end the same way (0486 busy, 0487 no answer, 0488
 * voicemail: retried until max_attempts where `retry.on` says so), the others (1003,
 * 1004, ...) play what the simulator's chaos draws. Batch-only numbers: 2000, 2001, ...
 */
const sharedNumber = (index: number) =>
  index < 3 ? `+1555012${["0486", "0487", "0488"][index]}` : `+1555012${1000 + index}`;
const batchNumber = (index: number) => `+1555013${2000 + index}`;

function summary(snap: Snapshot): string {
  const count = (values: string[]) =>
    values.reduce<Record<string, number>>((counts, value) => {
      counts[value] = (counts[value] ?? 0) + 1;
      return counts;
    }, {});
  return JSON.stringify({
    campaigns: snap.campaigns.map((campaign) => campaign.status),
    targets: count(snap.targets.map((target) => target.status)),
    calls: count(snap.calls.map((call) => `${call.status} ${call.failure_reason ?? ""}`.trim())),
    behaviours: count(snap.records.map((record) => record.chaosBehaviour ?? record.outcome)),
    simulator: { max_live: snap.stats.max_live, refused: snap.stats.refused_for_concurrency },
  });
}

describe("chaos", () => {
  it(
    `keeps the dispatcher's promises under chaos (seed ${SEED}${BIG ? ", big" : ""})`,
    async () => {
      const startedAt = Date.now();
      const plan = mulberry32(SEED);
      // Draws whose number depends on timing (webhooks taken, dials made) come from their
      // own PRNG, so that they never shift the plan's draws.
      const courierRandom = mulberry32(SEED ^ 0x5eed);
      const log = new ChaosLog();
      const clock = movableClock(new Date());
      const kill = { mode: "none" as "none" | "before" | "after", remaining: 0 };
      /** Calls whose consumer died before / after dialing them. */
      const killed = { before: [] as string[], after: [] as string[] };
      // Set once the courier exists: holds a killed call's post-call events (see Courier.hold).
      let holdPostCalls = (_callSid: string) => {};
      const lab: Lab = await newLab({
        maxLiveCalls: SCALE.cap,
        simulatorPlan: SCALE.cap,
        callSeconds: CALL_SECONDS,
        callConcurrency: SCALE.callConcurrency,
        chaosSeed: SEED,
        deps: {
          clock,
          elevenLabs: simulatorClient({
            around: (place) => async (request) => {
              // A consumer "killed mid-run": the isolate is evicted before or after the dial.
              if (kill.mode === "before" && kill.remaining > 0) {
                kill.remaining -= 1;
                killed.before.push(String(request.dynamicVariables.call_sid));
                throw new Error("isolate evicted before dialing (chaos)");
              }
              const result = await place(request);
              if (kill.mode === "after" && kill.remaining > 0) {
                kill.remaining -= 1;
                const callSid = String(request.dynamicVariables.call_sid);
                killed.after.push(callSid);
                holdPostCalls(callSid);
                throw new Error("isolate evicted after dialing (chaos)");
              }
              return result;
            },
          }),
        },
      });
      // The Worker's statements go through a fault scope; the test's own (lab.sql) do not.
      const scope = newScope();
      const url = new URL(lab.databaseUrl);
      url.searchParams.set("scope", scope);
      lab.env.DATABASE_URL = url.toString();
      const courier = new Courier(lab, log, courierRandom, clock);
      holdPostCalls = (callSid) => courier.hold(callSid);
      const request = (req: Request) => trackedRequest(lab, log, req);
      const zones = zonesAround(clock.now());
      const context = () =>
        `seed ${SEED} (replay: ${REPLAY}), clock started ${new Date(startedAt).toISOString()}, zones ${JSON.stringify(zones)}`;

      let last: Snapshot | null = null;
      const check = async (ctx: ChaosContext) => {
        last = await snapshot(lab);
        checkInvariants(last, ctx, log);
        expect(log.violations, `${context()}: ${summary(last)}`).toEqual([]);
        return last;
      };

      try {
        // --- Set-up: a number on the do-not-call list before anything starts.
        const numbers = Array.from({ length: SCALE.numbers }, (_, index) => sharedNumber(index));
        const listedBefore = numbers[SCALE.numbers - 1] as string;
        const listedMidRun = numbers[SCALE.numbers - 2] as string;
        const put = async (number: string) => {
          for (let tries = 0; tries < 5; tries++) {
            const response = await request(
              operatorRequest("PUT", `/do-not-call/${encodeURIComponent(number)}`),
            );
            await response.arrayBuffer();
            if (response.status === 200 || response.status === 201) return Date.now();
            await sleep(50);
          }
          throw new Error(`PUT /do-not-call/${number} kept failing`);
        };
        const putBefore = await put(listedBefore);

        // --- Campaigns sharing the numbers, with different driver ids.
        const kinds = ["midday", "closing", "opening", "night"] as const;
        const campaignIds: string[] = [];
        for (const [c, spec] of CAMPAIGN_SPECS.slice(0, SCALE.campaigns).entries()) {
          const order = shuffled(plan, numbers);
          const drivers = Array.from({ length: SCALE.drivers }, (_, j) => ({
            driver_id: (c + 1) * 1000 + j,
            phone_number: order[j % order.length] as string,
            driver_name: `Chaos ${c}-${j}`,
            violations: VIOLATIONS,
            ...(spec.zones === "spread"
              ? { time_zone: zones[kinds[j % kinds.length] ?? "midday"] }
              : {}),
          }));
          const response = await request(
            operatorRequest("POST", "/campaigns", {
              name: spec.name,
              ...(spec.zones === "utc" ? { time_zone: "UTC" } : {}),
              calling_window: spec.window,
              retry: spec.retry,
              drivers,
            }),
          );
          const body = (await response.json()) as { campaign: { id: string } };
          expect(response.status, `${context()}: create campaign ${JSON.stringify(body)}`).toBe(
            202,
          );
          campaignIds.push(body.campaign.id);
        }
        const cancelled = campaignIds[between(plan, 0, campaignIds.length - 1)] as string;
        const ctx = newContext({
          cap: SCALE.cap,
          plan: SCALE.cap,
          callSeconds: CALL_SECONDS,
          cancelCampaignId: cancelled,
          finalTakenAt: courier.finalTakenAt,
        });
        ctx.doNotCallPuts.set(listedBefore, putBefore);

        // --- When things happen.
        const dncRound = between(plan, Math.floor(SCALE.rounds / 5), Math.floor(SCALE.rounds / 2));
        const cancelRound = between(plan, 2, Math.floor(SCALE.rounds / 4));
        const cancelRaces = plan() < 0.5;
        const batchRounds = new Set<number>();
        while (batchRounds.size < SCALE.batches) {
          batchRounds.add(between(plan, 1, Math.floor(SCALE.rounds * 0.7)));
        }
        const batchQueue: number[] = [];
        let batchesSent = 0;
        let consumerErrors = 0;

        const cancel = async () => {
          for (let tries = 0; tries < 10; tries++) {
            const response = await request(
              operatorRequest("POST", `/campaigns/${cancelled}/cancel`),
            );
            const text = await response.text();
            if (response.status === 200) {
              ctx.cancel.answeredAt = Date.now();
              return;
            }
            if (response.status === 409) {
              log.note(`the campaign to cancel had COMPLETED already: ${text.slice(0, 200)}`);
              return;
            }
            if (response.status !== 503) {
              log.violation(`cancel answered ${response.status}: ${text.slice(0, 300)}`);
              return;
            }
            await sleep(30);
          }
        };

        const sendBatch = async (index: number) => {
          const drivers = [
            ...shuffled(plan, numbers)
              .slice(0, SCALE.batchSize - 1)
              .map((number, k) => ({
                driver_id: 900_000 + index * 100 + k,
                phone_number: number,
                driver_name: `Batch ${index}-${k}`,
                violations: VIOLATIONS,
              })),
            {
              driver_id: 900_000 + index * 100 + 99,
              phone_number: batchNumber(index),
              driver_name: `Batch ${index} own`,
              violations: VIOLATIONS,
            },
          ];
          return async () => {
            const response = await request(operatorRequest("POST", "/calls/batch", { drivers }));
            const text = await response.text();
            if (![200, 429, 503].includes(response.status)) {
              log.violation(`batch answered ${response.status}: ${text.slice(0, 300)}`);
            }
            if (response.status === 200) {
              const body = JSON.parse(text) as { results: { status: string }[] };
              for (const result of body.results) {
                if (!["IN_PROGRESS", "FAILED"].includes(result.status)) {
                  log.violation(`batch result ${JSON.stringify(result)}`);
                }
              }
            }
          };
        };

        /**
         * The reconciler's cron, once the simulator's calls have played out: it must not free
         * a number whose call is still live at ElevenLabs (the clock here runs faster than
         * the calls; in production ten minutes are ten minutes). Then the post-call events
         * of killed calls it has failed go out (or all of them, `releaseAll`).
         */
        const reconcile = async (releaseAll: boolean) => {
          await playedOut(lab);
          await courier.deliverOnce();
          await fireCron(lab, RECONCILER_CRON);
          const held = courier.heldSids();
          if (held.length === 0) return;
          const failed = (await lab.sql`
            SELECT call_sid FROM calls
            WHERE call_sid = ANY(${held}) AND status <> 'IN_PROGRESS'`) as { call_sid: string }[];
          courier.releaseHeld(releaseAll ? held : failed.map((row) => row.call_sid));
        };

        const consume = async (allowed: () => boolean) => {
          try {
            await consumeDispatch(lab);
          } catch (error) {
            consumerErrors += 1;
            if (!allowed())
              log.violation(`the queue consumer threw with no fault and no kill: ${String(error)}`);
          }
        };

        // --- The chaos rounds.
        for (let round = 0; round < SCALE.rounds; round++) {
          log.round = round;
          // A fixed number of draws per round, whatever is used, so rounds replay alike.
          const consumers = plan() < 0.3 ? 2 : 1;
          const faultDraw = plan();
          const faultParam = plan();
          const killDraw = plan();
          const killParam = plan();
          const playMs = Math.floor(plan() * 150);
          const advanceDraw = plan();
          const advanceParam = plan();
          const cronDuringWork = plan() < 0.4;
          const reconcileDraw = plan();

          if (round === dncRound) ctx.doNotCallPuts.set(listedMidRun, await put(listedMidRun));
          if (round === cancelRound && !cancelRaces) await cancel();

          const faulty = faultDraw < 0.4;
          if (faultDraw < 0.14) {
            // A flaky database: some statements fail (503, dropped connection).
            await neonControl({ scope, randomFailureRate: 0.05 + 0.35 * faultParam });
          } else if (faultDraw < 0.2) {
            // An outage: most statements fail, retries run out, answers are 503.
            await neonControl({ scope, randomFailureRate: 0.75 + 0.2 * faultParam });
          } else if (faultDraw < 0.32) {
            await neonControl({
              scope,
              fail: { mode: "drop_after_commit", count: 1 + Math.floor(faultParam * 3) },
            });
          } else if (faultDraw < 0.4) {
            await neonControl({
              scope,
              fail: { mode: "http_503", count: 1 + Math.floor(faultParam * 3) },
            });
          }
          const killing = killDraw < 0.12;
          if (killing) {
            kill.mode = killParam < 0.5 ? "before" : "after";
            kill.remaining = 1 + Math.floor((killParam * 4) % 2);
          }
          const allowed = () => faulty || killing;

          if (batchRounds.has(round)) batchQueue.push(batchesSent++);
          const work: Promise<unknown>[] = [];
          for (let k = 0; k < consumers; k++) work.push(consume(allowed));
          // A batch never runs with a killing ElevenLabs client: its request would throw.
          if (!killing && batchQueue.length > 0) {
            work.push((await sendBatch(batchQueue.shift() as number))());
          }
          const racingCancel = round === cancelRound && cancelRaces;
          if (racingCancel) work.push(cancel());
          if (cronDuringWork) work.push(fireCron(lab, DISPATCH_CRON));
          await courier.whilst(sampledWhile(lab, log, SCALE.cap, Promise.all(work)), {
            lateChance: LATE_CHANCE,
          });
          if (racingCancel) ctx.cancel.raceEndedAt = Date.now();
          kill.mode = "none";
          kill.remaining = 0;

          // Calls play; what they sent is delivered; the cron's safety net runs.
          await sleep(playMs);
          await courier.deliverOnce({ lateChance: LATE_CHANCE });
          await courier.whilst(sampledWhile(lab, log, SCALE.cap, fireCron(lab, DISPATCH_CRON)), {
            lateChance: LATE_CHANCE,
          });
          await neonControl({ scope, reset: true });

          // Time passes: seconds, minutes, now and then long enough for the reconciler.
          const advanceMs =
            advanceDraw < 0.6
              ? 5_000 + advanceParam * 55_000
              : advanceDraw < 0.9
                ? 60_000 + advanceParam * 240_000
                : 360_000 + advanceParam * 360_000;
          clock.advance(Math.round(advanceMs));
          if (round % 6 === 5 || advanceMs >= 360_000 || reconcileDraw < 0.08) {
            await reconcile(false);
          }
          await check(ctx);
        }
        if (
          ctx.cancel.answeredAt === null &&
          !log.notes.some((note) => note.includes("COMPLETED already"))
        ) {
          await cancel();
        }

        // --- The end: no more faults; play on until every campaign is over and no call live.
        let finished = false;
        for (let end = 0; end < SCALE.endRounds; end++) {
          log.round = SCALE.rounds + end;
          await courier.whilst(
            sampledWhile(
              lab,
              log,
              SCALE.cap,
              consume(() => false),
            ),
          );
          await playedOut(lab);
          await courier.drain();
          await courier.whilst(sampledWhile(lab, log, SCALE.cap, fireCron(lab, DISPATCH_CRON)));
          await playedOut(lab);
          await courier.drain();
          const snap = await check(ctx);
          const live = snap.calls.some((call) => call.status === "IN_PROGRESS");
          const over = snap.campaigns.every((campaign) => campaign.status !== "RUNNING");
          if (over && !live && courier.pending() === 0) {
            finished = true;
            break;
          }
          const now = clock.now().getTime();
          const running = new Set(
            snap.campaigns.filter((campaign) => campaign.status === "RUNNING").map((c) => c.id),
          );
          const nextDue = snap.targets
            .filter((target) => target.status === "QUEUED" && running.has(target.campaign_id))
            .map((target) =>
              target.next_attempt_at ? new Date(target.next_attempt_at).getTime() : now,
            )
            .reduce((soonest, at) => Math.min(soonest, at), Number.POSITIVE_INFINITY);
          if (!live && Number.isFinite(nextDue) && nextDue > now) {
            clock.set(new Date(nextDue + 1_000));
          } else {
            clock.advance(live ? 20 * 60_000 : 5 * 60_000);
          }
          await reconcile(end >= 3);
        }
        const final = await snapshot(lab);
        expect(
          finished,
          `${context()}: not over within ${SCALE.endRounds} rounds after the chaos: ${summary(final)}`,
        ).toBe(true);
        checkEnd(final, log);
        expect(log.violations, `${context()}: ${summary(final)}`).toEqual([]);
        const outcomeOf = (callSid: string) =>
          final.records.find((record) => record.callSid === callSid)?.outcome ?? "not dialed";
        const killedCalls = (sids: string[]) =>
          final.calls
            .filter((call) => sids.includes(call.call_sid))
            .map(
              (call) => `${call.status} ${call.failure_reason ?? ""} (${outcomeOf(call.call_sid)})`,
            );
        console.log(
          `chaos seed ${SEED}: ${((Date.now() - startedAt) / 1000).toFixed(1)} s, ${JSON.stringify({
            rounds: `${SCALE.rounds} + ${log.round - SCALE.rounds + 1} to finish`,
            dials: final.records.length,
            webhooks_delivered: courier.delivered,
            consumer_errors: consumerErrors,
            killed_before_dialing: killedCalls(killed.before),
            killed_after_dialing: killedCalls(killed.after),
            cancel: ctx.cancel.raceEndedAt === null ? "between rounds" : "raced",
            answers: Object.fromEntries(log.answers),
            notes: log.notes,
          })} ${summary(final)}`,
        );
      } finally {
        await neonControl({ scope, reset: true });
        if (log.violations.length > 0 && last) {
          console.log(`chaos seed ${SEED} violations: ${JSON.stringify(log.violations, null, 1)}`);
          // The rows, for the report of what broke.
          const snap = last as Snapshot;
          console.log(`chaos seed ${SEED} calls: ${JSON.stringify(snap.calls)}`);
          console.log(`chaos seed ${SEED} targets: ${JSON.stringify(snap.targets)}`);
          console.log(`chaos seed ${SEED} campaigns: ${JSON.stringify(snap.campaigns)}`);
          console.log(`chaos seed ${SEED} killed: ${JSON.stringify(killed)}`);
          console.log(
            `chaos seed ${SEED} dials: ${JSON.stringify(
              snap.records.map((record) => ({
                at: record.at,
                call_sid: record.callSid,
                outcome: record.outcome,
                chaos: record.chaosBehaviour,
                delivery: record.chaosDelivery,
                conversation_id: record.conversationId,
                final_webhook_taken_at:
                  record.conversationId && courier.finalTakenAt.get(record.conversationId),
              })),
            )}`,
          );
        }
      }
    },
    SCALE.timeoutMs,
  );
});
