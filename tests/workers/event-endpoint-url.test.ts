// Which URLs events may go to (src/events/endpoint-url.ts), as production checks them, and
// the one exception `npm run dev` and the tests have.
import { describe, expect, it } from "vitest";
import { checkEndpointUrl } from "../../src/events/endpoint-url";

const production = (url: string) => checkEndpointUrl(url, { allowLocal: false });

describe("event endpoint URLs", () => {
  it.each([
    "https://tms.fleet.example/hooks/driver-calls",
    "https://tms.fleet.example:8443/hooks?team=7",
    "https://8.8.8.8/hook",
    "https://[2606:4700:4700::1111]/hook",
    "https://172.32.0.1/hook",
    "https://100.128.0.1/hook",
  ])("accepts %s", (url) => {
    expect(production(url)).toEqual({ ok: true, url: new URL(url).href });
  });

  it.each([
    ["http://tms.fleet.example/hook", /https/],
    ["ftp://tms.fleet.example/hook", /https/],
    ["https://user:secret@tms.fleet.example/hook", /user name or password/],
    ["https://127.0.0.1/hook", /private, loopback/],
    ["https://127.8.9.10/hook", /private, loopback/],
    ["https://2130706433/hook", /private, loopback/], // 127.0.0.1 in decimal
    ["https://0x7f000001/hook", /private, loopback/], // in hex
    ["https://0177.0.0.1/hook", /private, loopback/], // in octal
    ["https://10.1.2.3/hook", /private/],
    ["https://172.16.0.1/hook", /private/],
    ["https://172.31.255.255/hook", /private/],
    ["https://192.168.0.10/hook", /private/],
    ["https://169.254.169.254/latest/meta-data", /link-local/],
    ["https://100.64.0.1/hook", /private/],
    ["https://0.0.0.0/hook", /private/],
    ["https://224.0.0.1/hook", /reserved/],
    ["https://255.255.255.255/hook", /reserved/],
    ["https://[::1]/hook", /loopback/],
    ["https://[::]/hook", /loopback/],
    ["https://[fe80::1]/hook", /link-local/],
    ["https://[fd12:3456::1]/hook", /private/],
    ["https://[::ffff:10.0.0.1]/hook", /private/],
    ["https://[::ffff:127.0.0.1]/hook", /loopback/],
    ["https://[64:ff9b::a9fe:a9fe]/hook", /link-local/], // NAT64 of 169.254.169.254
    ["https://localhost/hook", /public host/],
    ["https://api.localhost/hook", /public host/],
    ["https://printer.local/hook", /public host/],
    ["https://metadata.google.internal/hook", /public host/],
    ["https://intranet/hook", /public host/],
    ["not a url", /not a URL/],
    [`https://tms.fleet.example/${"a".repeat(2100)}`, /at most 2048/],
  ])("refuses %s", (url, reason) => {
    const verdict = production(url);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toMatch(reason);
  });

  it("lets npm run dev and the tests use 127.0.0.1 and localhost on any port, and nothing else private", () => {
    const local = (url: string) => checkEndpointUrl(url, { allowLocal: true });
    expect(local("http://127.0.0.1:9911/events").ok).toBe(true);
    expect(local("http://localhost:3000/").ok).toBe(true);
    expect(local("https://127.0.0.1/").ok).toBe(true);
    expect(local("http://10.0.0.1:9911/events").ok).toBe(false);
    expect(local("http://tms.fleet.example/").ok).toBe(false);
    expect(production("http://127.0.0.1:9911/events").ok).toBe(false);
  });
});
