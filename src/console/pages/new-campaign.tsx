// /console/campaigns/new: the form that starts a campaign from a CSV of drivers. On a
// problem it comes back (422) with the fields as sent, the field problems beside their
// fields, and the file's problems as `Line N: column: what is wrong`.
import { WEEKDAYS } from "../../calling-rules/time-zone";
import { type CampaignFormValues, FIELD_LABELS, type FormField } from "../campaign-form";
import { Layout, pageTitle } from "./layout";

const DAY_NAMES: Readonly<Record<(typeof WEEKDAYS)[number], string>> = {
  mon: "Monday",
  tue: "Tuesday",
  wed: "Wednesday",
  thu: "Thursday",
  fri: "Friday",
  sat: "Saturday",
  sun: "Sunday",
};

/** Offered as suggestions; any IANA name is accepted. */
const COMMON_ZONES = [
  "America/New_York",
  "America/Chicago",
  "America/Denver",
  "America/Phoenix",
  "America/Los_Angeles",
  "America/Anchorage",
  "Pacific/Honolulu",
  "America/Puerto_Rico",
  "America/Toronto",
  "America/Mexico_City",
  "UTC",
];

export interface NewCampaignProps {
  values: CampaignFormValues;
  fieldErrors?: Partial<Record<FormField, string>>;
  /** The file's problems, already cut to the first 100, and how many more. */
  csvProblems?: { shown: string[]; more: number };
  /** A problem with the form as a whole (a reused form). */
  formError?: { text: string; link?: { href: string; text: string } };
}

