import { describe, expect, it } from "vitest";
import { createWorker } from "../../src/index";
import {
  callWorker,
  jsonRequest,
  neonControl,
  newScope,
  readError,
  statementsSent,
  UNREACHABLE_ENDPOINT,
} from "../support/worker";

const get = (path: string) => new Request(`http://driver-calls.test${path}`);

describe("GET /health", () => {
  it("answers 200 with database ok after really querying the database", async () => {
    const scope = newScope();
    const response = await callWorker(get("/health"), { scope });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok", database: "ok" });
    expect(await statementsSent(scope)).toEqual(["SELECT 1"]);
  });

  it("answers 503 with the contract's JSON when the Neon endpoint is unreachable", async () => {
    const response = await callWorker(get("/health"), {
      env: { NEON_HTTP_ENDPOINT: UNREACHABLE_ENDPOINT },
    });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      status: "unavailable",
      database: "unavailable",
      error: { code: "database_unavailable" },
    });
  });

  it("answers 503 when Postgres behind the endpoint refuses connections", async () => {
    const url = new URL((await import("../support/worker")).testEnv.DATABASE_URL);
    url.port = "9";
    const response = await callWorker(get("/health"), { env: { DATABASE_URL: url.toString() } });
    expect(response.status).toBe(503);
  });

  it("retries a transient fault injected once and succeeds", async () => {
    const scope = newScope();
    await neonControl({ scope, fail: { mode: "http_503", count: 1 } });
    const response = await callWorker(get("/health"), { scope });
    expect(response.status).toBe(200);
    expect(await statementsSent(scope)).toEqual(["SELECT 1"]);
  });

  it("retries a dropped connection and succeeds", async () => {
    const scope = newScope();
    await neonControl({ scope, fail: { mode: "drop", count: 2 } });
    const response = await callWorker(get("/health"), { scope });
    expect(response.status).toBe(200);
  });

  it("sends one statement for any number of requests within 5 s, and the next one after", async () => {
    const scope = newScope();
    let now = Date.parse("2026-11-23T12:00:00Z");
    const worker = createWorker({ clock: { now: () => new Date(now) } });
    const health = async () => (await callWorker(get("/health"), { scope, worker })).status;
    for (let i = 0; i < 20; i++) expect(await health()).toBe(200);
    now += 4_999;
    expect(await health()).toBe(200);
    expect(await statementsSent(scope)).toEqual(["SELECT 1"]);
    now += 1;
    expect(await health()).toBe(200);
    expect(await statementsSent(scope)).toEqual(["SELECT 1", "SELECT 1"]);
  });

  it("caches an unavailable database for 5 s too: not hammered while it struggles", async () => {
    const scope = newScope();
    let now = Date.parse("2026-11-23T12:00:00Z");
    const worker = createWorker({ clock: { now: () => new Date(now) } });
    // Exactly one check's worth of failures (the first try and its two retries): any
    // request that checked again would reach the database and answer 200.
    await neonControl({ scope, fail: { mode: "http_503", count: 3 } });
    const health = () => callWorker(get("/health"), { scope, worker });
    for (let i = 0; i < 10; i++) {
      const response = await health();
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("5");
      expect(await response.json()).toMatchObject({ error: { code: "database_unavailable" } });
    }
    expect(await statementsSent(scope)).toEqual([]);
    now += 5_000;
    expect((await health()).status).toBe(200);
    expect(await statementsSent(scope)).toEqual(["SELECT 1"]);
  });

  it("gives up with 503 when every try fails", async () => {
    const scope = newScope();
    await neonControl({ scope, fail: { mode: "http_503", count: 10 } });
    const response = await callWorker(get("/health"), { scope });
    expect(response.status).toBe(503);
    await neonControl({ scope, reset: true });
  });
});

