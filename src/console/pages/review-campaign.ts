// A new campaign, from the form to its first call, and the review page between them:
//   GET  /console/campaigns/new    the form (new-campaign.ts)
//   POST /console/campaigns        a good form -> the review page (nothing is created);
//                                  anything wrong -> the form again, 422
//   POST /console/campaigns/start  `Start campaign` -> the campaign is created (303 to its
//                                  page); `Back` -> the form with its values
// The review page carries the form's values and the drivers file (carried-file.ts) in
// hidden fields, and `Start campaign` reads them again exactly as the form is read: the
// same parser and the same schema as POST /campaigns, so an edited hidden field can only
// give a campaign the form could have given. The campaign starts through startCampaign,
// the code of POST /campaigns, under the idempotency key the form was served with, so a
// double click or a resent page never makes two.
import { type Context, Hono } from "hono";
import { html } from "hono/html";
import type { AppEnv } from "../../app-env";
import { formatLocalDate } from "../../calling-rules/time-zone";
import { startCampaign } from "../../campaigns/routes";
import type { CreateCampaignRequest } from "../../campaigns/schemas";
import type { Database } from "../../db/client";
import { databaseOf } from "../../db/context";
import { numbersOnDoNotCall } from "../../do-not-call/repository";
import { AppError } from "../../http/errors";
import { runIdempotently, type StoredAnswer } from "../../http/idempotency";
import {
  type CampaignFormValues,
  campaignRequestFrom,
  defaultFormValues,
  formValuesFrom,
  idempotencyKeyOf,
  parseDriversFile,
} from "../campaign-form";
import { type CampaignReview, reviewCampaign } from "../campaign-review";
import { MAX_CARRIED_FILE_CHARS, packFile, unpackFile } from "../carried-file";
import { MAX_CSV_BYTES } from "../drivers-csv";
import { type FormBody, field, formBody, formLimit, KiB, render, renderMessage } from "../respond";
import { type Html, layout, pageTitle } from "./layout";
import { type KeptFile, type NewCampaignProps, newCampaignPage } from "./new-campaign";
import { tableBox } from "./parts";

/** The idempotency scope of the campaign form (POST /campaigns has its own). */
const CAMPAIGN_FORM_SCOPE = "console campaign form";
/** How long a resent form waits for the first one to finish before saying so. */
const IN_USE_WAIT_MS = 25_000;
/** Drivers listed on the review page (the figures count them all). */
export const REVIEW_DRIVERS_SHOWN = 100;

/** The form: a new file (5 MiB), the one kept from before, and the other fields. */
const CAMPAIGN_FORM_LIMIT_BYTES = MAX_CSV_BYTES + MAX_CARRIED_FILE_CHARS + 64 * KiB;
/** The review page's form: the kept file and the other fields. */
const START_LIMIT_BYTES = MAX_CARRIED_FILE_CHARS + 64 * KiB;

interface DriversFile {
  bytes: Uint8Array;
  name: string;
  /** Its packing, when it came packed (no need to pack it again). */
  packed?: string;
}

/** A file name as the pages show it: no control characters, at most 100 characters. */
function fileName(name: string): string {
  const shown = Array.from(name.replace(/[\u0000-\u001f\u007f]/g, "").trim())
    .slice(0, 100)
    .join("");
  return shown === "" || !shown.isWellFormed() ? "the drivers file" : shown;
}

/** The file chosen now, else the one kept from before, else what is wrong. */
async function driversFileOf(body: FormBody): Promise<DriversFile | { error: string }> {
  const upload = [body.drivers].flat().find((part): part is File => part instanceof File);
  if (upload && !(upload.size === 0 && upload.name === "")) {
    if (upload.size === 0) return { error: "the file is empty" };
    if (upload.size > MAX_CSV_BYTES) return { error: "the file is larger than 5 MiB" };
    return { bytes: new Uint8Array(await upload.arrayBuffer()), name: fileName(upload.name) };
  }
  const packed = field(body, "kept_file");
  if (packed !== "") {
    const bytes = await unpackFile(packed);
    if (!bytes) return { error: "the file sent before could not be read back: choose it again" };
    return { bytes, name: fileName(field(body, "kept_file_name")), packed };
  }
  return { error: "choose a CSV file" };
}

type FormReading =
  | { ok: true; request: CreateCampaignRequest; keptFile: KeptFile }
  | { ok: false; form: NewCampaignProps };

