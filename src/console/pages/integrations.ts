// /console/integrations: the fleet's event endpoints (src/events/), each with its recent
// deliveries and a `Resend` button per delivery; a form to add an endpoint (its secret is
// shown once, on the page that answers the form) and a confirmation page to delete one.
// The same functions as the JSON API, the same URL check.
import { type Context, Hono } from "hono";
import { html } from "hono/html";
import type { AppEnv } from "../../app-env";
import { auditStampOf } from "../../audit/record";
import { databaseOf } from "../../db/context";
import { EVENT_TYPES, type EventType } from "../../db/schema";
import { type DeliveryView, listDeliveries, resendEvent } from "../../events/deliveries";
import { checkEndpointUrl } from "../../events/endpoint-url";
import {
  createEndpoint,
  deleteEndpoint,
  type EndpointView,
  enableEndpoint,
  getEndpoint,
  listEndpoints,
} from "../../events/endpoints";
import { nudgeEventSender } from "../../events/queue";
import { FORM_LIMIT_BYTES, field, formBody, formLimit, render } from "../respond";
import { type Html, layout, pageTitle } from "./layout";
import { formatUtc, tableBox } from "./parts";

const RECENT_DELIVERIES = 10;

const EVENT_LABELS: Record<EventType, string> = {
  "call.completed": "call.completed: a call was answered and finished, with its analysis",
  "call.failed": "call.failed: a call failed, with the reason",
  "campaign.completed": "campaign.completed: a campaign finished, with its counts",
  "driver.opted_out": "driver.opted_out: a driver asked on a call not to be called again",
};

interface IntegrationsPageProps {
  endpoints: { endpoint: EndpointView; deliveries: DeliveryView[] }[];
  values?: { url: string; events: EventType[] };
  errors?: { url?: string; events?: string };
  /** Right after adding one: its secret, shown this once. */
  created?: { url: string; secret: string };
  notice?: string;
}

function deliveriesTable(endpoint: EndpointView, deliveries: DeliveryView[]): Html {
  if (deliveries.length === 0) return html`<p>No deliveries yet.</p>`;
  const captionId = `deliveries-${endpoint.id}`;
  const rows = deliveries.map((delivery) => {
    const last = delivery.attempts.at(-1);
    const lastAnswer = last
      ? last.status_code !== null
        ? `HTTP ${last.status_code}`
        : (last.error ?? "—")
      : "—";
    return html`<tr>
      <td class="nowrap mono">${delivery.event_type}</td>
      <td class="nowrap mono">${delivery.event_id}</td>
      <td class="nowrap">${delivery.status}</td>
      <td>${delivery.attempts.length}</td>
      <td class="nowrap">${lastAnswer}</td>
      <td class="nowrap">${delivery.status === "pending" && delivery.next_attempt_at ? formatUtc(delivery.next_attempt_at) : "—"}</td>
      <td><form method="post" action="/console/integrations/events/${delivery.event_id}/resend"><button type="submit">Resend<span class="visually-hidden"> ${delivery.event_type} ${delivery.event_id}</span></button></form></td>
    </tr>`;
  });
  return tableBox(
    captionId,
    html`<table>
      <caption id="${captionId}">Recent deliveries to ${endpoint.url}, newest first</caption>
      <thead><tr><th scope="col">Event</th><th scope="col">webhook-id</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last answer</th><th scope="col">Next attempt (UTC)</th><th scope="col"><span class="visually-hidden">Resend</span></th></tr></thead>
      <tbody>${rows}</tbody>
    </table>`,
  );
}

