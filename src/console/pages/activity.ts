// /console/activity: the audit trail (Part of every change: who, what, when, from where),
// newest first, filterable by action and by operator. The same list as GET /audit.
import { html } from "hono/html";
import { AUDIT_ACTIONS } from "../../audit/record";
import type { AuditEventView } from "../../audit/repository";
import type { OperatorView } from "../../operators/repository";
import { type Html, layout, pageTitle } from "./layout";
import { formatUtc, tableBox } from "./parts";

export const ACTIVITY_PAGE_SIZE = 50;

export interface ActivityPageProps {
  events: AuditEventView[];
  nextCursor: string | null;
  isFirstPage: boolean;
  operators: OperatorView[];
  filter: { action: string; actorId: string };
}

/** What an entry was about, in words, with a link where the subject has a page. */
function subjectOf(event: AuditEventView): Html | string {
  if (!event.subject_id) return "—";
  if (event.subject_type === "campaign") {
    const name = typeof event.detail.name === "string" ? event.detail.name : event.subject_id;
    return html`<a href="/console/campaigns/${encodeURIComponent(event.subject_id)}">${name}</a>`;
  }
  if (event.subject_type === "operator") {
    // Signing in and out is about oneself; adding and revoking name whom.
    if (event.subject_id === event.actor_id) return "—";
    return typeof event.detail.name === "string" ? `operator ${event.detail.name}` : "an operator";
  }
  if (event.subject_type === "call") {
    return html`<a href="/console/calls/${encodeURIComponent(event.subject_id)}">${event.subject_id}</a>`;
  }
  return `${event.subject_type ?? ""} ${event.subject_id}`.trim();
}

/** The detail as `key: value` pairs (text, escaped), without the keys the row already shows. */
function detailText(event: AuditEventView): string {
  return Object.entries(event.detail)
    .filter(
      ([key, value]) => value !== null && !(key === "name" && event.subject_type === "campaign"),
    )
    .map(
      ([key, value]) =>
        `${key.replaceAll("_", " ")}: ${typeof value === "string" ? value : JSON.stringify(value)}`,
    )
    .join("; ");
}

function actorOf(event: AuditEventView): string {
  return event.actor_kind === "operator"
    ? event.actor_name
    : `${event.actor_name} (${event.actor_kind.replace("_", " ")})`;
}

export function activityPage(props: ActivityPageProps): Html {
  const selected = (value: string, current: string) => (value === current ? html` selected` : "");
  const rows = props.events.map(
    (event) => html`<tr>
      <td class="nowrap">${formatUtc(event.at, true)}</td>
      <td>${actorOf(event)}</td>
      <td class="nowrap mono">${event.action}</td>
      <td>${subjectOf(event)}</td>
      <td class="text">${detailText(event) || "—"}</td>
      <td class="nowrap mono">${event.ip ?? "—"}</td>
    </tr>`,
  );
  const filterQuery = new URLSearchParams(
    Object.entries({ action: props.filter.action, operator: props.filter.actorId }).filter(
      ([, value]) => value !== "",
    ),
  );
  const withCursor = (cursor: string) => {
    const query = new URLSearchParams(filterQuery);
    query.set("cursor", cursor);
    return `/console/activity?${query}`;
  };
  const list =
    props.events.length === 0
      ? html`<p>${props.isFirstPage ? "Nothing recorded yet for this filter." : "No older entries."}</p>`
      : tableBox(
          "activity-caption",
          html`<table>
            <caption id="activity-caption" class="visually-hidden">Activity, newest first</caption>
            <thead><tr><th scope="col">When (UTC)</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">About</th><th scope="col">Detail</th><th scope="col">From address</th></tr></thead>
            <tbody>${rows}</tbody>
          </table>`,
        );
  return layout({
    title: pageTitle("Activity"),
    section: "activity",
    body: html`<h1>Activity</h1>
      <p>Everything done through the console and the API, by whom, and what the service did on its
        own (opt-outs, purges). The record cannot be changed or deleted.</p>
      <form method="get" action="/console/activity" class="panel filter-form">
        <div class="field">
          <label for="action">Action</label>
          <select id="action" name="action">
            <option value="">All actions</option>
            ${AUDIT_ACTIONS.map((action) => html`<option value="${action}"${selected(action, props.filter.action)}>${action}</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="operator">Operator</label>
          <select id="operator" name="operator">
            <option value="">Everyone</option>
            ${props.operators.map((operator) => html`<option value="${operator.id}"${selected(operator.id, props.filter.actorId)}>${operator.name}${operator.revoked_at ? " (revoked)" : ""}</option>`)}
          </select>
        </div>
        <button type="submit">Filter</button>
      </form>
      ${list}
      <nav class="pager" aria-label="Activity pages">
        ${props.isFirstPage ? "" : html`<a href="/console/activity${filterQuery.size > 0 ? `?${filterQuery}` : ""}">Newest entries</a>`}
        ${props.nextCursor ? html`<a href="${withCursor(props.nextCursor)}">Older entries</a>` : ""}
      </nav>`,
  });
}
