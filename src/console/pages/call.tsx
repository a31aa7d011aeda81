// /console/calls/{call_sid}: one call as getCallWithTranscript reads it (the API's
// GET /calls/{call_sid}): status, times, why it failed, what the analysis found, and the
// transcript in spoken order, agent and driver told apart by a label as well as by colour.
import type { CallDetails } from "../../calls/read";
import { Layout, pageTitle } from "./layout";
import { formatUtc, StatusBadge, TableBox } from "./parts";

/** A data-collection value as text: strings as they are, anything else as JSON. */
function valueText(value: unknown): string {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function speakerOf(speaker: string): { label: string; kind: "agent" | "driver" } {
  return speaker === "agent"
    ? { label: "Agent", kind: "agent" }
    : { label: "Driver", kind: "driver" };
}

export function CallPage(props: { details: CallDetails; campaignId?: string }) {
  const { call, analysis, transcript } = props.details;
  const dataCollection = Object.entries(analysis.data_collection ?? {});
  const evaluation = Object.entries(analysis.evaluation ?? {});
  return (
    <Layout title={pageTitle(`Call ${call.call_sid} (${call.status})`)} section="campaigns">
      <p>
        {props.campaignId ? (
          <a href={`/console/campaigns/${props.campaignId}`}>Back to the campaign</a>
        ) : (
          <a href="/console">Campaigns</a>
        )}
      </p>
      <h1>
        Call <span class="mono">{call.call_sid}</span> <StatusBadge status={call.status} />
      </h1>
      <dl class="meta panel">
        <dt>Status</dt>
        <dd>{call.status}</dd>
        <dt>Driver</dt>
        <dd>{call.driver_id ?? "—"}</dd>
        <dt>Phone number</dt>
        <dd class="mono">{props.details.phone_number ?? "—"}</dd>
        <dt>Created</dt>
        <dd>{formatUtc(call.created_at, true)}</dd>
        <dt>Started</dt>
        <dd>{formatUtc(call.call_start_time, true)}</dd>
        <dt>Ended</dt>
        <dd>{formatUtc(call.call_end_time, true)}</dd>
        <dt>Failure reason</dt>
        <dd>
          {call.failure_reason ?? "—"}
          {props.details.failure_detail ? (
            <span class="hint">{props.details.failure_detail}</span>
          ) : null}
        </dd>
        <dt>Conversation</dt>
        <dd class="mono">{call.conversation_id ?? "—"}</dd>
      </dl>

      <section aria-labelledby="analysis-heading">
        <h2 id="analysis-heading">Analysis</h2>
        <dl class="meta panel">
          <dt>Call successful</dt>
          <dd>{analysis.call_successful ?? "— (no analysis yet)"}</dd>
          <dt>Summary</dt>
          <dd>{analysis.summary ?? "—"}</dd>
          <dt>Ended because</dt>
          <dd>{analysis.termination_reason ?? "—"}</dd>
        </dl>
        <h3 id="data-collection-heading">Data collection</h3>
        {dataCollection.length === 0 ? (
          <p>Nothing collected.</p>
        ) : (
          <TableBox labelledBy="data-collection-caption">
            <table>
              <caption id="data-collection-caption" class="visually-hidden">
                Data collection
              </caption>
              <thead>
                <tr>
                  <th scope="col">Item</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                {dataCollection.map(([id, value]) => (
                  <tr>
                    <th scope="row" class="mono">
                      {id}
                    </th>
                    <td class="text">{valueText(value)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
        <h3 id="evaluation-heading">Evaluation</h3>
        {evaluation.length === 0 ? (
          <p>No evaluation.</p>
        ) : (
          <TableBox labelledBy="evaluation-caption">
            <table>
              <caption id="evaluation-caption" class="visually-hidden">
                Evaluation criteria
              </caption>
              <thead>
                <tr>
                  <th scope="col">Criterion</th>
                  <th scope="col">Result</th>
                </tr>
              </thead>
              <tbody>
                {evaluation.map(([id, result]) => (
                  <tr>
                    <th scope="row" class="mono">
                      {id}
                    </th>
                    <td>{valueText(result)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </section>

      <section aria-labelledby="transcript-heading">
        <h2 id="transcript-heading">Transcript</h2>
        {transcript.length === 0 ? (
          <p>No transcript yet.</p>
        ) : (
          <ol class="transcript">
            {transcript.map((turn) => {
              const speaker = speakerOf(turn.speaker);
              return (
                <li class={`turn turn-${speaker.kind}`}>
                  <span class="speaker">
                    {speaker.label}{" "}
                    <time datetime={turn.timestamp}>{formatUtc(turn.timestamp, true)}</time>
                  </span>
                  <p>{turn.message}</p>
                </li>
              );
            })}
          </ol>
        )}
      </section>
    </Layout>
  );
}