describe("errors", () => {
  it("answers an unknown route with a JSON 404 carrying a request id", async () => {
    const response = await callWorker(get("/nope"));
    expect(response.status).toBe(404);
    const body = await readError(response);
    expect(body.error.code).toBe("not_found");
    expect(body.error.request_id).toBe(response.headers.get("x-request-id"));
  });

  it("keeps a caller's well-formed X-Request-Id", async () => {
    const response = await callWorker(
      new Request("http://driver-calls.test/nope", { headers: { "x-request-id": "abc-123" } }),
    );
    expect((await readError(response)).error.request_id).toBe("abc-123");
  });

  const postRoute = "/webhooks/elevenlabs/transcription";

  it("answers 413 payload_too_large for a body over 64 KiB, stating the limit", async () => {
    const response = await callWorker(
      jsonRequest("POST", postRoute, { message: "x".repeat(70 * 1024) }),
    );
    expect(response.status).toBe(413);
    expect((await readError(response)).error).toMatchObject({
      code: "payload_too_large",
      message: "The request body is larger than 64 KiB, this route's limit.",
      details: { max_bytes: 64 * 1024 },
    });
  });

  it("lets POST /campaigns (its route comes with the campaigns work) take up to 5 MiB", async () => {
    const bearer = { authorization: "Bearer not-checked-before-the-size" };
    const underLimit = await callWorker(
      jsonRequest("POST", "/campaigns", { padding: "x".repeat(1024 * 1024) }, bearer),
    );
    // Whatever the route answers (404 before it exists, 401 for this token), not a 413.
    expect(underLimit.status).not.toBe(413);
    const overLimit = await callWorker(
      jsonRequest("POST", "/campaigns", { padding: "x".repeat(5 * 1024 * 1024) }, bearer),
    );
    expect(overLimit.status).toBe(413);
    expect((await readError(overLimit)).error).toMatchObject({
      message: "The request body is larger than 5 MiB, this route's limit.",
      details: { max_bytes: 5 * 1024 * 1024 },
    });
  });

  it("answers 413 for an oversized body sent without a content-length (streamed)", async () => {
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ >= 5) return controller.close();
        controller.enqueue(chunk);
      },
    });
    const response = await callWorker(
      new Request(`http://driver-calls.test${postRoute}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: stream,
      }),
    );
    expect(response.status).toBe(413);
    expect((await readError(response)).error.details).toEqual({ max_bytes: 64 * 1024 });
  });

  it("answers 415 unsupported_media_type for a form body", async () => {
    const response = await callWorker(
      new Request(`http://driver-calls.test${postRoute}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "call_sid=EL_1_1",
      }),
    );
    expect(response.status).toBe(415);
    expect((await readError(response)).error.code).toBe("unsupported_media_type");
  });

  it("answers 400 invalid_json for malformed JSON", async () => {
    const response = await callWorker(jsonRequest("POST", postRoute, '{"call_sid": '));
    expect(response.status).toBe(400);
    expect((await readError(response)).error.code).toBe("invalid_json");
  });
});

describe("API documentation", () => {
  it("serves an OpenAPI 3.1 document that lists the routes", async () => {
    const response = await callWorker(get("/openapi.json"));
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths)).toContain("/health");
    expect(Object.keys(document.paths)).toContain("/webhooks/elevenlabs/transcription");
  });

  it("states each route's body limit in the 413 description", async () => {
    const response = await callWorker(get("/openapi.json"));
    const document = (await response.json()) as {
      paths: Record<string, { post?: { responses: Record<string, { description: string }> } }>;
    };
    const description = (path: string) => document.paths[path]?.post?.responses["413"]?.description;
    const expected =
      "Body larger than the route's limit (details.max_bytes): 32 MiB for POST /webhooks/elevenlabs/post-call, 5 MiB for POST /campaigns, 64 KiB for every other route";
    expect(description("/webhooks/elevenlabs/post-call")).toBe(expected);
    expect(description("/webhooks/elevenlabs/transcription")).toBe(expected);
  });

  it("serves an interactive page for it", async () => {
    const response = await callWorker(get("/docs"));
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("/openapi.json");
  });
});
