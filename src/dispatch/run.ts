// One run of the campaign dispatcher: what a queue message (and the cron safety net)
// triggers. It re-reads the database and never trusts the message: a message says only
// "there may be work", so a repeated, late or lost message can do no harm.
//
// A run starts up to `lanes` lanes. A lane takes a claimed call, dials it and records the
// answer, and takes the next. When lanes run out of claimed calls, one claim statement
// claims for all of them (it takes their slots and writes their Call rows), as long as the
// last claim saw more due targets and free slots. Each lane holds at most one connection
// at a time, so lanes <= 6 keeps a run within a Worker's 6 simultaneous connections. A run
// stops claiming after `maxRunMs`; work left then is picked up by the next message (one is
// sent) or the cron.
import type { Clock } from "../app-env";
import type { Database } from "../db/client";
import type { ElevenLabsClient } from "../elevenlabs/client";
import type { DispatchMessage } from "../env";
import type { Logger } from "../http/log";
import { type ClaimedCall, claimCampaignTargets } from "./claim";
import { placeClaimedCall } from "./place-call";
import { completeFinishedCampaigns, placeWaitingTargets } from "./targets";

export interface DispatchRunOptions {
  db: Database;
  elevenLabs: ElevenLabsClient;
  clock: Clock;
  log: Logger;
  maxLiveCalls: number;
  lanes: number;
  transcriptionWebhookToken?: string;
  /** Whether to compute next openings and finish campaigns first (the cron's run). */
  housekeeping?: boolean;
  maxRunMs?: number;
  /** To wake the dispatcher again when an early post-call event ends a call it just dialed. */
  queue?: Queue<DispatchMessage> | undefined;
}

export interface DispatchReport {
  placed: number;
  dialed: number;
  failedToDial: number;
  skipped: number;
  /** Dials ElevenLabs refused for concurrency: those targets wait 30 s for a slot. */
  refusedForConcurrency: number;
  /** Claimed drivers whose campaign was cancelled before their dial: not dialed. */
  cancelledBeforeDial: number;
  /** More work was due when the run stopped for time. */
  unfinished: boolean;
}

const DEFAULT_MAX_RUN_MS = 60_000;
const MAX_EMPTY_CLAIMS = 3;

export async function runDispatch(options: DispatchRunOptions): Promise<DispatchReport> {
  const { db, clock, log } = options;
  const report: DispatchReport = {
    placed: 0,
    dialed: 0,
    failedToDial: 0,
    skipped: 0,
    refusedForConcurrency: 0,
    cancelledBeforeDial: 0,
    unfinished: false,
  };
  if (options.housekeeping) {
    report.placed = (await placeWaitingTargets(db, { now: clock.now(), log })).length;
    await completeFinishedCampaigns(db);
  }
  const startedAt = Date.now();
  const maxRunMs = options.maxRunMs ?? DEFAULT_MAX_RUN_MS;
  const campaignsWithSkips = new Set<string>();

  const lanes = Math.max(1, Math.min(options.lanes, 6));
  // Claimed calls not yet taken by a lane, and the one claim in flight (if any). A lane
  // that needs work joins the claim in flight rather than starting its own: one statement
  // claims for every idle lane at once, and the lane making it holds the only connection
  // (the lanes waiting for it hold none).
  const claimed: ClaimedCall[] = [];
  let claiming: Promise<void> | null = null;
  let idleLanes = 0;
  let exhausted = false;
  let outOfTime = false;
  let emptyClaimsInARow = 0;

  const claimForIdleLanes = async () => {
    if (Date.now() - startedAt > maxRunMs) {
      report.unfinished = true;
      exhausted = true;
      outOfTime = true;
      return;
    }
    const claim = await claimCampaignTargets(db, {
      want: Math.max(1, idleLanes),
      maxLiveCalls: options.maxLiveCalls,
      now: clock.now(),
    });
    for (const campaignId of claim.skippedInCampaigns) campaignsWithSkips.add(campaignId);
    claimed.push(...claim.calls);
    const progressed = claim.calls.length > 0 || claim.skippedInCampaigns.length > 0;
    emptyClaimsInARow = progressed ? 0 : emptyClaimsInARow + 1;
    // No more due targets, or no free slot: the next message (a finished call) or the cron
    // starts the next run. Work and slots were there, yet nothing was claimed a few times:
    // another consumer took them first; leave it to it.
    if (!claim.moreDue || claim.freeSlotsLeft === 0 || emptyClaimsInARow >= MAX_EMPTY_CLAIMS) {
      exhausted = true;
    } else if (!progressed) {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10));
    }
  };

  const nextCall = async (): Promise<ClaimedCall | undefined> => {
    idleLanes += 1;
    try {
      while (claimed.length === 0 && !exhausted) {
        claiming ??= claimForIdleLanes().finally(() => {
          claiming = null;
        });
        await claiming;
      }
      return claimed.shift();
    } finally {
      idleLanes -= 1;
    }
  };

  const lane = async () => {
    for (let call = await nextCall(); call; call = await nextCall()) {
      const placed = await placeClaimedCall({
        db,
        elevenLabs: options.elevenLabs,
        call: { ...call, violations: Array.isArray(call.violations) ? call.violations : [] },
        transcriptionWebhookToken: options.transcriptionWebhookToken,
        log,
        now: () => clock.now(),
        queue: options.queue,
      });
      if (placed.ok) report.dialed += 1;
      else if (placed.code === "elevenlabs_at_capacity") report.refusedForConcurrency += 1;
      else if (placed.code === "campaign_cancelled") report.cancelledBeforeDial += 1;
      else report.failedToDial += 1;
      if (!placed.ok && placed.code !== "elevenlabs_at_capacity" && !outOfTime) {
        // The failed dial freed its slot at once: this run hands it on (the claim that
        // ended the run may have seen no free slot), not the next message or the cron. A
        // concurrency refusal is not followed up here: ElevenLabs is full right now.
        exhausted = false;
        emptyClaimsInARow = 0;
      }
    }
  };
  // Every lane runs to its end even when another one throws: a lane abandoned mid-dial
  // would leave a call whose answer nobody records. The first error is thrown after.
  const ended = await Promise.allSettled(Array.from({ length: lanes }, lane));
  const failed = ended.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;

  report.skipped = campaignsWithSkips.size;
  // A do-not-call skip may have finished a campaign's last target; no call status changed,
  // so the trigger that completes campaigns did not run.
  if (campaignsWithSkips.size > 0) await completeFinishedCampaigns(db, [...campaignsWithSkips]);
  return report;
}
