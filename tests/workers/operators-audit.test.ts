// Operators with names: their own tokens (API and console), server-side console sessions
// (sign-out, revocation, 12 hours), Cloudflare Access assertions, the sign-in limit, and
// the append-only audit trail written with each change. Real Worker, real Postgres (a
// private database per test), a fake clock where time matters.
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { SYSTEM_STAMP } from "../../src/audit/record";
import { RETENTION_CRON } from "../../src/crons";
import { createDatabase } from "../../src/db/client";
import { addOperator, revokeOperator } from "../../src/operators/repository";
import {
  createCampaign,
  driver,
  fireCron,
  type Lab,
  labRequest,
  movableClock,
  newLab,
  operatorRequest,
} from "../support/dispatch";
import { accessKeySet } from "../support/lab";
import { jsonRequest, readError, testEnv } from "../support/worker";

const ORIGIN = "http://driver-calls.test";

interface AuditJson {
  id: string;
  at: string;
  actor_kind: string;
  actor_id: string | null;
  actor_name: string;
  action: string;
  subject_type: string | null;
  subject_id: string | null;
  detail: Record<string, unknown>;
  ip: string | null;
  request_id: string | null;
}

function labDatabase(lab: Lab) {
  return createDatabase(lab.databaseUrl, testEnv.NEON_HTTP_ENDPOINT);
}

async function newOperator(lab: Lab, name: string, email?: string) {
  const { operator, token } = await addOperator(labDatabase(lab), { name, email }, SYSTEM_STAMP);
  return { ...operator, token };
}

function asOperator(token: string, method: string, path: string, body?: unknown, headers = {}) {
  const authorization = { authorization: `Bearer ${token}`, ...headers };
  return body === undefined
    ? new Request(`${ORIGIN}${path}`, { method, headers: authorization })
    : jsonRequest(method, path, body, authorization);
}

async function auditOf(lab: Lab, query = ""): Promise<AuditJson[]> {
  const response = await labRequest(lab, operatorRequest("GET", `/audit${query}`));
  expect(response.status).toBe(200);
  return ((await response.json()) as { events: AuditJson[] }).events;
}