export function integrationsPage(props: IntegrationsPageProps): Html {
  const errors = props.errors ?? {};
  const values = props.values ?? { url: "", events: [...EVENT_TYPES] };
  const hasErrors = Boolean(errors.url || errors.events);
  const endpoints = props.endpoints.map(
    ({
      endpoint,
      deliveries,
    }) => html`<section class="panel" aria-labelledby="endpoint-${endpoint.id}">
      <h2 id="endpoint-${endpoint.id}" class="mono">${endpoint.url}</h2>
      <p>Events: ${endpoint.events.join(", ")}. Added ${formatUtc(endpoint.created_at)}.
        ${endpoint.disabled_at ? html`<strong>Disabled since ${formatUtc(endpoint.disabled_at)}</strong>: every delivery failed for 5 days.` : endpoint.failing_since ? html`Failing since ${formatUtc(endpoint.failing_since)}.` : ""}</p>
      <div class="actions">
        ${endpoint.disabled_at ? html`<form method="post" action="/console/integrations/${endpoint.id}/enable"><button type="submit" class="primary">Enable<span class="visually-hidden"> ${endpoint.url}</span></button></form>` : ""}
        <form method="get" action="/console/integrations/${endpoint.id}/delete"><button type="submit" class="danger">Delete<span class="visually-hidden"> ${endpoint.url}</span></button></form>
      </div>
      ${deliveriesTable(endpoint, deliveries)}
    </section>`,
  );
  return layout({
    title: pageTitle(hasErrors ? "Fix the form: Integrations" : "Integrations"),
    section: "integrations",
    body: html`<h1>Integrations</h1>
      <p>Your own systems (a TMS, a coaching tool) get each result as it happens: signed JSON
        events POSTed to the endpoints below, retried for about a day until they answer 2xx. Verify
        the signature with a Standard Webhooks library and the endpoint's secret; ignore a
        <code>webhook-id</code> you have already seen.</p>
      <p role="status">${props.notice ? html`<span class="notice">${props.notice}</span>` : ""}</p>
      ${
        props.created
          ? html`<div class="panel notice-panel" role="alert">
              <h2>Endpoint added: copy its secret now</h2>
              <p>This is the only time the secret of ${props.created.url} is shown.</p>
              <p><label for="new-secret">Signing secret</label><br>
                <input id="new-secret" class="mono wide" type="text" readonly value="${props.created.secret}"></p>
            </div>`
          : ""
      }
      ${
        hasErrors
          ? html`<div class="alert" role="alert"><h2>The endpoint was not added</h2><ul>
              ${errors.url ? html`<li><a href="#url">Endpoint URL</a>: ${errors.url}</li>` : ""}
              ${errors.events ? html`<li><a href="#events">Events</a>: ${errors.events}</li>` : ""}
            </ul></div>`
          : ""
      }
      <form method="post" action="/console/integrations" class="panel form">
        <h2>Add an endpoint</h2>
        <div class="field">
          <label for="url">Endpoint URL</label>
          <span class="hint" id="url-hint">https, on a public host</span>
          <input type="url" id="url" name="url" value="${values.url}" autocomplete="off" aria-describedby="url-hint${errors.url ? " url-error" : ""}"${errors.url ? html` aria-invalid="true"` : ""}>
          ${errors.url ? html`<span class="error-text" id="url-error">Endpoint URL: ${errors.url}</span>` : ""}
        </div>
        <fieldset class="field" id="events">
          <legend>Events</legend>
          ${EVENT_TYPES.map(
            (
              type,
            ) => html`<div class="event-choice"><input type="checkbox" id="event-${type}" name="events" value="${type}"${values.events.includes(type) ? html` checked` : ""}>
              <label for="event-${type}">${EVENT_LABELS[type]}</label></div>`,
          )}
          ${errors.events ? html`<span class="error-text">Events: ${errors.events}</span>` : ""}
        </fieldset>
        <button type="submit" class="primary">Add endpoint</button>
      </form>
      <h2>Endpoints</h2>
      ${endpoints.length === 0 ? html`<p>No endpoints yet.</p>` : endpoints}`,
  });
}

function deleteEndpointPage(endpoint: EndpointView): Html {
  return layout({
    title: pageTitle(`Delete ${endpoint.url}?`),
    section: "integrations",
    body: html`<h1>Delete this endpoint?</h1>
      <p class="mono">${endpoint.url}</p>
      <p>It gets no more events, and deliveries still waiting for it end as failed. Its delivery
        log is kept.</p>
      <div class="actions">
        <form method="post" action="/console/integrations/${endpoint.id}/delete"><button type="submit" class="danger-strong">Delete endpoint</button></form>
        <a href="/console/integrations">Keep it</a>
      </div>`,
  });
}

