// /console/sign-in: an operator's own token, once; the server-side session does the rest
// (session.ts). Not shown where Cloudflare Access signs people in.
import { html } from "hono/html";
import { type Html, layout, pageTitle } from "./layout";

export type SignInProblem = "invalid" | "rate_limited" | null;

export function signInPage(props: {
  problem: SignInProblem;
  next: string;
  retryAt?: string;
}): Html {
  const message =
    props.problem === "invalid"
      ? "That token is not valid."
      : props.problem === "rate_limited"
        ? `Too many sign-in attempts from your address. Try again in a minute (after ${props.retryAt ?? "a minute"}).`
        : null;
  const error = message
    ? html`<p class="alert" role="alert" id="sign-in-error">${message}</p>`
    : "";
  const invalid = message ? html` aria-describedby="sign-in-error" aria-invalid="true"` : "";
  return layout({
    title: pageTitle("Sign in"),
    section: null,
    body: html`<h1>Sign in</h1>
      <p>Sign in with your own operator token (an administrator creates it with
        <code>npm run operator -- add "Your Name"</code>). What you do is recorded under your name.</p>
      ${error}
      <form method="post" action="/console/sign-in" class="panel narrow">
        <input type="hidden" name="next" value="${props.next}">
        <div class="field">
          <label for="token">Token</label>
          <input type="password" id="token" name="token" autocomplete="current-password" spellcheck="false"${invalid}>
        </div>
        <button type="submit" class="primary">Sign in</button>
      </form>`,
  });
}
