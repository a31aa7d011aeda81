// /console/drivers/{driver_id}/erase: the confirmation step behind the call page's
// `Erase this driver's data` button (a form POST, like cancelling a campaign: no script
// under the CSP), and what the erasure did. The erasure itself is eraseDriverData, the
// code of POST /drivers/{driver_id}/erase. This page's routes live beside its templates;
// console/routes.ts mounts them and hands over its rendering and body-limit helpers, so a
// page here renders exactly as the others do.
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { html } from "hono/html";
import type { AppEnv } from "../../app-env";
import { auditStampOf } from "../../audit/record";
import { databaseOf } from "../../db/context";
import { type ErasureCounts, eraseDriverData } from "../../retention/erase";
import { type Html, layout, pageTitle, type Section } from "./layout";
import { linkLine } from "./parts";

/** What console/routes.ts lends the page: its renderers and the forms' body limit. */
export interface ConsolePageKit {
  render(c: Context<AppEnv>, page: Html, status?: number): Promise<Response>;
  renderMessage(
    c: Context<AppEnv>,
    status: number,
    content: { title: string; message: string; link?: { href: string; text: string } },
    section?: Section | "none" | null,
  ): Promise<Response>;
  formLimit: MiddlewareHandler<AppEnv>;
}

const MAX_DRIVER_ID = 2_147_483_647;
const CALL_SID = /^[\x21-\x7e]{1,255}$/;

/** Where "back" goes: the call the operator came from, else the campaigns. */
function backLink(callSid: string | undefined): { href: string; text: string } {
  return callSid
    ? { href: `/console/calls/${encodeURIComponent(callSid)}`, text: "Back to the call" }
    : { href: "/console", text: "Campaigns" };
}

export function eraseDriverPage(props: { driverId: number; callSid?: string }): Html {
  const back = backLink(props.callSid);
  return layout({
    title: pageTitle(`Erase driver ${props.driverId}'s data?`),
    section: "campaigns",
    body: html`<p><a href="${back.href}">${back.text}</a></p>
      <h1>Erase driver ${props.driverId}'s data?</h1>
      <p>Driver ${props.driverId} asked for their data to be erased. This erases, from every call and campaign of theirs:</p>
      <ul>
        <li>the transcripts, the analyses and the failure details of their calls;</li>
        <li>their name, phone number and violations;</li>
        <li>campaign calls still waiting for them, which are cancelled (they will not be called).</li>
      </ul>
      <p>What stays: the calls and campaign rows without those (status, times, outcome), so
        the campaigns' counts still add up; their number on the do-not-call list, if it is
        there (a driver who asked not to be called must not be called again); and the
        activity log, which records this erasure under your name. This cannot be undone.</p>
      <div class="actions">
        <form method="post" action="/console/drivers/${props.driverId}/erase">
          ${props.callSid ? html`<input type="hidden" name="call" value="${props.callSid}">` : ""}
          <button type="submit" class="danger-strong">Erase this driver's data</button>
        </form>
        <a href="${back.href}">Keep the data</a>
      </div>`,
  });
}

const COUNT_LABELS: [keyof ErasureCounts, string][] = [
  ["calls", "Calls erased"],
  ["transcript_turns", "Transcript turns deleted"],
  ["campaign_targets", "Campaign entries erased"],
  ["queued_targets_cancelled", "Waiting calls cancelled"],
  ["post_call_events", "Pending call reports deleted"],
];

export function driverErasedPage(props: {
  driverId: number;
  counts: ErasureCounts;
  doNotCallNumbersKept: number;
  callSid?: string;
}): Html {
  const nothing = Object.values(props.counts).every((count) => count === 0);
  return layout({
    title: pageTitle(`Driver ${props.driverId}'s data erased`),
    section: "campaigns",
    body: html`<h1>Driver ${props.driverId}'s data erased</h1>
      <p role="status" class="notice">${
        nothing
          ? "There was nothing left to erase: this driver's data had been erased already."
          : "Their transcripts, analyses, name, phone number and violations are gone."
      }</p>
      <dl class="meta panel">
        ${COUNT_LABELS.map(([key, label]) => html`<dt>${label}</dt><dd>${props.counts[key]}</dd>`)}
        <dt>Numbers kept on the do-not-call list</dt><dd>${props.doNotCallNumbersKept}</dd>
      </dl>
      ${linkLine(backLink(props.callSid))}`,
  });
}

function driverIdOf(c: Context<AppEnv>): number | null {
  const text = c.req.param("driver_id") ?? "";
  if (!/^\d{1,10}$/.test(text)) return null;
  const driverId = Number(text);
  return driverId >= 1 && driverId <= MAX_DRIVER_ID ? driverId : null;
}

function callSidOf(value: unknown): string | undefined {
  return typeof value === "string" && CALL_SID.test(value) ? value : undefined;
}

export function eraseDriverRoutes(kit: ConsolePageKit): Hono<AppEnv> {
  const notFound = (c: Context<AppEnv>) =>
    kit.renderMessage(
      c,
      404,
      {
        title: "No such driver",
        message: "A driver id is a whole number from 1 to 2147483647.",
        link: { href: "/console", text: "Campaigns" },
      },
      "campaigns",
    );

  return new Hono<AppEnv>()
    .get("/drivers/:driver_id/erase", (c) => {
      const driverId = driverIdOf(c);
      if (driverId === null) return notFound(c);
      return kit.render(c, eraseDriverPage({ driverId, callSid: callSidOf(c.req.query("call")) }));
    })
    .post("/drivers/:driver_id/erase", kit.formLimit, async (c) => {
      const driverId = driverIdOf(c);
      if (driverId === null) return notFound(c);
      const body = await c.req.parseBody();
      const callSid = callSidOf(body.call);
      const result = await eraseDriverData(databaseOf(c), driverId, auditStampOf(c));
      if (result.kind === "in_call") {
        return kit.renderMessage(
          c,
          409,
          {
            title: "On a call right now",
            message: `Driver ${driverId} is on a call right now (${result.callSid}), which would store a transcript after the erasure. Nothing was erased: erase again once the call has ended.`,
            link: backLink(callSid),
          },
          "campaigns",
        );
      }
      c.get("log").info("driver_erased", {
        driver_id: driverId,
        ...result.counts,
        from: "console",
      });
      return kit.render(
        c,
        driverErasedPage({
          driverId,
          counts: result.counts,
          doNotCallNumbersKept: result.doNotCallNumbersKept,
          callSid,
        }),
      );
    });
}
