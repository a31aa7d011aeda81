// /console/campaigns/new: the form that starts a campaign from a CSV of drivers. A good
// form leads to the review page (review-campaign.ts); on a problem it comes back (422)
// with the fields as sent, the field problems beside their fields, and the file's problems
// as `Line N: column: what is wrong` (grouped: `Lines 2-40, 97: ...`). A file that could
// be read is kept (carried-file.ts), so fixing a field does not mean choosing it again.
import { html } from "hono/html";
import { selectableTimeZones, WEEKDAYS } from "../../calling-rules/time-zone";
import { type CampaignFormValues, FIELD_LABELS, type FormField } from "../campaign-form";
import { phoneCountries } from "../phone-number";
import { attributes, type Html, layout, pageTitle } from "./layout";

const DAY_NAMES: Readonly<Record<(typeof WEEKDAYS)[number], string>> = {
  mon: "Monday",
  tue: "Tuesday",
  wed: "Wednesday",
  thu: "Thursday",
  fri: "Friday",
  sat: "Saturday",
  sun: "Sunday",
};

let countryOptions: Html[] | undefined;

/** "US" with its English name as the option's label, where Intl knows it. */
function countryList(): Html[] {
  if (countryOptions === undefined) {
    let names: Intl.DisplayNames | undefined;
    try {
      names = new Intl.DisplayNames(["en"], { type: "region" });
    } catch {
      names = undefined;
    }
    countryOptions = phoneCountries().map(
      (code) => html`<option value="${code}">${names?.of(code) ?? code}</option>`,
    );
  }
  return countryOptions;
}

let zoneOptions: Html[] | undefined;

function zoneList(): Html[] {
  zoneOptions ??= selectableTimeZones().map((zone) => html`<option value="${zone}"></option>`);
  return zoneOptions;
}

const HINTS: Readonly<Record<Exclude<FormField, "days" | "drivers">, string>> = {
  name: "Shown in the campaign list and the results file.",
  time_zone:
    "Pick or type an IANA name such as America/Chicago: for drivers whose time_zone is empty, and for Start at.",
  calls_from: "HH:MM, each driver's own time",
  calls_until: "HH:MM, each driver's own time",
  start_at: "YYYY-MM-DD HH:MM in the Time zone above; empty = now",
  attempts: "1 to 5 calls at most, the first included",
  backoff_minutes: "1 to 1440; busy, no answer and voicemail are retried",
  phone_country:
    "Two-letter code. Numbers in the file may be written as (555) 123-4567; those without + and a country code are read as this country's.",
};

export interface NewCampaignProps {
  values: CampaignFormValues;
  fieldErrors?: Partial<Record<FormField, string>>;
  /** The file's problems, already cut to the first 100, and how many more. */
  csvProblems?: { shown: string[]; more: number };
  /** A problem with the form as a whole (a reused form). */
  formError?: { text: string; link?: { href: string; text: string } };
  /** The file sent before, carried on so it need not be chosen again. */
  keptFile?: KeptFile;
}

export interface KeptFile {
  /** carried-file.ts's packing of it. */
  packed: string;
  name: string;
}

