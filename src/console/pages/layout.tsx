// The frame of every console page: document head (stylesheet and the one script, both
// same-origin files), a skip link, the top bar with the navigation and `Sign out`, and
// <main>. Text is always passed as JSX children or attributes, which hono/jsx escapes.
import type { Child } from "hono/jsx";

export const ASSET_PATHS = {
  stylesheet: "/console/assets/console.css",
  script: "/console/assets/console.js",
} as const;

export type Section = "campaigns" | "do-not-call";

export interface LayoutProps {
  title: string;
  /** Null on the sign-in page: no navigation, no Sign out. */
  section: Section | "none" | null;
  /** data-* attributes of <main> (the refresh script reads them). */
  mainData?: Record<`data-${string}`, string>;
  children?: Child;
}

export function Layout(props: LayoutProps) {
  const signedIn = props.section !== null;
  const current = (section: Section) => (props.section === section ? "page" : undefined);
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>{props.title}</title>
        <link rel="stylesheet" href={ASSET_PATHS.stylesheet} />
        <script src={ASSET_PATHS.script} defer></script>
      </head>
      <body>
        <a class="skip-link" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/console">
            driver-calls console
          </a>
          {signedIn ? (
            <>
              <nav aria-label="Console">
                <ul>
                  <li>
                    <a href="/console" aria-current={current("campaigns")}>
                      Campaigns
                    </a>
                  </li>
                  <li>
                    <a href="/console/do-not-call" aria-current={current("do-not-call")}>
                      Do-not-call list
                    </a>
                  </li>
                </ul>
              </nav>
              <form method="post" action="/console/sign-out">
                <button type="submit">Sign out</button>
              </form>
            </>
          ) : null}
        </header>
        <main id="main" tabindex={-1} {...(props.mainData ?? {})}>
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** The page title: "<what> · driver-calls console". */
export function pageTitle(what: string): string {
  return `${what} · driver-calls console`;
}
