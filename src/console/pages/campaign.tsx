// /console/campaigns/{id}: where a campaign stands (the figures an operator looks for
// first: reached, waiting and why, failed and why, opted out), one stacked bar of its
// drivers by status, and its drivers, 100 a page, filterable by status. While it runs,
// console.js swaps the regions marked data-refresh-region (and the title) every few
// seconds.
import type { CampaignBreakdown } from "../../campaigns/breakdown";
import type { CampaignTargetView, CampaignView } from "../../campaigns/schemas";
import { TARGET_STATUSES, type TargetStatus } from "../../db/schema";
import { Layout } from "./layout";
import {
  BarLegend,
  formatDriverLocal,
  formatUtc,
  StackedBar,
  StatusBadge,
  TableBox,
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

function ReasonList(props: { reasons: Record<string, number>; words?: Record<string, string> }) {
  const entries = Object.entries(props.reasons).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return null;
  return (
    <ul>
      {entries.map(([reason, count]) => (
        <li>
          {props.words?.[reason] ?? reason}: {count}
        </li>
      ))}
    </ul>
  );
}

function pageUrl(id: string, query: { status?: string; cursor?: string; page?: number }): string {
  const params = new URLSearchParams();
  if (query.status) params.set("status", query.status);
  if (query.cursor) params.set("cursor", query.cursor);
  if (query.page && query.page > 1) params.set("page", String(query.page));
  const search = params.toString();
  return `/console/campaigns/${id}${search ? `?${search}` : ""}`;
}

export function CampaignPage(props: CampaignPageProps) {
  const { campaign, breakdown, counts } = { ...props, counts: props.campaign.counts };
  const running = campaign.status === "RUNNING";
  const name = campaignName(campaign);
  const base = `/console/campaigns/${campaign.id}`;
  const first = (props.page - 1) * TARGETS_PAGE_SIZE + 1;
  const shownTotal = props.status ? counts[COUNT_KEY[props.status]] : counts.total;
  const range =
    props.targets.length === 0
      ? "none"
      : `${first}–${first + props.targets.length - 1} of ${shownTotal}`;
  const waiting = counts.queued;
  return (
    <Layout
      title={campaignTitle(campaign)}
      section="campaigns"
      mainData={{
        "data-status": campaign.status,
        "data-status-text": `Campaign ${campaign.status}.`,
        ...(running ? { "data-refresh-seconds": String(props.refreshSeconds) } : {}),
      }}
    >
      <p>
        <a href="/console">Campaigns</a>
      </p>
      <div id="campaign-head" data-refresh-region>
        <h1>
          {name} <StatusBadge status={campaign.status} />
        </h1>
        <p>
          {counts.total} drivers · created {formatUtc(campaign.created_at)}
          {campaign.finished_at ? ` · finished ${formatUtc(campaign.finished_at)}` : ""} · as of{" "}
          {formatUtc(props.now.toISOString(), true)}
        </p>
      </div>
      <p id="refresh-announcer" class="visually-hidden" role="status"></p>

      <div id="campaign-actions" data-refresh-region class="actions">
        {running ? (
          <form method="get" action={`${base}/cancel`}>
            <button type="submit" class="danger">
              Cancel campaign
            </button>
          </form>
        ) : null}
        <a class="button" href={`${base}/results.csv`}>
          Download results (CSV)
        </a>
      </div>

      <section id="campaign-summary" data-refresh-region aria-labelledby="summary-heading">
        <h2 id="summary-heading">Where it stands</h2>
        <div class="figures">
          <div class="figure">
            <h3>Reached</h3>
            <p class="big">{counts.completed}</p>
            <ReasonList
              reasons={breakdown.reached}
              words={{
                success: "successful",
                failure: "not successful",
                unknown: "unknown",
                none: "no analysis yet",
              }}
            />
          </div>
          <div class="figure">
            <h3>Waiting</h3>
            <p class="big">{waiting}</p>
            <ReasonList reasons={breakdown.waiting} words={WAITING_FOR_LABEL} />
            {counts.calling > 0 ? <p>Calling now: {counts.calling}</p> : null}
          </div>
          <div class="figure">
            <h3>Failed</h3>
            <p class="big">{counts.failed}</p>
            <ReasonList reasons={breakdown.failed} />
          </div>
          <div class="figure">
            <h3>Opted out</h3>
            <p class="big">{breakdown.optedOut}</p>
            <p>asked on a call not to be called again</p>
          </div>
          <div class="figure">
            <h3>Not called</h3>
            <p class="big">{counts.skipped + counts.cancelled}</p>
            <ul>
              <li>on the do-not-call list: {counts.skipped}</li>
              <li>cancelled: {counts.cancelled}</li>
            </ul>
          </div>
        </div>
        <h3 id="bar-heading">Drivers by status</h3>
        <StackedBar counts={counts} />
        <BarLegend counts={counts} />
      </section>

      <section aria-labelledby="targets-heading">
        <h2 id="targets-heading">Drivers</h2>
        <div id="targets-region" data-refresh-region>
          <ul class="filters" aria-label="Show drivers by status">
            <li>
              <a href={pageUrl(campaign.id, {})} aria-current={props.status ? undefined : "true"}>
                All ({counts.total})
              </a>
            </li>
            {TARGET_STATUSES.map((status) => (
              <li>
                <a
                  href={pageUrl(campaign.id, { status })}
                  aria-current={props.status === status ? "true" : undefined}
                >
                  {status} ({counts[COUNT_KEY[status]]})
                </a>
              </li>
            ))}
          </ul>
          <TableBox labelledBy="targets-caption">
            <table>
              <caption id="targets-caption">
                Drivers {props.status ? `${props.status} ` : ""}
                {range}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Driver</th>
                  <th scope="col">Status</th>
                  <th scope="col">Waiting for</th>
                  <th scope="col">Next attempt (driver's time)</th>
                  <th scope="col" class="num">
                    Attempts
                  </th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Latest call</th>
                  <th scope="col">Phone number</th>
                </tr>
              </thead>
              <tbody>
                {props.targets.length === 0 ? (
                  <tr>
                    <td colspan={8}>No drivers here.</td>
                  </tr>
                ) : (
                  props.targets.map((target) => {
                    const latest = target.call_sids.at(-1);
                    return (
                      <tr>
                        <td class="text">
                          {target.driver_name}
                          <span class="hint">driver {target.driver_id}</span>
                        </td>
                        <td>
                          <StatusBadge status={target.status} />
                          {target.last_failure_reason &&
                          (target.status === "FAILED" ||
                            target.status === "SKIPPED" ||
                            target.status === "QUEUED") ? (
                            <span class="hint">{target.last_failure_reason}</span>
                          ) : null}
                        </td>
                        <td>
                          {target.waiting_for
                            ? (WAITING_FOR_TEXT[target.waiting_for] ?? target.waiting_for)
                            : "—"}
                        </td>
                        <td class="nowrap">
                          {formatDriverLocal(target.next_attempt_at, target.time_zone)}
                        </td>
                        <td class="num">{target.attempts}</td>
                        <td>{target.call_successful ?? "—"}</td>
                        <td class="nowrap">
                          {latest ? (
                            <a
                              href={`/console/calls/${encodeURIComponent(latest)}?campaign=${campaign.id}`}
                            >
                              {latest}
                            </a>
                          ) : (
                            "—"
                          )}
                        </td>
                        <td class="nowrap mono">{target.phone_number}</td>
                      </tr>
                    );
                  })
                )}
              </tbody>
            </table>
          </TableBox>
          <nav class="pager" aria-label="Driver pages">
            {props.page > 1 ? (
              <a href={pageUrl(campaign.id, { status: props.status })}>First page</a>
            ) : null}
            {props.nextCursor ? (
              <a
                href={pageUrl(campaign.id, {
                  status: props.status,
                  cursor: props.nextCursor,
                  page: props.page + 1,
                })}
              >
                Next {TARGETS_PAGE_SIZE} drivers
              </a>
            ) : null}
          </nav>
        </div>
      </section>

      <section aria-labelledby="settings-heading">
        <h2 id="settings-heading">Settings</h2>
        <dl class="meta panel">
          <dt>Time zone</dt>
          <dd>{campaign.time_zone ?? "each driver's own"}</dd>
          <dt>Calling window</dt>
          <dd>
            {campaign.calling_window.start}–{campaign.calling_window.end}, each driver's local time
          </dd>
          <dt>Days</dt>
          <dd>{campaign.calling_window.days.join(", ")}</dd>
          <dt>Start at</dt>
          <dd>{formatUtc(campaign.start_at)}</dd>
          <dt>Attempts</dt>
          <dd>
            at most {campaign.retry.max_attempts}, {campaign.retry.backoff_minutes} minutes apart;
            retried: {campaign.retry.on.join(", ")}
          </dd>
        </dl>
      </section>
    </Layout>
  );
}

export function CancelCampaignPage(props: { campaign: CampaignView }) {
  const name = campaignName(props.campaign);
  const base = `/console/campaigns/${props.campaign.id}`;
  return (
    <Layout title={`Cancel ${name}? · driver-calls console`} section="campaigns">
      <p>
        <a href={base}>{name}</a>
      </p>
      <h1>Cancel “{name}”?</h1>
      <p>
        Drivers not called yet ({props.campaign.counts.queued}) will not be called. Calls already
        ringing ({props.campaign.counts.calling}) go on and are recorded. This cannot be undone.
      </p>
      <div class="actions">
        <form method="post" action={`${base}/cancel`}>
          <button type="submit" class="danger-strong">
            Cancel campaign
          </button>
        </form>
        <a href={base}>Keep it running</a>
      </div>
    </Layout>
  );
}
