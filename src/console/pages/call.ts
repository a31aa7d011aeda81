// /console/calls/{call_sid}: one call as getCallWithTranscript reads it (the API's
// GET /calls/{call_sid}): status, times, why it failed, what the analysis found, and the
// transcript in spoken order, agent and driver told apart by a label as well as by colour.
import { html } from "hono/html";
import type { CallDetails } from "../../calls/read";
import { type Html, layout, pageTitle } from "./layout";
import { formatUtc, statusBadge, tableBox } from "./parts";

/** A data-collection value as text: strings as they are, anything else as JSON. */
function valueText(value: unknown): string {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A two-column table (item, value) with a caption for screen readers; `empty` when none. */
function pairsTable(
  id: string,
  caption: string,
  headers: [string, string],
  pairs: [string, unknown][],
  empty: string,
): Html {
  if (pairs.length === 0) return html`<p>${empty}</p>`;
  return tableBox(
    `${id}-caption`,
    html`<table>
      <caption id="${id}-caption" class="visually-hidden">${caption}</caption>
      <thead><tr><th scope="col">${headers[0]}</th><th scope="col">${headers[1]}</th></tr></thead>
      <tbody>${pairs.map(([key, value]) => html`<tr><th scope="row" class="mono">${key}</th><td class="text">${valueText(value)}</td></tr>`)}</tbody>
    </table>`,
  );
}

/** Why the transcript and analysis are gone, when they are (src/retention/). */
function removedNotice(details: CallDetails): Html | string {
  if (details.erased_at) {
    return html`<p class="notice" role="status">This driver's data was erased on ${formatUtc(details.erased_at)}: the phone number, transcript and analysis are gone. The call's status and times stay.</p>`;
  }
  if (details.data_purged_at) {
    return html`<p class="notice" role="status">The transcript and analysis were removed on ${formatUtc(details.data_purged_at)}, when the call was older than the retention period. The call's status and times stay.</p>`;
  }
  return "";
}

/**
 * The call's driver's erasure starts here: a GET form (no script under the CSP) to the
 * confirmation page, which carries the call back. Not for legacy calls without a driver id.
 */
function eraseButton(details: CallDetails): Html | string {
  const { driver_id: driverId, call_sid: callSid } = details.call;
  if (driverId === null) return "";
  return html`<div class="actions">
    <form method="get" action="/console/drivers/${driverId}/erase">
      <input type="hidden" name="call" value="${callSid}">
      <button type="submit" class="danger">Erase this driver's data</button>
    </form>
  </div>`;
}

export function callPage(props: { details: CallDetails; campaignId?: string }): Html {
  const { call, analysis, transcript } = props.details;
  const back = props.campaignId
    ? html`<a href="/console/campaigns/${props.campaignId}">Back to the campaign</a>`
    : html`<a href="/console">Campaigns</a>`;
  const turns = transcript.map((turn) => {
    const agent = turn.speaker === "agent";
    return html`<li class="turn turn-${agent ? "agent" : "driver"}">
      <span class="speaker">${agent ? "Agent" : "Driver"} <time datetime="${turn.timestamp}">${formatUtc(turn.timestamp, true)}</time></span>
      <p>${turn.message}</p>
    </li>`;
  });
  return layout({
    title: pageTitle(`Call ${call.call_sid} (${call.status})`),
    section: "campaigns",
    body: html`<p>${back}</p>
      <h1>Call <span class="mono">${call.call_sid}</span> ${statusBadge(call.status)}</h1>
      ${removedNotice(props.details)}
      ${eraseButton(props.details)}
      <dl class="meta panel">
        <dt>Status</dt><dd>${call.status}</dd>
        <dt>Driver</dt><dd>${call.driver_id ?? "—"}</dd>
        <dt>Phone number</dt><dd class="mono">${props.details.phone_number ?? "—"}</dd>
        <dt>Created</dt><dd>${formatUtc(call.created_at, true)}</dd>
        <dt>Started</dt><dd>${formatUtc(call.call_start_time, true)}</dd>
        <dt>Ended</dt><dd>${formatUtc(call.call_end_time, true)}</dd>
        <dt>Failure reason</dt><dd>${call.failure_reason ?? "—"}${props.details.failure_detail ? html`<span class="hint">${props.details.failure_detail}</span>` : ""}</dd>
        <dt>Conversation</dt><dd class="mono">${call.conversation_id ?? "—"}</dd>
      </dl>
      <section aria-labelledby="analysis-heading">
        <h2 id="analysis-heading">Analysis</h2>
        <dl class="meta panel">
          <dt>Call successful</dt><dd>${analysis.call_successful ?? "— (no analysis yet)"}</dd>
          <dt>Summary</dt><dd>${analysis.summary ?? "—"}</dd>
          <dt>Ended because</dt><dd>${analysis.termination_reason ?? "—"}</dd>
        </dl>
        <h3>Data collection</h3>
        ${pairsTable("data-collection", "Data collection", ["Item", "Value"], Object.entries(analysis.data_collection ?? {}), "Nothing collected.")}
        <h3>Evaluation</h3>
        ${pairsTable("evaluation", "Evaluation criteria", ["Criterion", "Result"], Object.entries(analysis.evaluation ?? {}), "No evaluation.")}
      </section>
      <section aria-labelledby="transcript-heading">
        <h2 id="transcript-heading">Transcript</h2>
        ${transcript.length > 0 ? html`<ol class="transcript">${turns}</ol>` : props.details.data_purged_at ? html`<p>No transcript: removed.</p>` : html`<p>No transcript yet.</p>`}
      </section>`,
  });
}
