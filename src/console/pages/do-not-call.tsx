// /console/do-not-call: the list, newest first, paged; add a number; remove one (each
// Remove button's accessible name holds its number: "Remove +15551230042").
import type { DoNotCallEntry } from "../../do-not-call/repository";
import { Layout, pageTitle } from "./layout";
import { formatUtc, TableBox } from "./parts";

export const DO_NOT_CALL_PAGE_SIZE = 50;

export interface DoNotCallPageProps {
  entries: DoNotCallEntry[];
  nextCursor: string | null;
  isFirstPage: boolean;
  values?: { phone_number: string; reason: string };
  errors?: { phone_number?: string; reason?: string };
  notice?: string;
}

export function DoNotCallPage(props: DoNotCallPageProps) {
  const errors = props.errors ?? {};
  const values = props.values ?? { phone_number: "", reason: "" };
  const hasErrors = Boolean(errors.phone_number || errors.reason);
  return (
    <Layout
      title={pageTitle(hasErrors ? "Fix the form: Do-not-call list" : "Do-not-call list")}
      section="do-not-call"
    >
      <h1>Do-not-call list</h1>
      <p>
        Numbers here are never dialed: checked when each call is about to be placed, so a number
        added during a campaign is not called again. Drivers who ask on a call not to be called are
        added automatically (reason opt_out).
      </p>
      <p role="status">{props.notice ? <span class="notice">{props.notice}</span> : null}</p>
      {hasErrors ? (
        <div class="alert" role="alert">
          <h2>The number was not added</h2>
          <ul>
            {errors.phone_number ? (
              <li>
                <a href="#phone_number">Phone number</a>: {errors.phone_number}
              </li>
            ) : null}
            {errors.reason ? (
              <li>
                <a href="#reason">Reason</a>: {errors.reason}
              </li>
            ) : null}
          </ul>
        </div>
      ) : null}
      <form method="post" action="/console/do-not-call" class="panel">
        <h2>Add a number</h2>
        <div class="field">
          <label for="phone_number">Phone number</label>
          <span class="hint" id="phone_number-hint">
            E.164, such as +15551230042
          </span>
          <input
            type="text"
            id="phone_number"
            name="phone_number"
            value={values.phone_number}
            inputmode="tel"
            autocomplete="off"
            aria-describedby={
              errors.phone_number ? "phone_number-hint phone_number-error" : "phone_number-hint"
            }
            aria-invalid={errors.phone_number ? "true" : undefined}
          />
          {errors.phone_number ? (
            <span class="error-text" id="phone_number-error">
              Phone number: {errors.phone_number}
            </span>
          ) : null}
        </div>
        <div class="field">
          <label for="reason">Reason</label>
          <span class="hint" id="reason-hint">
            Optional, up to 500 characters
          </span>
          <input
            type="text"
            id="reason"
            name="reason"
            value={values.reason}
            maxlength={500}
            autocomplete="off"
            aria-describedby={errors.reason ? "reason-hint reason-error" : "reason-hint"}
            aria-invalid={errors.reason ? "true" : undefined}
          />
          {errors.reason ? (
            <span class="error-text" id="reason-error">
              Reason: {errors.reason}
            </span>
          ) : null}
        </div>
        <button type="submit" class="primary">
          Add
        </button>
      </form>

      <h2 id="list-heading">On the list</h2>
      {props.entries.length === 0 ? (
        <p>{props.isFirstPage ? "The list is empty." : "No older entries."}</p>
      ) : (
        <TableBox labelledBy="do-not-call-caption">
          <table>
            <caption id="do-not-call-caption" class="visually-hidden">
              Numbers on the do-not-call list, newest first
            </caption>
            <thead>
              <tr>
                <th scope="col">Phone number</th>
                <th scope="col">
                  <span class="visually-hidden">Remove</span>
                </th>
                <th scope="col">Reason</th>
                <th scope="col">Added</th>
                <th scope="col">From call</th>
              </tr>
            </thead>
            <tbody>
              {props.entries.map((entry) => (
                <tr>
                  <td class="nowrap mono">{entry.phone_number}</td>
                  <td>
                    <form method="post" action="/console/do-not-call/remove">
                      <input type="hidden" name="phone_number" value={entry.phone_number} />
                      <button type="submit" class="danger">
                        Remove<span class="visually-hidden"> {entry.phone_number}</span>
                      </button>
                    </form>
                  </td>
                  <td class="text">{entry.reason ?? "—"}</td>
                  <td class="nowrap">{formatUtc(entry.created_at)}</td>
                  <td class="nowrap">
                    {entry.call_sid ? (
                      <a href={`/console/calls/${encodeURIComponent(entry.call_sid)}`}>
                        {entry.call_sid}
                      </a>
                    ) : (
                      "—"
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
      <nav class="pager" aria-label="List pages">
        {props.isFirstPage ? null : <a href="/console/do-not-call">Newest entries</a>}
        {props.nextCursor ? (
          <a href={`/console/do-not-call?cursor=${encodeURIComponent(props.nextCursor)}`}>
            Older entries
          </a>
        ) : null}
      </nav>
    </Layout>
  );
}