function form(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return new Request(`${ORIGIN}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      origin: ORIGIN,
      ...headers,
    },
    body: new URLSearchParams(fields).toString(),
  });
}

function page(path: string, cookie?: string, headers: Record<string, string> = {}) {
  return new Request(`${ORIGIN}${path}`, {
    redirect: "manual",
    headers: { ...(cookie ? { cookie } : {}), ...headers },
  });
}

/** A client address of the test's own: sign-ins are limited per address. */
function address(): string {
  const byte = () => 1 + Math.floor(Math.random() * 254);
  return `10.${byte()}.${byte()}.${byte()}`;
}

async function signIn(lab: Lab, token: string, ip = address()) {
  const response = await labRequest(
    lab,
    form("/console/sign-in", { token }, { "cf-connecting-ip": ip }),
  );
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  return { response, cookie };
}

describe("operators' own tokens on the API", () => {
  it("records each change under whoever made it: the operator by name, API_TOKEN as api_token", async () => {
    const lab = await newLab();
    const ana = await newOperator(lab, "Ana Ruiz", "Ana@Fleet.example");
    expect(ana.token).toMatch(/^dco_[A-Za-z0-9_-]{43}$/);
    expect(ana.email).toBe("ana@fleet.example");
    const [stored] = (await lab.sql`SELECT token_hash FROM operators WHERE id = ${ana.id}`) as {
      token_hash: string;
    }[];
    expect(stored?.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored?.token_hash).not.toContain(ana.token);

    const created = await labRequest(
      lab,
      asOperator(
        ana.token,
        "POST",
        "/campaigns",
        { name: "Week 49", time_zone: "UTC", drivers: [driver(1, "0100")] },
        { "cf-connecting-ip": "203.0.113.7" },
      ),
    );
    expect(created.status).toBe(202);
    const campaignId = ((await created.json()) as { campaign: { id: string } }).campaign.id;
    const cancelled = await labRequest(
      lab,
      operatorRequest("POST", `/campaigns/${campaignId}/cancel`),
    );
    expect(cancelled.status).toBe(200);

    const events = await auditOf(lab);
    const createdEvent = events.find((event) => event.action === "campaign.created");
    expect(createdEvent).toMatchObject({
      actor_kind: "operator",
      actor_id: ana.id,
      actor_name: "Ana Ruiz",
      subject_type: "campaign",
      subject_id: campaignId,
      detail: { name: "Week 49", drivers: 1, on_do_not_call: 0 },
      ip: "203.0.113.7",
      request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(events.find((event) => event.action === "campaign.cancelled")).toMatchObject({
      actor_kind: "api_token",
      actor_id: null,
      actor_name: "API token",
      subject_id: campaignId,
      request_id: cancelled.headers.get("x-request-id"),
    });
  });

  it("records batches and do-not-call changes, the removal with its reason and what the entry said", async () => {
    const lab = await newLab();
    const ben = await newOperator(lab, "Ben Okafor");
    const number = "+15557770100";
    const batch = await labRequest(
      lab,
      asOperator(ben.token, "POST", "/calls/batch", {
        drivers: [
          {
            driver_id: 7,
            phone_number: "+15557770200",
            driver_name: "Kim",
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
    );
    expect(batch.status).toBe(200);
    const added = await labRequest(
      lab,
      asOperator(ben.token, "PUT", `/do-not-call/${encodeURIComponent(number)}`, {
        reason: "asked by phone",
      }),
    );
    expect(added.status).toBe(200);
    const removed = await labRequest(
      lab,
      asOperator(
        ben.token,
        "DELETE",
        `/do-not-call/${encodeURIComponent(number)}?reason=${encodeURIComponent("added by mistake")}`,
      ),
    );
    expect(removed.status).toBe(204);
    // Removing it again changes nothing, so records nothing.
    await labRequest(
      lab,
      asOperator(ben.token, "DELETE", `/do-not-call/${encodeURIComponent(number)}`),
    );

    const events = await auditOf(lab, `?actor_id=${ben.id}`);
    expect(events.map((event) => event.action)).toEqual([
      "do_not_call.removed",
      "do_not_call.added",
      "batch.placed",
    ]);
    expect(events[0]).toMatchObject({
      subject_type: "phone_number",
      subject_id: number,
      detail: { reason: "added by mistake", entry_reason: "asked by phone", entry_call_sid: null },
    });
    expect(events[2]?.detail).toEqual({ calls: 1, not_dialed: 0 });
  });

  it("refuses a revoked operator's token (401), records the revocation, and leaves API_TOKEN alone", async () => {
    const lab = await newLab();
    const cy = await newOperator(lab, "Cy Tran");
    expect((await labRequest(lab, asOperator(cy.token, "GET", "/campaigns"))).status).toBe(200);
    const revoked = await revokeOperator(labDatabase(lab), cy.id, SYSTEM_STAMP);
    expect(revoked?.operator.revoked_at).not.toBeNull();
    const refused = await labRequest(lab, asOperator(cy.token, "GET", "/campaigns"));
    expect(refused.status).toBe(401);
    expect((await readError(refused)).error.code).toBe("unauthorized");
    expect(
      (await labRequest(lab, asOperator("dco_not-a-real-token-at-all", "GET", "/campaigns")))
        .status,
    ).toBe(401);
    expect((await labRequest(lab, operatorRequest("GET", "/campaigns"))).status).toBe(200);
    const [event] = await auditOf(lab, "?action=operator.revoked");
    expect(event).toMatchObject({
      actor_kind: "system",
      subject_id: cy.id,
      detail: { name: "Cy Tran" },
    });
    // A second revoke changes nothing and records nothing.
    await revokeOperator(labDatabase(lab), cy.id, SYSTEM_STAMP);
    expect(await auditOf(lab, "?action=operator.revoked")).toHaveLength(1);
  });
});

describe("GET /audit", () => {
  it("pages newest first with a cursor, filters by action, actor and time, and refuses bad filters with 400", async () => {
    const lab = await newLab();
    for (const lastFour of ["0301", "0302", "0303"]) {
      await labRequest(lab, operatorRequest("PUT", `/do-not-call/%2B1555888${lastFour}`));
    }
    const first = await labRequest(lab, operatorRequest("GET", "/audit?limit=2"));
    const firstPage = (await first.json()) as { events: AuditJson[]; next_cursor: string };
    expect(firstPage.events.map((event) => event.subject_id)).toEqual([
      "+15558880303",
      "+15558880302",
    ]);
    const second = await labRequest(
      lab,
      operatorRequest("GET", `/audit?limit=2&cursor=${firstPage.next_cursor}`),
    );
    const secondPage = (await second.json()) as { events: AuditJson[]; next_cursor: string | null };
    expect(secondPage.events.map((event) => event.subject_id)).toEqual(["+15558880301"]);
    expect(secondPage.next_cursor).toBeNull();

    expect(await auditOf(lab, "?action=campaign.created")).toEqual([]);
    expect(
      await auditOf(
        lab,
        `?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
      ),
    ).toEqual([]);
    for (const query of [
      "?action=campaign.exploded",
      "?actor_id=ana",
      "?since=yesterday",
      "?cursor=bogus",
      "?limit=0",
    ]) {
      const response = await labRequest(lab, operatorRequest("GET", `/audit${query}`));
      expect(response.status, query).toBe(400);
      expect((await readError(response)).error.code, query).toBe("invalid_request");
    }
    expect((await labRequest(lab, new Request(`${ORIGIN}/audit`))).status).toBe(401);
  });
});

