// /console: the campaigns, newest first, with their progress, and the live calls against
// the plan's cap. Brings itself up to date while a campaign on it runs.
import { html } from "hono/html";
import type { CampaignView } from "../../campaigns/schemas";
import { type Html, layout, pageTitle } from "./layout";
import { formatUtc, progressBar, statusBadge, tableBox } from "./parts";

export const CAMPAIGNS_PAGE_SIZE = 25;

export function campaignsPage(props: {
  campaigns: CampaignView[];
  nextCursor: string | null;
  isFirstPage: boolean;
  liveCalls: number;
  maxLiveCalls: number;
  refreshSeconds: number;
}): Html {
  const running = props.campaigns.some((campaign) => campaign.status === "RUNNING");
  const rows = props.campaigns.map(
    (campaign) => html`<tr>
      <td class="text"><a href="/console/campaigns/${campaign.id}">${campaign.name ?? `Campaign ${campaign.id.slice(0, 8)}`}</a></td>
      <td>${statusBadge(campaign.status)}</td>
      <td class="nowrap">${formatUtc(campaign.created_at)}</td>
      <td>${progressBar(campaign.counts)}</td>
    </tr>`,
  );
  const list =
    props.campaigns.length === 0
      ? html`<p>${props.isFirstPage ? "No campaigns yet." : "No older campaigns."}</p>`
      : tableBox(
          "campaigns-caption",
          html`<table>
            <caption id="campaigns-caption">Campaigns, newest first</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col">Progress</th></tr></thead>
            <tbody>${rows}</tbody>
          </table>`,
        );
  return layout({
    title: pageTitle("Campaigns"),
    section: "campaigns",
    mainData: running ? { "data-refresh-seconds": String(props.refreshSeconds) } : {},
    body: html`<h1>Campaigns</h1>
      <div class="actions">
        <p id="live-calls" data-refresh-region><strong>Live calls: ${props.liveCalls} of ${props.maxLiveCalls}</strong></p>
        <a class="button primary" href="/console/campaigns/new">New campaign</a>
      </div>
      <div id="campaign-list" data-refresh-region>${list}</div>
      <nav class="pager" aria-label="Campaign pages">
        ${props.isFirstPage ? "" : html`<a href="/console">Newest campaigns</a>`}
        ${props.nextCursor ? html`<a href="/console?cursor=${encodeURIComponent(props.nextCursor)}">Older campaigns</a>` : ""}
      </nav>`,
  });
}
