// /console/sign-in: the API token, once; the session cookie does the rest (session.ts).
import { html } from "hono/html";
import { type Html, layout, pageTitle } from "./layout";

export function signInPage(props: { invalid: boolean }): Html {
  const error = props.invalid
    ? html`<p class="alert" role="alert" id="sign-in-error">That token is not valid.</p>`
    : "";
  const invalid = props.invalid ? html` aria-describedby="sign-in-error" aria-invalid="true"` : "";
  return layout({
    title: pageTitle("Sign in"),
    section: null,
    body: html`<h1>Sign in</h1>
      <p>Sign in with the service's API token (the one operators send as a Bearer token).</p>
      ${error}
      <form method="post" action="/console/sign-in" class="panel narrow">
        <div class="field">
          <label for="token">API token</label>
          <input type="password" id="token" name="token" autocomplete="current-password" spellcheck="false"${invalid}>
        </div>
        <button type="submit" class="primary">Sign in</button>
      </form>`,
  });
}
