// /console/do-not-call: the list, newest first, paged; add a number; remove one (each
// Remove button's accessible name holds its number: "Remove +15551230042").
import { html } from "hono/html";
import type { DoNotCallEntry } from "../../do-not-call/repository";
import { type Html, layout, pageTitle } from "./layout";
import { formatUtc, tableBox } from "./parts";

export const DO_NOT_CALL_PAGE_SIZE = 50;

export interface DoNotCallPageProps {
  entries: DoNotCallEntry[];
  nextCursor: string | null;
  isFirstPage: boolean;
  values?: { phone_number: string; reason: string };
  errors?: { phone_number?: string; reason?: string };
  notice?: string;
}

const LABELS = { phone_number: "Phone number", reason: "Reason" } as const;
const HINTS = {
  phone_number: "E.164, such as +15551230042",
  reason: "Optional, up to 500 characters",
};

export function doNotCallPage(props: DoNotCallPageProps): Html {
  const errors = props.errors ?? {};
  const values = props.values ?? { phone_number: "", reason: "" };
  const hasErrors = Boolean(errors.phone_number || errors.reason);
  const names = ["phone_number", "reason"] as const;

  const field = (name: (typeof names)[number], extra: Html | string) => {
    const error = errors[name];
    return html`<div class="field">
      <label for="${name}">${LABELS[name]}</label>
      <span class="hint" id="${name}-hint">${HINTS[name]}</span>
      <input type="text" id="${name}" name="${name}" value="${values[name]}" autocomplete="off"${extra} aria-describedby="${name}-hint${error ? ` ${name}-error` : ""}"${error ? html` aria-invalid="true"` : ""}>
      ${error ? html`<span class="error-text" id="${name}-error">${LABELS[name]}: ${error}</span>` : ""}
    </div>`;
  };

  const rows = props.entries.map(
    (entry) => html`<tr>
      <td class="nowrap mono">${entry.phone_number}</td>
      <td><form method="post" action="/console/do-not-call/remove"><input type="hidden" name="phone_number" value="${entry.phone_number}"><button type="submit" class="danger">Remove<span class="visually-hidden"> ${entry.phone_number}</span></button></form></td>
      <td class="text">${entry.reason ?? "—"}</td>
      <td class="nowrap">${formatUtc(entry.created_at)}</td>
      <td class="nowrap">${entry.call_sid ? html`<a href="/console/calls/${encodeURIComponent(entry.call_sid)}">${entry.call_sid}</a>` : "—"}</td>
    </tr>`,
  );
  const list =
    props.entries.length === 0
      ? html`<p>${props.isFirstPage ? "The list is empty." : "No older entries."}</p>`
      : tableBox(
          "do-not-call-caption",
          html`<table>
            <caption id="do-not-call-caption" class="visually-hidden">Numbers on the do-not-call list, newest first</caption>
            <thead><tr><th scope="col">Phone number</th><th scope="col"><span class="visually-hidden">Remove</span></th><th scope="col">Reason</th><th scope="col">Added</th><th scope="col">From call</th></tr></thead>
            <tbody>${rows}</tbody>
          </table>`,
        );

  return layout({
    title: pageTitle(hasErrors ? "Fix the form: Do-not-call list" : "Do-not-call list"),
    section: "do-not-call",
    body: html`<h1>Do-not-call list</h1>
      <p>Numbers here are never dialed: checked when each call is about to be placed, so a number
        added during a campaign is not called again. Drivers who ask on a call not to be called are
        added automatically (reason opt_out).</p>
      <p role="status">${props.notice ? html`<span class="notice">${props.notice}</span>` : ""}</p>
      ${
        hasErrors
          ? html`<div class="alert" role="alert"><h2>The number was not added</h2><ul>${names
              .filter((name) => errors[name])
              .map(
                (name) => html`<li><a href="#${name}">${LABELS[name]}</a>: ${errors[name]}</li>`,
              )}</ul></div>`
          : ""
      }
      <form method="post" action="/console/do-not-call" class="panel form">
        <h2>Add a number</h2>
        ${field("phone_number", html` inputmode="tel"`)}
        ${field("reason", html` maxlength="500"`)}
        <button type="submit" class="primary">Add</button>
      </form>
      <h2>On the list</h2>
      ${list}
      <nav class="pager" aria-label="List pages">
        ${props.isFirstPage ? "" : html`<a href="/console/do-not-call">Newest entries</a>`}
        ${props.nextCursor ? html`<a href="/console/do-not-call?cursor=${encodeURIComponent(props.nextCursor)}">Older entries</a>` : ""}
      </nav>`,
  });
}