/** The form and its file, read and validated as POST /campaigns would. */
async function readCampaignForm(
  values: CampaignFormValues,
  file: DriversFile | { error: string },
): Promise<FormReading> {
  const readable = "bytes" in file ? file : null;
  const csv = readable ? parseDriversFile(values, readable.bytes) : null;
  const result = campaignRequestFrom(values, csv, "error" in file ? file.error : undefined);
  const keptFile = readable
    ? { packed: readable.packed ?? (await packFile(readable.bytes)), name: readable.name }
    : undefined;
  if (!result.ok) {
    return {
      ok: false,
      form: {
        values,
        fieldErrors: result.fieldErrors,
        csvProblems: result.csvProblems.firstEntries(),
        keptFile,
      },
    };
  }
  return { ok: true, request: result.request, keptFile: keptFile as KeptFile };
}

function refusedForm(c: Context<AppEnv>, form: NewCampaignProps) {
  c.get("log").info("console_campaign_form_refused", {
    fields: Object.keys(form.fieldErrors ?? {}),
    csv_problems: (form.csvProblems?.shown.length ?? 0) + (form.csvProblems?.more ?? 0),
  });
  return render(c, newCampaignPage(form), 422);
}

export const newCampaignRoutes = new Hono<AppEnv>();

newCampaignRoutes.get("/campaigns/new", (c) =>
  render(c, newCampaignPage({ values: defaultFormValues() })),
);

newCampaignRoutes.post("/campaigns", formLimit(CAMPAIGN_FORM_LIMIT_BYTES), async (c) => {
  const body = await formBody(c);
  const values = formValuesFrom(body);
  const reading = await readCampaignForm(values, await driversFileOf(body));
  if (!reading.ok) return refusedForm(c, reading.form);

  const now = c.get("deps").clock.now();
  const onDoNotCall = await numbersOnDoNotCall(
    databaseOf(c),
    reading.request.drivers.map((driver) => driver.phone_number),
  );
  const review = reviewCampaign(reading.request, onDoNotCall, now);
  c.get("log").info("console_campaign_reviewed", {
    drivers: review.drivers,
    on_do_not_call: review.onDoNotCall,
  });
  return render(
    c,
    reviewCampaignPage({
      values,
      request: reading.request,
      keptFile: reading.keptFile,
      review,
      onDoNotCall,
      now,
    }),
  );
});

newCampaignRoutes.post("/campaigns/start", formLimit(START_LIMIT_BYTES), async (c) => {
  const body = await formBody(c);
  const values = formValuesFrom(body);
  if (field(body, "action") === "back") {
    const packed = field(body, "kept_file");
    return render(
      c,
      newCampaignPage({
        values,
        keptFile:
          packed === "" ? undefined : { packed, name: fileName(field(body, "kept_file_name")) },
      }),
    );
  }
  const reading = await readCampaignForm(values, await driversFileOf(body));
  if (!reading.ok) return refusedForm(c, reading.form);

  const db = databaseOf(c);
  const { request } = reading;
  const work = async (): Promise<StoredAnswer> => {
    const campaign = await startCampaign(c, db, request);
    return {
      status: 303,
      body: JSON.stringify({ campaign_id: campaign.id }),
      headers: { location: `/console/campaigns/${campaign.id}` },
    };
  };
  const key = idempotencyKeyOf(values);
  if (key === undefined) {
    // A form that did not come from the page (no key): nothing to deduplicate against.
    const answer = await work();
    return c.redirect(answer.headers.location ?? "/console", 303);
  }
  return submitOnce(
    c,
    db,
    key,
    JSON.stringify(request),
    { values, keptFile: reading.keptFile },
    work,
  );
});

/**
 * Runs the start once per idempotency key. A double click or a resent page finds the key
 * taken: once the first is answered, it gets the same redirect (the same campaign); while
 * the first is still being answered, it waits for it.
 */
