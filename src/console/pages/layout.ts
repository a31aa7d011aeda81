// The frame of every console page: document head (stylesheet and the one script, both
// same-origin files), a skip link, the top bar with the navigation and `Sign out`, and
// <main>.
//
// Pages are hono/html tagged templates: every value interpolated into a template is
// HTML-escaped (text and attribute values alike, quotes included) unless it is itself a
// template's output. Outside text (driver names, transcripts, summaries, reasons) is only
// ever interpolated, never passed to raw(). Templates rather than hono/jsx because the
// JSX runtime and the compiled JSX cost about 6 KiB gzipped of a Worker bundle that has a
// 250 KiB budget (`npm run size`), for the same escaping.
import { html, raw } from "hono/html";

/** What a page renders to: escaped HTML (a template's output). */
export type Html = ReturnType<typeof html>;

export const ASSET_PATHS = {
  stylesheet: "/console/assets/console.css",
  script: "/console/assets/console.js",
} as const;

export type Section = "campaigns" | "do-not-call" | "integrations" | "activity";

export interface LayoutProps {
  title: string;
  /** Null on the sign-in page: no navigation, no Sign out. */
  section: Section | "none" | null;
  /** data-* attributes of <main> (the refresh script reads them). */
  mainData?: Record<`data-${string}`, string>;
  body: Html;
}

/** ` name="value"` for each entry, escaped; names are the code's own. */
export function attributes(entries: Record<string, string | undefined>): Html[] {
  return Object.entries(entries)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => html` ${name}="${value}"`);
}

/**
 * Where the signed-in operator's name goes. Pages are pure functions of their data and do
 * not know who is looking; the console's render() fills this in from the request (and
 * removes it where nobody is signed in).
 */
export const SIGNED_IN_AS_SLOT = raw("<!--signed-in-as-->");

export function layout(props: LayoutProps): Html {
  const current = (section: Section) =>
    props.section === section ? html` aria-current="page"` : "";
  const nav =
    props.section === null
      ? ""
      : html`<nav aria-label="Console">
            <ul>
              <li><a href="/console"${current("campaigns")}>Campaigns</a></li>
              <li><a href="/console/do-not-call"${current("do-not-call")}>Do-not-call list</a></li>
              <li><a href="/console/integrations"${current("integrations")}>Integrations</a></li>
              <li><a href="/console/activity"${current("activity")}>Activity</a></li>
            </ul>
          </nav>
          ${SIGNED_IN_AS_SLOT}
          <form method="post" action="/console/sign-out"><button type="submit">Sign out</button></form>`;
  return html`<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="same-origin">
    <title>${props.title}</title>
    <link rel="stylesheet" href="${ASSET_PATHS.stylesheet}">
    <script src="${ASSET_PATHS.script}" defer></script>
  </head>
  <body>
    <a class="skip-link" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href="/console">driver-calls console</a>
      ${nav}
    </header>
    <main id="main" tabindex="-1"${attributes(props.mainData ?? {})}>
      ${props.body}
    </main>
  </body>
</html>`;
}

/** The page title: "<what> · driver-calls console". */
export function pageTitle(what: string): string {
  return `${what} · driver-calls console`;
}
