// The operator console from inside workerd: a signed-in session (an operator of the lab's
// database, signed in through the sign-in form as a browser is), requests with it, and
// small readers of the HTML it answers.
import { SYSTEM_STAMP } from "../../src/audit/record";
import { createDatabase } from "../../src/db/client";
import { addOperator } from "../../src/operators/repository";
import { type Lab, labRequest } from "./dispatch";
import { testEnv } from "./worker";

export const ORIGIN = "http://driver-calls.test";

export interface ConsoleClient {
  cookie: string;
  /** The signed-in operator. */
  operator: { id: string; name: string };
  get(path: string): Promise<Response>;
  /** A form POST from the console's own origin; `body` as a browser would send it. */
  post(path: string, body: BodyInit, headers?: Record<string, string>): Promise<Response>;
}

/** A client address of the test's own: sign-ins are limited per address. */
function testAddress(): string {
  const byte = () => 1 + Math.floor(Math.random() * 254);
  return `10.${byte()}.${byte()}.${byte()}`;
}

/**
 * Adds an operator to the lab's database, signs in as them through POST /console/sign-in,
 * and returns a client that carries the session cookie. The one place the console tests
 * know how a session is had.
 */
export async function signInToConsole(lab: Lab, name = "Test Operator"): Promise<ConsoleClient> {
  const { operator, token } = await addOperator(
    createDatabase(lab.databaseUrl, testEnv.NEON_HTTP_ENDPOINT),
    { name },
    SYSTEM_STAMP,
  );
  const response = await labRequest(
    lab,
    new Request(`${ORIGIN}/console/sign-in`, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin: ORIGIN,
        "cf-connecting-ip": testAddress(),
      },
      body: new URLSearchParams({ token }),
    }),
  );
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  if (response.status !== 303 || cookie === "") {
    throw new Error(`console sign-in: ${response.status} ${await response.text()}`);
  }
  return {
    cookie,
    operator: { id: operator.id, name: operator.name },
    get: (path) =>
      labRequest(lab, new Request(`${ORIGIN}${path}`, { redirect: "manual", headers: { cookie } })),
    post: (path, body, headers = {}) =>
      labRequest(
        lab,
        new Request(`${ORIGIN}${path}`, {
          method: "POST",
          redirect: "manual",
          headers: { cookie, origin: ORIGIN, ...headers },
          body,
        }),
      ),
  };
}

function unescapeHtml(text: string): string {
  return text
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&amp;", "&");
}

export function titleOf(html: string): string {
  return unescapeHtml(/<title>([^<]*)<\/title>/.exec(html)?.[1] ?? "");
}

/** The page's visible text, roughly: tags dropped, entities read, blanks collapsed. */
export function textOf(html: string): string {
  return unescapeHtml(
    html
      .replace(/<(script|style)[\s\S]*?<\/\1>/g, " ")
      .replace(/<[^>]+>/g, " ")
      .replace(/\s+/g, " "),
  ).trim();
}

/** The hidden fields of the page's forms, in order (a name may repeat: days). */
export function hiddenFieldsOf(html: string): [string, string][] {
  return [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(
    (match) => [unescapeHtml(match[1] ?? ""), unescapeHtml(match[2] ?? "")],
  );
}

/** The value attribute of the input with this id. */
export function inputValue(html: string, id: string): string | undefined {
  const tag = new RegExp(`<input[^>]* id="${id}"[^>]*>`).exec(html)?.[0];
  const value = tag ? /value="([^"]*)"/.exec(tag)?.[1] : undefined;
  return value === undefined ? undefined : unescapeHtml(value);
}

/** The items of the list with this id (the form's problems: `csv-problems`). */
export function listItems(html: string, id: string): string[] {
  const list = new RegExp(`<ul[^>]* id="${id}"[^>]*>([\\s\\S]*?)</ul>`).exec(html)?.[1] ?? "";
  return [...list.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((match) => textOf(match[1] ?? ""));
}
