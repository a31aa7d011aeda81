// Signing in and out of the console, what every response carries, and requests from
// other sites: in Chromium against `wrangler dev`, and from Node where a test needs a
// request no browser would send.
import { afterAll, describe, expect, inject, it } from "vitest";
import { revokeOperator } from "../../scripts/lib/operators.ts";
import {
  API_TOKEN,
  addTestOperator,
  BASE_URL,
  type BrowserGlobals,
  clickAndWait,
  closeSql,
  cookieHeader,
  disconnectBrowser,
  OPERATOR_TOKEN,
  openConsole,
  phoneNumber,
  screenshot,
  seriousAxeFindings,
  sql,
  testAddress,
} from "../support/console-browser";

afterAll(async () => {
  await disconnectBrowser();
  await closeSql();
});

function form(fields: Record<string, string>) {
  return new URLSearchParams(fields).toString();
}

async function postForm(path: string, fields: Record<string, string>, headers = {}) {
  return fetch(`${BASE_URL}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      origin: BASE_URL,
      // Sign-ins are limited per address: each request from Node is a client of its own.
      "cf-connecting-ip": testAddress(),
      ...headers,
    },
    body: form(fields),
  });
}

describe("signing in", () => {
  it("refuses a wrong token with 401, the message and no cookie", async () => {
    const response = await postForm("/console/sign-in", { token: "not-the-token" });
    expect(response.status).toBe(401);
    expect(response.headers.get("set-cookie")).toBeNull();
    expect(await response.text()).toContain("That token is not valid.");
  });

  it("does not open the console with the machines' API_TOKEN", async () => {
    const response = await postForm("/console/sign-in", { token: API_TOKEN });
    expect(response.status).toBe(401);
    expect(response.headers.get("set-cookie")).toBeNull();
  });

  it("sets __Host-console (HttpOnly, Secure, SameSite=Strict, Path=/, at most 12 h) and redirects 303 to /console; the cookie holds no token", async () => {
    const response = await postForm("/console/sign-in", { token: OPERATOR_TOKEN });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/console");
    const cookie = response.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^__Host-console=/);
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; Secure/i);
    expect(cookie).toMatch(/; SameSite=Strict/i);
    expect(cookie).toMatch(/; Path=\//i);
    expect(cookie).not.toMatch(/; Domain=/i);
    const maxAge = Number(/Max-Age=(\d+)/i.exec(cookie)?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(43_200);
    expect(cookie).not.toContain(OPERATOR_TOKEN);
    expect(decodeURIComponent(cookie)).not.toContain(OPERATOR_TOKEN);
  });

  it("works in Chromium over http://127.0.0.1 (a secure context), and Sign out ends the session: the old cookie is refused afterwards", async () => {
    const session = await openConsole();
    try {
      const signedInCookie = await cookieHeader(session.page);
      const [cookie] = await session.context.cookies();
      expect(cookie).toMatchObject({
        name: "__Host-console",
        httpOnly: true,
        secure: true,
        sameSite: "Strict",
        path: "/",
      });
      await clickAndWait(session.page, '::-p-aria([name="Sign out"][role="button"])');
      expect(new URL(session.page.url()).pathname).toBe("/console/sign-in");
      expect(await session.context.cookies()).toEqual([]);
      // And the console is closed again.
      await session.page.goto(`${BASE_URL}/console/do-not-call`);
      expect(new URL(session.page.url()).pathname).toBe("/console/sign-in");
      // The cookie as it was before signing out: ended on the server, so refused.
      const replayed = await fetch(`${BASE_URL}/console`, {
        redirect: "manual",
        headers: { cookie: signedInCookie },
      });
      expect(replayed.status).toBe(303);
      expect(replayed.headers.get("location")).toBe("/console/sign-in");
    } finally {
      await session.close();
    }
  });

  it("sends every page without a session to the sign-in page (303)", async () => {
    for (const path of [
      "/console",
      "/console/campaigns/new",
      "/console/campaigns/0193a1c2-7f00-4c3e-9d7e-3a1f0c2b4d5e",
      "/console/calls/EL_1_1",
      "/console/do-not-call",
      "/console/drivers-template.csv",
      "/console/no-such-page",
    ]) {
      const response = await fetch(`${BASE_URL}${path}`, { redirect: "manual" });
      expect(response.status, path).toBe(303);
      const location = response.headers.get("location") ?? "";
      expect(location, path).toBe(
        path === "/console"
          ? "/console/sign-in"
          : `/console/sign-in?next=${encodeURIComponent(path)}`,
      );
    }
  });

  it("refuses a session id that the server did not hand out, or one changed by a character", async () => {
    const signedIn = await postForm("/console/sign-in", { token: OPERATOR_TOKEN });
    const value =
      /^__Host-console=([^;]+)/.exec(signedIn.headers.get("set-cookie") ?? "")?.[1] ?? "";
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const changed = `${value.slice(0, -1)}${value.endsWith("A") ? "B" : "A"}`;
    for (const forged of [changed, "A".repeat(43), "1.signature", ""]) {
      const response = await fetch(`${BASE_URL}/console`, {
        redirect: "manual",
        headers: { cookie: `__Host-console=${forged}` },
      });
      expect(response.status, forged).toBe(303);
    }
    const genuine = await fetch(`${BASE_URL}/console`, {
      redirect: "manual",
      headers: { cookie: `__Host-console=${value}` },
    });
    expect(genuine.status).toBe(200);
  });
});

describe("operators with names", () => {
  it("two operators sign in; one cancels a campaign; the other sees it in Activity under the first one's name", async () => {
    const ana = await addTestOperator(`Ana Ruiz ${crypto.randomUUID().slice(0, 4)}`);
    const ben = await addTestOperator(`Ben Okafor ${crypto.randomUUID().slice(0, 4)}`);
    const created = await fetch(`${BASE_URL}/campaigns`, {
      method: "POST",
      headers: { authorization: `Bearer ${ana.token}`, "content-type": "application/json" },
      body: JSON.stringify({
        name: `Cancelled by ${ana.name}`,
        time_zone: "UTC",
        start_at: new Date(Date.now() + 86_400_000).toISOString(),
        drivers: [
          {
            driver_id: 1,
            phone_number: phoneNumber(),
            driver_name: "Kim Lee",
            violations: [
              {
                code: "HOS_11H",
                description: "11-hour limit",
                occurred_at: "2026-11-20T14:05:00Z",
              },
            ],
          },
        ],
      }),
    });
    expect(created.status).toBe(202);
    const campaignId = ((await created.json()) as { campaign: { id: string } }).campaign.id;

    const anas = await openConsole({ token: ana.token });
    const bens = await openConsole({ token: ben.token });
    try {
      await anas.page.goto(`${BASE_URL}/console/campaigns/${campaignId}`);
      await clickAndWait(anas.page, '::-p-aria([name="Cancel campaign"][role="button"])');
      await clickAndWait(anas.page, '::-p-aria([name="Cancel campaign"][role="button"])');
      expect(await anas.page.title()).toContain("CANCELLED");

      await bens.page.goto(`${BASE_URL}/console`);
      // Every page says who is signed in.
      expect(await bens.page.$eval(".signed-in-as", (node: any) => node.textContent)).toBe(
        `Signed in as ${ben.name}`,
      );
      await clickAndWait(bens.page, '::-p-aria([name="Activity"][role="link"])');
      expect(await bens.page.title()).toMatch(/^Activity/);
      await bens.page.locator("::-p-aria(Operator)").fill(ana.id);
      await clickAndWait(bens.page, '::-p-aria([name="Filter"][role="button"])');
      const rows = await bens.page.$$eval("tbody tr", (trs: any[]) =>
        trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td: any) => td.textContent.trim())),
      );
      const cancel = rows.find((cells: string[]) => cells[2] === "campaign.cancelled");
      expect(cancel?.[1]).toBe(ana.name);
      expect(cancel?.[3]).toBe(`Cancelled by ${ana.name}`);
      expect(
        rows.some((cells: string[]) => cells[2] === "campaign.created" && cells[1] === ana.name),
      ).toBe(true);
      expect(
        rows.some((cells: string[]) => cells[2] === "operator.signed_in" && cells[1] === ana.name),
      ).toBe(true);
      expect(await seriousAxeFindings(bens.page)).toEqual([]);
      await screenshot(bens.page, "console-activity");
    } finally {
      await anas.close();
      await bens.close();
    }
  });

  it("refuses a revoked operator's open session on their next click", async () => {
    const cy = await addTestOperator(`Cy Tran ${crypto.randomUUID().slice(0, 4)}`);
    const session = await openConsole({ token: cy.token });
    try {
      await session.page.goto(`${BASE_URL}/console/do-not-call`);
      expect(await session.page.title()).toMatch(/^Do-not-call list/);
      await revokeOperator(inject("consoleDatabaseUrl"), cy.id);
      await clickAndWait(session.page, '::-p-aria([name="Campaigns"][role="link"])');
      expect(new URL(session.page.url()).pathname).toBe("/console/sign-in");
      // Their token no longer signs in either.
      await session.page.locator("::-p-aria(Token)").fill(cy.token);
      await clickAndWait(session.page, '::-p-aria([name="Sign in"][role="button"])');
      expect(await session.page.$eval("[role=alert]", (node: any) => node.textContent)).toContain(
        "That token is not valid.",
      );
    } finally {
      await session.close();
    }
  });

  it("answers the 11th failed sign-in from one address within a minute with 429 and when to try again", async () => {
    // The local limiter counts in windows aligned to the minute: start early in one.
    const secondsIntoMinute = new Date().getUTCSeconds();
    if (secondsIntoMinute > 45)
      await new Promise((resolve) => setTimeout(resolve, (61 - secondsIntoMinute) * 1000));
    const ip = testAddress();
    const statuses: number[] = [];
    for (let attempt = 1; attempt <= 11; attempt++) {
      const response = await postForm(
        "/console/sign-in",
        { token: `wrong-${attempt}` },
        { "cf-connecting-ip": ip },
      );
      statuses.push(response.status);
      if (attempt === 11) {
        expect(response.headers.get("retry-after")).toBe("60");
        expect(await response.text()).toContain(
          "Too many sign-in attempts from your address. Try again in a minute",
        );
      }
    }
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
    const failed = await sql<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_events WHERE action = 'operator.sign_in_failed' AND ip = $1",
      [ip],
    );
    expect(failed[0]?.n).toBe(10);
  });

  it("refuses UPDATE and DELETE on the audit trail in the database", async () => {
    await expect(sql("UPDATE audit_events SET actor_name = 'nobody'")).rejects.toThrow(
      /append-only/,
    );
    await expect(sql("DELETE FROM audit_events")).rejects.toThrow(/append-only/);
  });
});

describe("every console response", () => {
  it("carries the CSP (self only, no inline script, no framing), nosniff, same-origin referrers and no-store", async () => {
    const signedIn = await postForm("/console/sign-in", { token: OPERATOR_TOKEN });
    const cookie = (signedIn.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const responses = [
      signedIn,
      await fetch(`${BASE_URL}/console/sign-in`),
      await fetch(`${BASE_URL}/console`, { headers: { cookie } }),
      await fetch(`${BASE_URL}/console/do-not-call`, { headers: { cookie } }),
      await fetch(`${BASE_URL}/console/assets/console.css`),
      await fetch(`${BASE_URL}/console/assets/console.js`),
      await fetch(`${BASE_URL}/console/campaigns/new`, { redirect: "manual" }),
      await postForm("/console/sign-in", { token: "wrong" }),
    ];
    for (const response of responses) {
      const where = `${response.url} ${response.status}`;
      const csp = response.headers.get("content-security-policy") ?? "";
      expect(csp, where).toContain("default-src 'self'");
      expect(csp, where).toContain("frame-ancestors 'none'");
      expect(csp, where).not.toContain("unsafe-inline");
      expect(response.headers.get("x-content-type-options"), where).toBe("nosniff");
      expect(response.headers.get("referrer-policy"), where).toBe("same-origin");
      expect(response.headers.get("cache-control"), where).toBe("no-store");
    }
    const css = responses[4];
    const js = responses[5];
    expect(css?.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(js?.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
  });

  it("keeps the console out of the OpenAPI document", async () => {
    const document = (await (await fetch(`${BASE_URL}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(document.paths).filter((path) => path.startsWith("/console"))).toEqual([]);
  });
});

