// /console/sign-in: the API token, once; the session cookie does the rest (session.ts).
import { Layout, pageTitle } from "./layout";

export function SignInPage(props: { invalid: boolean }) {
  return (
    <Layout title={pageTitle("Sign in")} section={null}>
      <h1>Sign in</h1>
      <p>Sign in with the service's API token (the one operators send as a Bearer token).</p>
      {props.invalid ? (
        <p class="alert" role="alert" id="sign-in-error">
          That token is not valid.
        </p>
      ) : null}
      <form method="post" action="/console/sign-in" class="panel narrow">
        <div class="field">
          <label for="token">API token</label>
          <input
            type="password"
            id="token"
            name="token"
            autocomplete="current-password"
            spellcheck={false}
            aria-describedby={props.invalid ? "sign-in-error" : undefined}
            aria-invalid={props.invalid ? "true" : undefined}
          />
        </div>
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    </Layout>
  );
}
