import { describe, expect, it } from "vitest";
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

  it("answers 413 payload_too_large for a body over 64 KiB", async () => {
    const response = await callWorker(
      jsonRequest("POST", postRoute, { message: "x".repeat(70 * 1024) }),
    );
    expect(response.status).toBe(413);
    expect((await readError(response)).error.code).toBe("payload_too_large");
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

  it("serves an interactive page for it", async () => {
    const response = await callWorker(get("/docs"));
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("/openapi.json");
  });
});