describe("the audit table", () => {
  it("refuses UPDATE, DELETE and TRUNCATE in the database itself; only the retention purge deletes, and only rows older than its cutoff", async () => {
    const lab = await newLab();
    await labRequest(lab, operatorRequest("PUT", "/do-not-call/%2B15559990001"));
    await lab.sql`INSERT INTO audit_events (at, actor_kind, actor_name, action) VALUES (now() - interval '800 days', 'system', 'system', 'data.purged')`;
    await expect(lab.sql`UPDATE audit_events SET actor_name = 'someone else'`).rejects.toThrow(
      /append-only/,
    );
    await expect(lab.sql`DELETE FROM audit_events`).rejects.toThrow(/append-only/);
    await expect(lab.sql`TRUNCATE audit_events`).rejects.toThrow(/append-only/);
    // The purge's way: a cutoff for its own transaction; a row newer than it is still refused.
    await expect(
      lab.sql.transaction([
        lab.sql`SELECT set_config('driver_calls.audit_purge_before', ${new Date(Date.now() - 730 * 86_400_000).toISOString()}, true)`,
        lab.sql`DELETE FROM audit_events`,
      ]),
    ).rejects.toThrow(/append-only/);
    const [, deleted] = await lab.sql.transaction([
      lab.sql`SELECT set_config('driver_calls.audit_purge_before', ${new Date(Date.now() - 730 * 86_400_000).toISOString()}, true)`,
      lab.sql`DELETE FROM audit_events WHERE at < now() - interval '730 days' RETURNING action`,
    ]);
    expect(deleted).toEqual([{ action: "data.purged" }]);
    const left = (await lab.sql`SELECT action FROM audit_events`) as { action: string }[];
    expect(left).toEqual([{ action: "do_not_call.added" }]);
  });

  it("is written in the same transaction as the change: when the entry cannot be written, the change is not made", async () => {
    const lab = await newLab();
    const { json } = await createCampaign(lab, { time_zone: "UTC", drivers: [driver(1, "0100")] });
    const id = json.campaign.id;
    // Sabotage (this private database only): every new audit entry fails.
    await lab.sql`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`;
    await lab.sql`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()`;
    const cancelled = await labRequest(lab, operatorRequest("POST", `/campaigns/${id}/cancel`));
    expect(cancelled.status).toBeGreaterThanOrEqual(500);
    const added = await labRequest(lab, operatorRequest("PUT", "/do-not-call/%2B15559990002"));
    expect(added.status).toBeGreaterThanOrEqual(500);
    const [campaign] = (await lab.sql`SELECT status FROM campaigns WHERE id = ${id}`) as {
      status: string;
    }[];
    expect(campaign?.status).toBe("RUNNING");
    expect(await lab.sql`SELECT 1 FROM do_not_call WHERE phone_number = '+15559990002'`).toEqual(
      [],
    );
    const actions = (await lab.sql`SELECT action FROM audit_events`) as { action: string }[];
    expect(actions).toEqual([{ action: "campaign.created" }]);
  });
});

