// /console: the campaigns, newest first, with their progress, and the live calls against
// the plan's cap. Brings itself up to date while a campaign on it runs.
import type { CampaignView } from "../../campaigns/schemas";
import { Layout, pageTitle } from "./layout";
import { formatUtc, ProgressBar, StatusBadge, TableBox } from "./parts";

export const CAMPAIGNS_PAGE_SIZE = 25;

export function CampaignsPage(props: {
  campaigns: CampaignView[];
  nextCursor: string | null;
  isFirstPage: boolean;
  liveCalls: number;
  maxLiveCalls: number;
  refreshSeconds: number;
}) {
  const running = props.campaigns.some((campaign) => campaign.status === "RUNNING");
  return (
    <Layout
      title={pageTitle("Campaigns")}
      section="campaigns"
      mainData={running ? { "data-refresh-seconds": String(props.refreshSeconds) } : {}}
    >
      <h1>Campaigns</h1>
      <div class="actions">
        <p id="live-calls" data-refresh-region>
          <strong>
            Live calls: {props.liveCalls} of {props.maxLiveCalls}
          </strong>
        </p>
        <a class="button primary" href="/console/campaigns/new">
          New campaign
        </a>
      </div>
      <div id="campaign-list" data-refresh-region>
        {props.campaigns.length === 0 ? (
          <p>{props.isFirstPage ? "No campaigns yet." : "No older campaigns."}</p>
        ) : (
          <TableBox labelledBy="campaigns-caption">
            <table>
              <caption id="campaigns-caption">Campaigns, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                  <th scope="col">Progress</th>
                </tr>
              </thead>
              <tbody>
                {props.campaigns.map((campaign) => (
                  <tr>
                    <td class="text">
                      <a href={`/console/campaigns/${campaign.id}`}>
                        {campaign.name ?? `Campaign ${campaign.id.slice(0, 8)}`}
                      </a>
                    </td>
                    <td>
                      <StatusBadge status={campaign.status} />
                    </td>
                    <td class="nowrap">{formatUtc(campaign.created_at)}</td>
                    <td>
                      <ProgressBar counts={campaign.counts} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </div>
      <nav class="pager" aria-label="Campaign pages">
        {props.isFirstPage ? null : <a href="/console">Newest campaigns</a>}
        {props.nextCursor ? (
          <a href={`/console?cursor=${encodeURIComponent(props.nextCursor)}`}>Older campaigns</a>
        ) : null}
      </nav>
    </Layout>
  );
}
