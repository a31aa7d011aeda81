// No console route answers 500, whatever it is sent: a form body that cannot be read is a
// 400 page (and nothing is done), an id of the wrong shape in a path is a 404 page, and odd
// query strings are refused or ignored.
import { describe, expect, it } from "vitest";
import { type ConsoleClient, ORIGIN, signInToConsole, titleOf } from "../support/console";
import { type Lab, labRequest, newLab } from "../support/dispatch";

const SOME_CAMPAIGN = "0193a1c2-7f00-4c3e-9d7e-3a1f0c2b4d5e";

/** Every console route that takes a POST. */
const POST_ROUTES = [
  "/console/sign-in",
  "/console/sign-out",
  "/console/campaigns",
  "/console/campaigns/start",
  `/console/campaigns/${SOME_CAMPAIGN}/cancel`,
  "/console/do-not-call",
  "/console/do-not-call/remove",
];

/** Bodies that say they are a form and are not one. */
const BROKEN_BODIES: [string, string, BodyInit][] = [
  [
    "a multipart body cut off in the middle of a part",
    "multipart/form-data; boundary=----x",
    '------x\r\nContent-Disposition: form-data; name="name"\r\n\r\nWeek 48',
  ],
  [
    "a multipart body with a part that has no headers",
    "multipart/form-data; boundary=b",
    "--b\r\n\r\n\r\nno headers here\r\n--b--\r\n",
  ],
  ["multipart without a boundary", "multipart/form-data", "name=Week+48"],
  ["multipart with JSON in it", "multipart/form-data; boundary=zz", '{"name": "Week 48"}'],
  [
    "multipart with bytes that are not text",
    "multipart/form-data; boundary=q",
    new Uint8Array([0xff, 0xfe, 0x00, 0x2d, 0x2d, 0x71, 0x0d, 0x0a, 0xc3, 0x28]),
  ],
];

function send(lab: Lab, client: ConsoleClient, path: string, contentType: string, body: BodyInit) {
  return labRequest(
    lab,
    new Request(`${ORIGIN}${path}`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: client.cookie, origin: ORIGIN, "content-type": contentType },
      body,
    }),
  );
}

async function expectPage(response: Response, status: number, what: string) {
  expect(response.status, what).toBe(status);
  expect(response.headers.get("content-type"), what).toMatch(/^text\/html/);
  return titleOf(await response.text());
}

describe("a form body that cannot be read", () => {
  it("is a 400 page on every console POST route, and nothing is done", async () => {
    const lab = await newLab();
    const client = await signInToConsole(lab);
    for (const path of POST_ROUTES) {
      for (const [what, contentType, body] of BROKEN_BODIES) {
        const response = await send(lab, client, path, contentType, body);
        const title = await expectPage(response, 400, `${path}: ${what}`);
        expect(title).toBe("The form could not be read · driver-calls console");
      }
    }
    const rows = (await lab.sql.query(
      "SELECT (SELECT count(*) FROM campaigns)::int AS campaigns, (SELECT count(*) FROM do_not_call)::int AS numbers",
    )) as { campaigns: number; numbers: number }[];
    expect(rows[0]).toEqual({ campaigns: 0, numbers: 0 });
    // The session still works after all that.
    expect((await client.get("/console")).status).toBe(200);
  });

  it("a urlencoded body with bad escapes and bytes that are not UTF-8 is read leniently and refused by the form's own checks", async () => {
    const lab = await newLab();
    const client = await signInToConsole(lab);
    const body = new Uint8Array([
      ...new TextEncoder().encode("phone_number=%ZZ%2B1555&reason=%FF%FE"),
      0xc3,
      0x28,
    ]);
    const added = await send(
      lab,
      client,
      "/console/do-not-call",
      "application/x-www-form-urlencoded",
      body,
    );
    await expectPage(added, 422, "add with a broken number");
    const removed = await send(
      lab,
      client,
      "/console/do-not-call/remove",
      "application/x-www-form-urlencoded",
      new TextEncoder().encode("phone_number=%2B1555%00&reason=%E0%80"),
    );
    expect(removed.status).toBe(303);
  });
});

describe("an id of the wrong shape in a path", () => {
  const badIds = [
    "not-a-campaign",
    "%00",
    "a%00b",
    "%FF%FE",
    "%ED%A0%80",
    "%",
    "x".repeat(400),
    `${SOME_CAMPAIGN}%00`,
    SOME_CAMPAIGN.toUpperCase(),
  ];
  const pathsWithAnId = [
    (id: string) => `/console/campaigns/${id}`,
    (id: string) => `/console/campaigns/${id}/cancel`,
    (id: string) => `/console/campaigns/${id}/results.csv`,
    (id: string) => `/console/calls/${id}`,
    (id: string) => `/console/calls/EL_1042_1700000000${id}`,
  ];

  it("is a 404 page on every console GET route with a parameter", async () => {
    const lab = await newLab();
    const client = await signInToConsole(lab);
    for (const path of pathsWithAnId) {
      for (const id of badIds) {
        const response = await client.get(path(id));
        await expectPage(response, 404, path(id));
      }
    }
  });

  it("is a 404 page on cancel's POST too, and cancels nothing", async () => {
    const lab = await newLab();
    const client = await signInToConsole(lab);
    for (const id of badIds) {
      const response = await client.post(`/console/campaigns/${id}/cancel`, new URLSearchParams());
      await expectPage(response, 404, id);
    }
  });
});

describe("odd query strings", () => {
  it("are refused with a 4xx page or ignored, never a 500", async () => {
    const lab = await newLab();
    const client = await signInToConsole(lab);
    const paths = [
      "/console?cursor=%00",
      "/console?cursor=not-a-cursor",
      `/console/campaigns/${SOME_CAMPAIGN}?status=%00&page=-1&cursor=%ED%A0%80`,
      "/console/do-not-call?q=%00%FF&cursor=%00",
      "/console/do-not-call?q=(555)%20123&added=%00&removed=%2B1%00",
      "/console/do-not-call/remove?phone_number=%00",
      "/console/do-not-call/remove?phone_number=%2B15551230042",
      "/console/calls/EL_1_1?campaign=%00",
    ];
    for (const path of paths) {
      const response = await client.get(path);
      expect(response.status, path).toBeLessThan(500);
      if (response.status !== 303) {
        expect(response.headers.get("content-type"), path).toMatch(/^text\/html/);
      }
      await response.arrayBuffer();
    }
  });
});