async function submitOnce(
  c: Context<AppEnv>,
  db: Database,
  key: string,
  requestJson: string,
  form: { values: CampaignFormValues; keptFile: KeptFile },
  work: () => Promise<StoredAnswer>,
): Promise<Response> {
  const deadline = Date.now() + IN_USE_WAIT_MS;
  while (true) {
    try {
      const run = runIdempotently(
        db,
        {
          scope: CAMPAIGN_FORM_SCOPE,
          key,
          body: requestJson,
          errorAnswer: (error) => JSON.stringify({ error: error.code }),
        },
        work,
      );
      // A browser that sends the form again (a double click) drops the first request:
      // its work must still finish, or its key would stay "in use" with no answer.
      keepRunning(c, run);
      const outcome = await run;
      const location = outcome.answer.headers.location;
      if (outcome.answer.status === 303 && location) {
        if (outcome.kind === "replayed") {
          c.get("log").info("console_campaign_form_replayed", { location });
        }
        return c.redirect(location, 303);
      }
      throw new AppError("internal_error", "The campaign form's stored answer is not a redirect.");
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      if (error.code === "idempotency_key_in_use" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        continue;
      }
      if (error.code === "idempotency_key_in_use") {
        return renderMessage(
          c,
          409,
          {
            title: "Still starting",
            message:
              "This form was sent before and its campaign is still being stored. Look for it in the campaign list in a moment instead of sending the form again.",
            link: { href: "/console", text: "Campaigns" },
          },
          "campaigns",
        );
      }
      if (error.code === "idempotency_key_reused") {
        return render(
          c,
          newCampaignPage({
            values: { ...form.values, idempotency_key: crypto.randomUUID() },
            keptFile: form.keptFile,
            formError: {
              text: "This form was already used to start a campaign with other contents, so nothing was started. Check the campaign list, then send this form again if you still want a second campaign.",
              link: { href: "/console", text: "Campaigns" },
            },
          }),
          422,
        );
      }
      throw error;
    }
  }
}