export function NewCampaignPage(props: NewCampaignProps) {
  const errors = props.fieldErrors ?? {};
  const problems = props.csvProblems ?? { shown: [], more: 0 };
  const fieldsWithErrors = (Object.keys(FIELD_LABELS) as FormField[]).filter((f) => errors[f]);
  const hasErrors =
    fieldsWithErrors.length > 0 || problems.shown.length > 0 || props.formError !== undefined;
  const v = props.values;

  const describedBy = (field: FormField, hint = true) =>
    [hint ? `${field}-hint` : null, errors[field] ? `${field}-error` : null]
      .filter(Boolean)
      .join(" ") || undefined;
  const invalid = (field: FormField) => (errors[field] ? "true" : undefined);
  const ErrorText = (p: { field: FormField }) =>
    errors[p.field] ? (
      <span class="error-text" id={`${p.field}-error`}>
        {FIELD_LABELS[p.field]}: {errors[p.field]}
      </span>
    ) : null;

  return (
    <Layout
      title={pageTitle(hasErrors ? "Fix the form: New campaign" : "New campaign")}
      section="campaigns"
    >
      <p>
        <a href="/console">Campaigns</a>
      </p>
      <h1>New campaign</h1>
      {hasErrors ? (
        // Focused on arrival (autofocus, no script), so a screen reader starts here; not a
        // live region, which would read up to 100 lines aloud at once.
        <div
          class="alert"
          id="form-problems"
          tabindex={-1}
          autofocus
          aria-labelledby="form-problems-heading"
        >
          <h2 id="form-problems-heading">The campaign was not started</h2>
          <p>Nothing was created. Fix what is listed here and send the form again.</p>
          {props.formError ? (
            <p>
              {props.formError.text}{" "}
              {props.formError.link ? (
                <a href={props.formError.link.href}>{props.formError.link.text}</a>
              ) : null}
            </p>
          ) : null}
          {fieldsWithErrors.length > 0 ? (
            <ul>
              {fieldsWithErrors.map((field) => (
                <li>
                  <a href={`#${field === "days" ? "day-mon" : field}`}>{FIELD_LABELS[field]}</a>:{" "}
                  {errors[field]}
                </li>
              ))}
            </ul>
          ) : null}
          {problems.shown.length > 0 ? (
            <>
              <h3 id="csv-problems-heading">Problems in the drivers file</h3>
              <ul aria-labelledby="csv-problems-heading" id="csv-problems">
                {problems.shown.map((line) => (
                  <li>{line}</li>
                ))}
              </ul>
              {problems.more > 0 ? <p>and {problems.more} more</p> : null}
            </>
          ) : null}
          {problems.shown.length > 0 || errors.drivers ? (
            <p>Choose the file again after fixing it: a browser does not send a file twice.</p>
          ) : null}
        </div>
      ) : null}

      <form
        method="post"
        action="/console/campaigns"
        enctype="multipart/form-data"
        class="panel form"
        novalidate
      >
        <input type="hidden" name="idempotency_key" value={v.idempotency_key} />

        <div class="field">
          <label for="name">{FIELD_LABELS.name}</label>
          <span class="hint" id="name-hint">
            Shown in the campaign list and the results file.
          </span>
          <input
            type="text"
            id="name"
            name="name"
            value={v.name}
            maxlength={200}
            autocomplete="off"
            aria-describedby={describedBy("name")}
            aria-invalid={invalid("name")}
          />
          <ErrorText field="name" />
        </div>

        <div class="field">
          <label for="drivers">{FIELD_LABELS.drivers}</label>
          <span class="hint" id="drivers-hint">
            One row per violation, up to 10,000 drivers and 5 MiB, UTF-8. Columns: driver_id,
            phone_number, driver_name, time_zone (may be empty), violation_code,
            violation_description, violation_occurred_at.{" "}
            <a href="/console/drivers-template.csv">CSV template</a>
          </span>
          <input
            type="file"
            id="drivers"
            name="drivers"
            accept=".csv,text/csv"
            aria-describedby={describedBy("drivers")}
            aria-invalid={invalid("drivers") ?? (problems.shown.length > 0 ? "true" : undefined)}
          />
          <ErrorText field="drivers" />
        </div>

        <div class="field">
          <label for="time_zone">{FIELD_LABELS.time_zone}</label>
          <span class="hint" id="time_zone-hint">
            IANA name such as America/Chicago: for drivers whose time_zone is empty, and for Start
            at.
          </span>
          <input
            type="text"
            id="time_zone"
            name="time_zone"
            value={v.time_zone}
            list="zones"
            autocomplete="off"
            spellcheck={false}
            aria-describedby={describedBy("time_zone")}
            aria-invalid={invalid("time_zone")}
          />
          <datalist id="zones">
            {COMMON_ZONES.map((zone) => (
              <option value={zone}></option>
            ))}
          </datalist>
          <ErrorText field="time_zone" />
        </div>

        <div class="row">
          <div class="field">
            <label for="calls_from">{FIELD_LABELS.calls_from}</label>
            <span class="hint" id="calls_from-hint">
              HH:MM, each driver's own time
            </span>
            <input
              type="text"
              class="short"
              id="calls_from"
              name="calls_from"
              value={v.calls_from}
              inputmode="numeric"
              autocomplete="off"
              aria-describedby={describedBy("calls_from")}
              aria-invalid={invalid("calls_from")}
            />
            <ErrorText field="calls_from" />
          </div>
          <div class="field">
            <label for="calls_until">{FIELD_LABELS.calls_until}</label>
            <span class="hint" id="calls_until-hint">
              HH:MM, each driver's own time
            </span>
            <input
              type="text"
              class="short"
              id="calls_until"
              name="calls_until"
              value={v.calls_until}
              inputmode="numeric"
              autocomplete="off"
              aria-describedby={describedBy("calls_until")}
              aria-invalid={invalid("calls_until")}
            />
            <ErrorText field="calls_until" />
          </div>
        </div>

        <fieldset aria-describedby={errors.days ? "days-error" : undefined}>
          <legend>{FIELD_LABELS.days}</legend>
          <div class="checks">
            {WEEKDAYS.map((day) => (
              <label for={`day-${day}`}>
                <input
                  type="checkbox"
                  id={`day-${day}`}
                  name="days"
                  value={day}
                  checked={v.days.includes(day)}
                />
                {DAY_NAMES[day]}
              </label>
            ))}
          </div>
          <ErrorText field="days" />
        </fieldset>

        <div class="field">
          <label for="start_at">{FIELD_LABELS.start_at}</label>
          <span class="hint" id="start_at-hint">
            YYYY-MM-DD HH:MM in the Time zone above; empty = now
          </span>
          <input
            type="text"
            id="start_at"
            name="start_at"
            value={v.start_at}
            autocomplete="off"
            aria-describedby={describedBy("start_at")}
            aria-invalid={invalid("start_at")}
          />
          <ErrorText field="start_at" />
        </div>

        <div class="row">
          <div class="field">
            <label for="attempts">{FIELD_LABELS.attempts}</label>
            <span class="hint" id="attempts-hint">
              1 to 5 calls at most, the first included
            </span>
            <input
              type="number"
              id="attempts"
              name="attempts"
              value={v.attempts}
              min={1}
              max={5}
              step={1}
              aria-describedby={describedBy("attempts")}
              aria-invalid={invalid("attempts")}
            />
            <ErrorText field="attempts" />
          </div>
          <div class="field">
            <label for="backoff_minutes">{FIELD_LABELS.backoff_minutes}</label>
            <span class="hint" id="backoff_minutes-hint">
              1 to 1440; busy, no answer and voicemail are retried
            </span>
            <input
              type="number"
              id="backoff_minutes"
              name="backoff_minutes"
              value={v.backoff_minutes}
              min={1}
              max={1440}
              step={1}
              aria-describedby={describedBy("backoff_minutes")}
              aria-invalid={invalid("backoff_minutes")}
            />
            <ErrorText field="backoff_minutes" />
          </div>
        </div>

        <button type="submit" class="primary">
          Start campaign
        </button>
      </form>
    </Layout>
  );
}