describe("console sessions", () => {
  it("signs in with an operator's token, never with API_TOKEN; each sign-in gets its own random session id", async () => {
    const lab = await newLab();
    const dee = await newOperator(lab, "Dee Park");
    const refused = await signIn(lab, testEnv.API_TOKEN);
    expect(refused.response.status).toBe(401);
    expect(refused.cookie).toBe("");
    expect(await refused.response.text()).toContain("That token is not valid.");

    const [one, two] = await Promise.all([signIn(lab, dee.token), signIn(lab, dee.token)]);
    for (const { response, cookie } of [one, two]) {
      expect(response.status).toBe(303);
      expect(response.headers.get("location")).toBe("/console");
      expect(cookie).toMatch(/^__Host-console=[A-Za-z0-9_-]{43}$/);
      expect(cookie).not.toContain(dee.token);
    }
    expect(one?.cookie).not.toBe(two?.cookie);
    const stored = (await lab.sql`SELECT id_hash FROM console_sessions`) as { id_hash: string }[];
    expect(stored).toHaveLength(2);
    for (const { id_hash } of stored) expect(one?.cookie).not.toContain(id_hash);

    const signedIn = (await auditOf(lab, "?action=operator.signed_in")).map(
      (event) => event.actor_name,
    );
    expect(signedIn).toEqual(["Dee Park", "Dee Park"]);
    const [failed] = await auditOf(lab, "?action=operator.sign_in_failed");
    expect(failed).toMatchObject({
      actor_kind: "system",
      detail: { reason: "unknown or revoked token" },
    });
  });

  it("ends the session on the server at sign-out: the same cookie is refused afterwards", async () => {
    const lab = await newLab();
    const eli = await newOperator(lab, "Eli Moss");
    const { cookie } = await signIn(lab, eli.token);
    expect((await labRequest(lab, page("/console", cookie))).status).toBe(200);
    const signOut = await labRequest(lab, form("/console/sign-out", {}, { cookie }));
    expect(signOut.status).toBe(303);
    expect(signOut.headers.get("set-cookie")).toMatch(/__Host-console=;/);
    const replayed = await labRequest(lab, page("/console", cookie));
    expect(replayed.status).toBe(303);
    expect(replayed.headers.get("location")).toBe("/console/sign-in");
    expect((await auditOf(lab, "?action=operator.signed_out"))[0]).toMatchObject({
      actor_id: eli.id,
      actor_name: "Eli Moss",
    });
  });

  it("ends every session of a revoked operator at once, and every session after 12 hours", async () => {
    const clock = movableClock(new Date("2026-12-07T08:00:00Z"));
    const lab = await newLab({ deps: { clock } });
    const fay = await newOperator(lab, "Fay Lund");
    const gus = await newOperator(lab, "Gus Holm");
    const fays = await signIn(lab, fay.token);
    const gus1 = await signIn(lab, gus.token);
    const gus2 = await signIn(lab, gus.token);
    await revokeOperator(labDatabase(lab), gus.id, SYSTEM_STAMP);
    for (const { cookie } of [gus1, gus2]) {
      expect((await labRequest(lab, page("/console/do-not-call", cookie))).status).toBe(303);
    }
    expect((await signIn(lab, gus.token)).response.status).toBe(401);
    const [revocation] = await auditOf(lab, "?action=operator.revoked");
    expect(revocation?.detail).toMatchObject({ sessions_ended: 2 });

    clock.advance(12 * 3_600_000 - 1_000);
    expect((await labRequest(lab, page("/console", fays.cookie))).status).toBe(200);
    clock.advance(2_000);
    expect((await labRequest(lab, page("/console", fays.cookie))).status).toBe(303);
  });

  it("forgets sessions a day past their end, in the daily cron", async () => {
    const clock = movableClock(new Date("2026-12-07T08:00:00Z"));
    const lab = await newLab({ deps: { clock } });
    const ivy = await newOperator(lab, "Ivy Chen");
    await signIn(lab, ivy.token);
    clock.advance(12 * 3_600_000 + 23 * 3_600_000);
    await fireCron(lab, RETENTION_CRON);
    expect(await lab.sql`SELECT 1 FROM console_sessions`).toHaveLength(1);
    clock.advance(2 * 3_600_000);
    await fireCron(lab, RETENTION_CRON);
    expect(await lab.sql`SELECT 1 FROM console_sessions`).toEqual([]);
  });

  it("lands on the page first asked for, but only a page of this console", async () => {
    const lab = await newLab();
    const hal = await newOperator(lab, "Hal Ives");
    const asked = await labRequest(lab, page("/console/do-not-call?cursor=abc"));
    expect(asked.status).toBe(303);
    const signInPath = asked.headers.get("location") ?? "";
    expect(signInPath).toBe(
      `/console/sign-in?next=${encodeURIComponent("/console/do-not-call?cursor=abc")}`,
    );
    const signInPage = await (await labRequest(lab, page(signInPath))).text();
    expect(signInPage).toContain('name="next" value="/console/do-not-call?cursor=abc"');
    const cases: [string, string][] = [
      ["/console/do-not-call?cursor=abc", "/console/do-not-call?cursor=abc"],
      ["/console/activity", "/console/activity"],
      ["https://evil.example/console", "/console"],
      ["//evil.example/console", "/console"],
      ["/console//evil.example", "/console"],
      ["/console/\\evil.example", "/console"],
      ["/consolex", "/console"],
      ["/console/sign-out", "/console"],
    ];
    for (const [next, landing] of cases) {
      const response = await labRequest(
        lab,
        form("/console/sign-in", { token: hal.token, next }, { "cf-connecting-ip": address() }),
      );
      expect(response.status, next).toBe(303);
      expect(response.headers.get("location"), next).toBe(landing);
    }
  });

  it("answers the 11th sign-in attempt from one address within a minute with 429 and when to try again; other addresses are not affected", async () => {
    const lab = await newLab();
    const ida = await newOperator(lab, "Ida Berg");
    // The local limiter counts in windows aligned to the minute: start early in one.
    const secondsIntoMinute = new Date().getUTCSeconds();
    if (secondsIntoMinute > 45) {
      await new Promise((resolve) => setTimeout(resolve, (61 - secondsIntoMinute) * 1000));
    }
    const ip = address();
    const statuses: number[] = [];
    for (let attempt = 1; attempt <= 11; attempt++) {
      statuses.push((await signIn(lab, `wrong-${attempt}`, ip)).response.status);
    }
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
    const limited = await signIn(lab, ida.token, ip);
    expect(limited.response.status).toBe(429);
    expect(limited.response.headers.get("retry-after")).toBe("60");
    expect(await limited.response.text()).toMatch(
      /Too many sign-in attempts from your address\. Try again in a minute \(after \d\d:\d\d UTC\)/,
    );
    expect(limited.cookie).toBe("");
    expect((await signIn(lab, ida.token)).response.status).toBe(303);
    const failed = await auditOf(lab, "?action=operator.sign_in_failed");
    expect(failed.filter((event) => event.ip === ip)).toHaveLength(10);
  }, 40_000);
});

