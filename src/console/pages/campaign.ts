// /console/campaigns/{id}: where a campaign stands (the figures an operator looks for
// first: reached, waiting and why, failed and why, opted out), one stacked bar of its
// drivers by status, and its drivers, 100 a page, filterable by status. While it runs,
// console.js swaps the regions marked data-refresh-region (and the title) every few
// seconds.
import { html } from "hono/html";
import type { CampaignBreakdown } from "../../campaigns/breakdown";
import type { CampaignTargetView, CampaignView } from "../../campaigns/schemas";
import { TARGET_STATUSES, type TargetStatus } from "../../db/schema";
import { DRIVER_ERASED } from "../../retention/erase";
import { type Html, layout } from "./layout";
import {
  barLegend,
  formatInZone,
  formatUtc,
  stackedBar,
  statusBadge,
  tableBox,
  WAITING_FOR_LABEL,
  WAITING_FOR_TEXT,
} from "./parts";

export const TARGETS_PAGE_SIZE = 100;

export function campaignName(campaign: Pick<CampaignView, "id" | "name">): string {
  return campaign.name ?? `Campaign ${campaign.id.slice(0, 8)}`;
}

/** Starts with the name and holds the status word, as the contract asks. */
export function campaignTitle(campaign: CampaignView): string {
  return `${campaignName(campaign)} (${campaign.status}) · driver-calls console`;
}

const COUNT_KEY: Readonly<Record<TargetStatus, keyof CampaignView["counts"]>> = {
  QUEUED: "queued",
  CALLING: "calling",
  COMPLETED: "completed",
  FAILED: "failed",
  SKIPPED: "skipped",
  CANCELLED: "cancelled",
};

const OUTCOME_LABEL: Readonly<Record<string, string>> = {
  success: "successful",
  failure: "not successful",
  unknown: "unknown",
  none: "no analysis yet",
};

export interface CampaignPageProps {
  campaign: CampaignView;
  breakdown: CampaignBreakdown;
  targets: CampaignTargetView[];
  nextCursor: string | null;
  status: TargetStatus | undefined;
  page: number;
  now: Date;
  refreshSeconds: number;
}

function reasonList(reasons: Record<string, number>, words?: Record<string, string>): Html | "" {
  const entries = Object.entries(reasons).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return "";
  return html`<ul>${entries.map(([reason, count]) => html`<li>${words?.[reason] ?? reason}: ${count}</li>`)}</ul>`;
}

function figure(title: string, value: number, detail: Html | string = ""): Html {
  return html`<div class="figure"><h3>${title}</h3><p class="big">${value}</p>${detail}</div>`;
}

function pageUrl(id: string, query: { status?: string; cursor?: string; page?: number }): string {
  const params = new URLSearchParams();
  if (query.status) params.set("status", query.status);
  if (query.cursor) params.set("cursor", query.cursor);
  if (query.page && query.page > 1) params.set("page", String(query.page));
  const search = params.toString();
  return `/console/campaigns/${id}${search ? `?${search}` : ""}`;
}

function targetRow(campaignId: string, target: CampaignTargetView, now: Date): Html {
  const latest = target.call_sids.at(-1);
  const reason =
    target.last_failure_reason &&
    (["FAILED", "SKIPPED", "QUEUED"].includes(target.status) ||
      target.last_failure_reason === DRIVER_ERASED)
      ? html`<span class="hint">${target.last_failure_reason}</span>`
      : "";
  const waiting = target.waiting_for
    ? (WAITING_FOR_TEXT[target.waiting_for] ?? target.waiting_for)
    : "—";
  const call = latest
    ? html`<a href="/console/calls/${encodeURIComponent(latest)}?campaign=${campaignId}">${latest}</a>`
    : "—";
  return html`<tr>
    <td class="text">${target.driver_name ?? "(erased)"}<span class="hint">driver ${target.driver_id}</span></td>
    <td>${statusBadge(target.status)}${reason}</td>
    <td>${waiting}</td>
    <td class="nowrap">${formatInZone(target.next_attempt_at, target.time_zone, now)}</td>
    <td class="num">${target.attempts}</td>
    <td>${target.call_successful ?? "—"}</td>
    <td class="nowrap">${call}</td>
    <td class="nowrap mono">${target.phone_number ?? "—"}</td>
  </tr>`;
}