export function newCampaignPage(props: NewCampaignProps): Html {
  const errors = props.fieldErrors ?? {};
  const problems = props.csvProblems ?? { shown: [], more: 0 };
  const fieldsWithErrors = (Object.keys(FIELD_LABELS) as FormField[]).filter((f) => errors[f]);
  const hasErrors =
    fieldsWithErrors.length > 0 || problems.shown.length > 0 || props.formError !== undefined;
  const v = props.values;

  const errorText = (field: FormField) =>
    errors[field]
      ? html`<span class="error-text" id="${field}-error">${FIELD_LABELS[field]}: ${errors[field]}</span>`
      : "";
  /** A labelled field: label, hint, the input (its own attributes), its problem. */
  const field = (
    name: Exclude<FormField, "days">,
    input: Record<string, string | undefined>,
    hint: Html | string = HINTS[name as keyof typeof HINTS] ?? "",
    invalid = Boolean(errors[name]),
  ) => {
    const describedBy = [`${name}-hint`, errors[name] ? `${name}-error` : ""].join(" ").trim();
    return html`<div class="field">
      <label for="${name}">${FIELD_LABELS[name]}</label>
      <span class="hint" id="${name}-hint">${hint}</span>
      <input${attributes({
        id: name,
        name,
        ...input,
        "aria-describedby": describedBy,
        "aria-invalid": invalid ? "true" : undefined,
      })}>
      ${errorText(name)}
    </div>`;
  };

  const summary = hasErrors
    ? // Focused on arrival (autofocus, no script), so a screen reader starts here; not a
      // live region, which would read up to 100 lines aloud at once.
      html`<div class="alert" id="form-problems" tabindex="-1" autofocus aria-labelledby="form-problems-heading">
        <h2 id="form-problems-heading">The campaign was not started</h2>
        <p>Nothing was created. Fix what is listed here and send the form again.</p>
        ${props.formError ? html`<p>${props.formError.text} ${props.formError.link ? html`<a href="${props.formError.link.href}">${props.formError.link.text}</a>` : ""}</p>` : ""}
        ${
          fieldsWithErrors.length > 0
            ? html`<ul>${fieldsWithErrors.map(
                (name) =>
                  html`<li><a href="#${name === "days" ? "day-mon" : name}">${FIELD_LABELS[name]}</a>: ${errors[name]}</li>`,
              )}</ul>`
            : ""
        }
        ${
          problems.shown.length > 0
            ? html`<h3 id="csv-problems-heading">Problems in the drivers file</h3>
              <ul aria-labelledby="csv-problems-heading" id="csv-problems">${problems.shown.map((line) => html`<li>${line}</li>`)}</ul>
              ${problems.more > 0 ? html`<p>and ${problems.more} more</p>` : ""}`
            : ""
        }
        ${
          props.keptFile
            ? problems.shown.length > 0
              ? html`<p>The file ${props.keptFile.name} is kept: choose it again only once you have fixed it.</p>`
              : ""
            : problems.shown.length > 0 || errors.drivers
              ? html`<p>Choose the file again after fixing it: a browser does not send a file twice.</p>`
              : ""
        }
      </div>`
    : "";

  const text = (value: string, extra: Record<string, string> = {}) => ({
    type: "text",
    value,
    autocomplete: "off",
    ...extra,
  });
  const number = (value: string, min: number, max: number) => ({
    type: "number",
    value,
    min: String(min),
    max: String(max),
    step: "1",
  });

  return layout({
    title: pageTitle(hasErrors ? "Fix the form: New campaign" : "New campaign"),
    section: "campaigns",
    body: html`<p><a href="/console">Campaigns</a></p>
      <h1>New campaign</h1>
      ${summary}
      <form method="post" action="/console/campaigns" enctype="multipart/form-data" class="panel form" novalidate>
        <input type="hidden" name="idempotency_key" value="${v.idempotency_key}">
        ${
          props.keptFile
            ? html`<input type="hidden" name="kept_file" value="${props.keptFile.packed}">
              <input type="hidden" name="kept_file_name" value="${props.keptFile.name}">`
            : ""
        }
        ${field("name", text(v.name, { maxlength: "200" }))}
        ${field(
          "drivers",
          { type: "file", accept: ".csv,text/csv" },
          html`${props.keptFile ? html`<strong>Using ${props.keptFile.name}, sent before: choose a file only to replace it.</strong> ` : ""}One row per violation, up to 10,000 drivers and 5 MiB, UTF-8. Columns: driver_id,
            phone_number, driver_name, time_zone (may be empty), violation_code,
            violation_description, violation_occurred_at.
            <a href="/console/drivers-template.csv">CSV template</a>`,
          Boolean(errors.drivers) || problems.shown.length > 0,
        )}
        ${field("phone_country", text(v.phone_country, { class: "short", list: "countries", maxlength: "2", spellcheck: "false" }))}
        <datalist id="countries">${countryList()}</datalist>
        ${field("time_zone", text(v.time_zone, { list: "zones", spellcheck: "false" }))}
        <datalist id="zones">${zoneList()}</datalist>
        <div class="row">
          ${field("calls_from", text(v.calls_from, { class: "short", inputmode: "numeric" }))}
          ${field("calls_until", text(v.calls_until, { class: "short", inputmode: "numeric" }))}
        </div>
        <fieldset${errors.days ? html` aria-describedby="days-error"` : ""}>
          <legend>${FIELD_LABELS.days}</legend>
          <div class="checks">
            ${WEEKDAYS.map(
              (day) =>
                html`<label for="day-${day}"><input type="checkbox" id="day-${day}" name="days" value="${day}"${v.days.includes(day) ? " checked" : ""}>${DAY_NAMES[day]}</label>`,
            )}
          </div>
          ${errorText("days")}
        </fieldset>
        ${field("start_at", text(v.start_at))}
        <div class="row">
          ${field("attempts", number(v.attempts, 1, 5))}
          ${field("backoff_minutes", number(v.backoff_minutes, 1, 1440))}
        </div>
        <p class="hint" id="start-hint">Nothing is called yet: the next page shows the drivers, who is on the do-not-call list and when the first call can happen, and starts the campaign only when you say so.</p>
        <button type="submit" class="primary" aria-describedby="start-hint">Start campaign</button>
      </form>`,
  });
}