describe("Cloudflare Access", () => {
  const AUDIENCE = "aud-console-test";

  async function accessSetup() {
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: "key-1", alg: "ES256", use: "sig" };
    const teamDomain = await accessKeySet([jwk]);
    const lab = await newLab();
    const env = { ...lab.env, ACCESS_TEAM_DOMAIN: teamDomain, ACCESS_AUD: AUDIENCE };
    const assertion = (
      claims: Record<string, unknown>,
      options: { expiresIn?: string; issuer?: string; audience?: string; key?: CryptoKey } = {},
    ) =>
      new SignJWT({ email: "jo.smith@fleet.example", ...claims })
        .setProtectedHeader({ alg: "ES256", kid: "key-1" })
        .setIssuer(options.issuer ?? teamDomain)
        .setAudience(options.audience ?? AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? "10m")
        .sign(options.key ?? privateKey);
    const request = (path: string, token?: string) =>
      labRequest(
        { ...lab, env },
        page(path, undefined, token ? { "cf-access-jwt-assertion": token } : {}),
      );
    return { lab, assertion, request };
  }

  it("lets a verified assertion in as the operator of its email (created on first sight), and refuses anything else with a 403 page", async () => {
    const { lab, assertion, request } = await accessSetup();
    const good = await assertion({});
    const first = await request("/console", good);
    expect(first.status).toBe(200);
    expect((await request("/console/do-not-call", good)).status).toBe(200);
    const operators = (await lab.sql`SELECT name, email, token_hash FROM operators`) as Record<
      string,
      unknown
    >[];
    expect(operators).toEqual([
      { name: "jo.smith", email: "jo.smith@fleet.example", token_hash: null },
    ]);
    expect((await auditOf(lab, "?action=operator.added"))[0]).toMatchObject({
      actor_name: "Cloudflare Access",
      detail: { email: "jo.smith@fleet.example", via: "cloudflare_access" },
    });
    // No form where Access signs people in.
    expect((await request("/console/sign-in", good)).status).toBe(303);

    const { privateKey: otherKey } = await generateKeyPair("ES256");
    const refusals: [string, string | undefined][] = [
      ["no assertion", undefined],
      ["another audience", await assertion({}, { audience: "someone-else" })],
      [
        "another issuer",
        await assertion({}, { issuer: "https://other-team.cloudflareaccess.com" }),
      ],
      ["expired", await assertion({}, { expiresIn: "-1m" })],
      ["another key", await assertion({}, { key: otherKey })],
      ["no email", await assertion({ email: undefined })],
      ["not a JWT", "not.a.jwt"],
    ];
    for (const [why, token] of refusals) {
      const response = await request("/console", token);
      expect(response.status, why).toBe(403);
      expect(await response.text(), why).toContain("Cloudflare Access");
    }
    await revokeOperator(labDatabase(lab), "jo.smith@fleet.example", SYSTEM_STAMP);
    expect((await request("/console", good)).status).toBe(403);
  });
});