export function campaignPage(props: CampaignPageProps): Html {
  const { campaign, breakdown } = props;
  const counts = campaign.counts;
  const running = campaign.status === "RUNNING";
  const base = `/console/campaigns/${campaign.id}`;
  const first = (props.page - 1) * TARGETS_PAGE_SIZE + 1;
  const shownTotal = props.status ? counts[COUNT_KEY[props.status]] : counts.total;
  const range =
    props.targets.length === 0
      ? ": none"
      : ` ${first}–${first + props.targets.length - 1} of ${shownTotal}`;

  const filters = html`<ul class="filters" aria-label="Show drivers by status">
    <li><a href="${pageUrl(campaign.id, {})}"${props.status ? "" : html` aria-current="true"`}>All (${counts.total})</a></li>
    ${TARGET_STATUSES.map(
      (status) =>
        html`<li><a href="${pageUrl(campaign.id, { status })}"${props.status === status ? html` aria-current="true"` : ""}>${status} (${counts[COUNT_KEY[status]]})</a></li>`,
    )}
  </ul>`;

  const table = tableBox(
    "targets-caption",
    html`<table>
      <caption id="targets-caption">Drivers${props.status ? ` ${props.status}` : ""}${range}</caption>
      <thead><tr>
        <th scope="col">Driver</th><th scope="col">Status</th><th scope="col">Waiting for</th>
        <th scope="col">Next attempt (driver's time)</th><th scope="col" class="num">Attempts</th>
        <th scope="col">Outcome</th><th scope="col">Latest call</th><th scope="col">Phone number</th>
      </tr></thead>
      <tbody>${
        props.targets.length === 0
          ? html`<tr><td colspan="8">No drivers here.</td></tr>`
          : props.targets.map((target) => targetRow(campaign.id, target, props.now))
      }</tbody>
    </table>`,
  );

  const pager = html`<nav class="pager" aria-label="Driver pages">
    ${props.page > 1 ? html`<a href="${pageUrl(campaign.id, { status: props.status })}">First page</a>` : ""}
    ${props.nextCursor ? html`<a href="${pageUrl(campaign.id, { status: props.status, cursor: props.nextCursor, page: props.page + 1 })}">Next ${TARGETS_PAGE_SIZE} drivers</a>` : ""}
  </nav>`;

  return layout({
    title: campaignTitle(campaign),
    section: "campaigns",
    mainData: {
      "data-status": campaign.status,
      "data-status-text": `Campaign ${campaign.status}.`,
      ...(running ? { "data-refresh-seconds": String(props.refreshSeconds) } : {}),
    },
    body: html`<p><a href="/console">Campaigns</a></p>
      <div id="campaign-head" data-refresh-region>
        <h1>${campaignName(campaign)} ${statusBadge(campaign.status)}</h1>
        <p>${counts.total} drivers · created ${formatUtc(campaign.created_at)}${campaign.finished_at ? ` · finished ${formatUtc(campaign.finished_at)}` : ""} · as of ${formatUtc(props.now.toISOString(), true)}</p>
      </div>
      <p id="refresh-announcer" class="visually-hidden" role="status"></p>
      <div id="campaign-actions" data-refresh-region class="actions">
        ${running ? html`<form method="get" action="${base}/cancel"><button type="submit" class="danger">Cancel campaign</button></form>` : ""}
        <a class="button" href="${base}/results.csv">Download results (CSV)</a>
      </div>
      <section id="campaign-summary" data-refresh-region aria-labelledby="summary-heading">
        <h2 id="summary-heading">Where it stands</h2>
        <div class="figures">
          ${figure("Reached", counts.completed, reasonList(breakdown.reached, OUTCOME_LABEL))}
          ${figure(
            "Waiting",
            counts.queued,
            html`${reasonList(breakdown.waiting, WAITING_FOR_LABEL)}${counts.calling > 0 ? html`<p>Calling now: ${counts.calling}</p>` : ""}`,
          )}
          ${figure("Failed", counts.failed, reasonList(breakdown.failed))}
          ${figure("Opted out", breakdown.optedOut, html`<p>asked on a call not to be called again</p>`)}
          ${figure(
            "Not called",
            counts.skipped + counts.cancelled,
            html`<ul><li>on the do-not-call list: ${counts.skipped}</li><li>cancelled: ${counts.cancelled}</li></ul>`,
          )}
        </div>
        <h3>Drivers by status</h3>
        ${stackedBar(counts)}
        ${barLegend(counts)}
      </section>
      <section aria-labelledby="targets-heading">
        <h2 id="targets-heading">Drivers</h2>
        <div id="targets-region" data-refresh-region>${filters}${table}${pager}</div>
      </section>
      <section aria-labelledby="settings-heading">
        <h2 id="settings-heading">Settings</h2>
        <dl class="meta panel">
          <dt>Time zone</dt><dd>${campaign.time_zone ?? "each driver's own"}</dd>
          <dt>Calling window</dt><dd>${campaign.calling_window.start}–${campaign.calling_window.end}, each driver's local time</dd>
          <dt>Days</dt><dd>${campaign.calling_window.days.join(", ")}</dd>
          <dt>Start at</dt><dd>${formatInZone(campaign.start_at, campaign.time_zone ?? "UTC", props.now)}</dd>
          <dt>Attempts</dt><dd>at most ${campaign.retry.max_attempts}, ${campaign.retry.backoff_minutes} minutes apart; retried: ${campaign.retry.on.join(", ")}</dd>
        </dl>
      </section>`,
  });
}

export function cancelCampaignPage(campaign: CampaignView): Html {
  const name = campaignName(campaign);
  const base = `/console/campaigns/${campaign.id}`;
  return layout({
    title: `Cancel ${name}? · driver-calls console`,
    section: "campaigns",
    body: html`<p><a href="${base}">${name}</a></p>
      <h1>Cancel “${name}”?</h1>
      <p>Drivers not called yet (${campaign.counts.queued}) will not be called. Calls already
        ringing (${campaign.counts.calling}) go on and are recorded. This cannot be undone.</p>
      <div class="actions">
        <form method="post" action="${base}/cancel"><button type="submit" class="danger-strong">Cancel campaign</button></form>
        <a href="${base}">Keep it running</a>
      </div>`,
  });
}