function keepRunning(c: Context<AppEnv>, work: Promise<unknown>) {
  let ctx: { waitUntil(promise: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    // No execution context (app.request in a test): nothing outlives the request anyway.
  }
  ctx?.waitUntil(work.catch(() => undefined));
}

// ---------------------------------------------------------------------------------------
// The review page

export interface ReviewCampaignProps {
  values: CampaignFormValues;
  request: CreateCampaignRequest;
  keptFile: KeptFile;
  review: CampaignReview;
  onDoNotCall: ReadonlySet<string>;
  now: Date;
}

const count = (value: number) => value.toLocaleString("en-US");
const plural = (value: number, one: string, many: string) =>
  `${count(value)} ${value === 1 ? one : many}`;

function hiddenFields(values: CampaignFormValues, keptFile: KeptFile): Html {
  const single: [string, string][] = [
    ["idempotency_key", values.idempotency_key],
    ["name", values.name],
    ["time_zone", values.time_zone],
    ["calls_from", values.calls_from],
    ["calls_until", values.calls_until],
    ["start_at", values.start_at],
    ["attempts", values.attempts],
    ["backoff_minutes", values.backoff_minutes],
    ["phone_country", values.phone_country],
    ["kept_file_name", keptFile.name],
    ["kept_file", keptFile.packed],
  ];
  return html`${single.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}${values.days.map(
    (day) => html`<input type="hidden" name="days" value="${day}">`,
  )}`;
}

export function reviewCampaignPage(props: ReviewCampaignProps): Html {
  const { request, review, now } = props;
  const name = request.name ?? "New campaign";
  const campaignZone = request.time_zone;
  const at = (instant: Date, zone: string) => formatLocalDate(instant, zone, now);
  const firstCall = review.firstCall
    ? at(review.firstCall.at, campaignZone ?? review.firstCall.zone)
    : null;
  const startsNow = !request.start_at;

  const zoneRows = review.zones.map(
    (zone) => html`<tr>
      <td class="nowrap">${zone.zone}${zone.fromCampaign > 0 ? html`<span class="hint">${zone.fromCampaign === zone.drivers ? "the campaign's Time zone" : `${count(zone.fromCampaign)} from the campaign's Time zone`}</span>` : ""}</td>
      <td class="num">${count(zone.drivers)}</td>
      <td class="nowrap">${zone.firstCallAt ? at(zone.firstCallAt, zone.zone) : "nobody: all on the do-not-call list"}</td>
    </tr>`,
  );

  const shown = request.drivers.slice(0, REVIEW_DRIVERS_SHOWN);
  const driverRows = shown.map((driver) => {
    const listed = props.onDoNotCall.has(driver.phone_number);
    return html`<tr>
      <td class="text">${driver.driver_name}<span class="hint">driver ${driver.driver_id}</span></td>
      <td class="nowrap mono">${driver.phone_number}</td>
      <td class="nowrap">${driver.time_zone ?? html`${campaignZone}<span class="hint">campaign's</span>`}</td>
      <td class="text wide"><ul class="plain">${driver.violations.map(
        (violation) =>
          html`<li><strong>${violation.code}</strong>: ${violation.description} <span class="hint">${violation.occurred_at}</span></li>`,
      )}</ul></td>
      <td>${listed ? html`<span class="status status-SKIPPED">SKIPPED</span><span class="hint">on the do-not-call list</span>` : "—"}</td>
    </tr>`;
  });

  const window = request.calling_window;
  return layout({
    title: pageTitle(`Review: ${name}`),
    section: "campaigns",
    body: html`<p><a href="/console">Campaigns</a></p>
      <h1>Review “${name}”</h1>
      <p>Nothing has been called or stored yet. Check the drivers and when calling begins, then
        start the campaign, or go back to the form to change it.</p>
      <section aria-labelledby="review-summary-heading">
        <h2 id="review-summary-heading" class="visually-hidden">Summary</h2>
        <div class="figures">
          <div class="figure"><h3>Drivers</h3><p class="big">${count(review.drivers)}</p><p>${plural(review.violations, "violation", "violations")}</p></div>
          <div class="figure"><h3>On the do-not-call list</h3><p class="big">${count(review.onDoNotCall)}</p><p>${review.onDoNotCall === 0 ? "nobody will be skipped" : "will be skipped, not called"}</p></div>
          <div class="figure"><h3>Time zones</h3><p class="big">${count(review.zones.length)}</p><p>${review.zones
            .slice(0, 3)
            .map((zone) => zone.zone)
            .join(", ")}${review.zones.length > 3 ? ", …" : ""}</p></div>
          <div class="figure"><h3>First call</h3><p class="when" id="first-call">${firstCall ?? "none: every number is on the do-not-call list"}</p><p>${startsNow ? "as soon as a calling window is open" : "not before Start at, inside a calling window"}</p></div>
        </div>
      </section>
      <form method="post" action="/console/campaigns/start" enctype="multipart/form-data" class="actions">
        ${hiddenFields(props.values, props.keptFile)}
        <button type="submit" name="action" value="start" class="primary">Start campaign</button>
        <button type="submit" name="action" value="back">Back</button>
      </form>
      <section aria-labelledby="zones-heading">
        <h2 id="zones-heading">Time zones found</h2>
        ${tableBox(
          "zones-caption",
          html`<table>
            <caption id="zones-caption">Drivers by time zone, with the first moment each zone's calling window is open</caption>
            <thead><tr><th scope="col">Time zone</th><th scope="col" class="num">Drivers</th><th scope="col">First call there (local time)</th></tr></thead>
            <tbody>${zoneRows}</tbody>
          </table>`,
        )}
      </section>
      <section aria-labelledby="review-settings-heading">
        <h2 id="review-settings-heading">Settings</h2>
        <dl class="meta panel">
          <dt>Name</dt><dd>${name}</dd>
          <dt>Drivers file</dt><dd>${props.keptFile.name}</dd>
          <dt>Time zone</dt><dd>${campaignZone ?? "each driver's own"}</dd>
          <dt>Calling window</dt><dd>${window.start}–${window.end}, each driver's local time</dd>
          <dt>Days</dt><dd>${(window.days ?? []).join(", ")}</dd>
          <dt>Start at</dt><dd>${startsNow ? "now" : at(review.startsAt, campaignZone ?? "UTC")}</dd>
          <dt>Attempts</dt><dd>at most ${request.retry.max_attempts}, ${request.retry.backoff_minutes} minutes apart; retried: ${request.retry.on.join(", ")}</dd>
          <dt>Numbers without +</dt><dd>read as ${props.values.phone_country} numbers</dd>
        </dl>
      </section>
      <section aria-labelledby="review-drivers-heading">
        <h2 id="review-drivers-heading">Drivers</h2>
        ${tableBox(
          "review-drivers-caption",
          html`<table>
            <caption id="review-drivers-caption">${review.drivers > shown.length ? `The first ${count(shown.length)} of ${count(review.drivers)} drivers, in the file's order` : `All ${plural(review.drivers, "driver", "drivers")}, in the file's order`}</caption>
            <thead><tr><th scope="col">Driver</th><th scope="col">Phone number</th><th scope="col">Time zone</th><th scope="col">Violations</th><th scope="col">Do-not-call</th></tr></thead>
            <tbody>${driverRows}</tbody>
          </table>`,
        )}
        ${review.drivers > shown.length ? html`<p>and ${count(review.drivers - shown.length)} more drivers, not listed here.</p>` : ""}
      </section>`,
  });
}