async function renderIntegrations(
  c: Context<AppEnv>,
  status: number,
  extra: Omit<IntegrationsPageProps, "endpoints"> = {},
) {
  const db = databaseOf(c);
  const endpoints = await listEndpoints(db);
  const withDeliveries = await Promise.all(
    endpoints.map(async (endpoint) => ({
      endpoint,
      deliveries: (await listDeliveries(db, { endpointId: endpoint.id, limit: RECENT_DELIVERIES }))
        .deliveries,
    })),
  );
  return render(c, integrationsPage({ endpoints: withDeliveries, ...extra }), status);
}

export const integrationsRoutes = new Hono<AppEnv>();

integrationsRoutes.get("/integrations", (c) => {
  const notices: Record<string, string> = {
    deleted: "The endpoint was deleted.",
    enabled: "The endpoint is enabled again: waiting deliveries are sent now.",
    resent: "The event is queued to be sent again, with the same webhook-id.",
  };
  return renderIntegrations(c, 200, { notice: notices[c.req.query("done") ?? ""] });
});

integrationsRoutes.post("/integrations", formLimit(FORM_LIMIT_BYTES), async (c) => {
  const body = await formBody(c);
  const url = field(body, "url").trim();
  const chosen = [body.events].flat().filter((value): value is string => typeof value === "string");
  const events = EVENT_TYPES.filter((type) => chosen.includes(type));
  const verdict = checkEndpointUrl(url, {
    allowLocal: c.get("config").ALLOW_LOCAL_EVENT_ENDPOINTS,
  });
  const errors = {
    ...(verdict.ok ? {} : { url: url === "" ? "enter the URL of your endpoint" : verdict.reason }),
    ...(events.length === 0 ? { events: "choose at least one" } : {}),
  };
  if (!verdict.ok || events.length === 0) {
    return renderIntegrations(c, 422, { values: { url, events }, errors });
  }
  const created = await createEndpoint(
    databaseOf(c),
    { url: verdict.url, events },
    auditStampOf(c),
  );
  c.get("log").info("event_endpoint_created", { endpoint_id: created.id, from: "console" });
  return renderIntegrations(c, 201, { created: { url: created.url, secret: created.secret } });
});

integrationsRoutes.get("/integrations/:id/delete", async (c) => {
  const endpoint = await getEndpoint(databaseOf(c), c.req.param("id"));
  if (!endpoint) return c.redirect("/console/integrations", 303);
  return render(c, deleteEndpointPage(endpoint));
});

integrationsRoutes.post("/integrations/:id/delete", formLimit(FORM_LIMIT_BYTES), async (c) => {
  await deleteEndpoint(databaseOf(c), c.req.param("id"), auditStampOf(c));
  return c.redirect("/console/integrations?done=deleted", 303);
});

integrationsRoutes.post("/integrations/:id/enable", formLimit(FORM_LIMIT_BYTES), async (c) => {
  if (await enableEndpoint(databaseOf(c), c.req.param("id"))) {
    await nudgeEventSender(c.env?.EVENTS_QUEUE, c.get("log"), { reason: "endpoint_enabled" });
  }
  return c.redirect("/console/integrations?done=enabled", 303);
});

integrationsRoutes.post(
  "/integrations/events/:eventId/resend",
  formLimit(FORM_LIMIT_BYTES),
  async (c) => {
    const resent = await resendEvent(
      databaseOf(c),
      c.req.param("eventId"),
      c.get("deps").clock.now(),
    );
    if (resent)
      await nudgeEventSender(c.env?.EVENTS_QUEUE, c.get("log"), { reason: "event_resent" });
    return c.redirect(`/console/integrations${resent ? "?done=resent" : ""}`, 303);
  },
);