describe("requests from other sites", () => {
  it("refuses a cross-site POST that carries a valid session (403) and does nothing", async () => {
    const session = await openConsole();
    try {
      const cookie = await cookieHeader(session.page);
      const number = phoneNumber();
      for (const headers of [
        { origin: "http://evil.example", "sec-fetch-site": "cross-site" },
        { origin: "null" },
        { origin: "" },
      ]) {
        const response = await postForm(
          "/console/do-not-call",
          { phone_number: number, reason: "forged" },
          { cookie, ...headers },
        );
        expect(response.status, JSON.stringify(headers)).toBe(403);
      }
      // Not a form at all (JSON a script could send): refused too.
      const json = await fetch(`${BASE_URL}/console/do-not-call`, {
        method: "POST",
        headers: { cookie, "content-type": "application/json", origin: "http://evil.example" },
        body: JSON.stringify({ phone_number: number }),
      });
      expect(json.status).toBe(403);
      expect(await sql("SELECT 1 FROM do_not_call WHERE phone_number = $1", [number])).toEqual([]);
      // The same request from the console's own origin works.
      const own = await postForm("/console/do-not-call", { phone_number: number }, { cookie });
      expect(own.status).toBe(303);
      expect(await sql("SELECT 1 FROM do_not_call WHERE phone_number = $1", [number])).toHaveLength(
        1,
      );
    } finally {
      await session.close();
    }
  });

  it("refuses a form that another site's page submits in the browser", async () => {
    const session = await openConsole();
    try {
      const number = phoneNumber();
      // A page of another origin (localhost is not 127.0.0.1) that posts to the console.
      const other = BASE_URL.replace("127.0.0.1", "localhost");
      await session.page.goto(`${other}/health`);
      // What a forged page does: a form that posts itself to the console.
      const [response] = await Promise.all([
        session.page.waitForNavigation(),
        session.page.evaluate(
          (target, phone) => {
            const { document } = globalThis as unknown as BrowserGlobals;
            const form = document.createElement("form");
            form.method = "post";
            form.action = `${target}/console/do-not-call`;
            const input = document.createElement("input");
            input.name = "phone_number";
            input.value = phone;
            form.append(input);
            document.body.append(form);
            form.submit();
          },
          BASE_URL,
          number,
        ),
      ]);
      expect(response?.status()).toBe(403);
      expect(await session.page.title()).toContain("Refused");
      expect(await sql("SELECT 1 FROM do_not_call WHERE phone_number = $1", [number])).toEqual([]);
    } finally {
      await session.close();
    }
  });
});
