// Calling the Worker inside workerd, and steering the local Neon HTTP endpoint.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { neonConfig } from "@neondatabase/serverless";
import type { ControlRequest } from "../../scripts/lib/neon-http-endpoint";
import worker from "../../src/index";

export interface TestEnv {
  DATABASE_URL: string;
  NEON_HTTP_ENDPOINT: string;
  NEON_CONTROL_URL: string;
  API_TOKEN: string;
  TRANSCRIPTION_WEBHOOK_TOKEN: string;
  ELEVENLABS_WEBHOOK_SECRET: string;
  SIMULATOR_URL: string;
  LAB_URL: string;
  FAULT_DATABASE_URL: string;
  FAULT_CONTROL_URL: string;
  [key: string]: string | undefined;
}

export const testEnv = env as unknown as TestEnv;

/**
 * A fault scope: a `scope` parameter on the connection string, which the local Neon
 * endpoint uses to aim injected faults and to count statements for one test only, while
 * other test files run in parallel.
 */
export function newScope(): string {
  return `s${crypto.randomUUID().replaceAll("-", "")}`;
}

export function scopedDatabaseUrl(scope: string): string {
  const url = new URL(testEnv.DATABASE_URL);
  url.searchParams.set("scope", scope);
  return url.toString();
}

export interface CallOptions {
  scope?: string;
  env?: Partial<TestEnv>;
  /** A Worker built with other dependencies (createWorker({...})); the default export otherwise. */
  worker?: Pick<typeof worker, "fetch">;
}

/** Sends a request through the Worker's fetch handler, inside workerd. */
export async function callWorker(request: Request, options: CallOptions = {}): Promise<Response> {
  const bindings = {
    ...testEnv,
    ...(options.scope ? { DATABASE_URL: scopedDatabaseUrl(options.scope) } : {}),
    ...options.env,
  };
  const ctx = createExecutionContext();
  const target = options.worker ?? worker;
  const response = await target.fetch(
    request as Request<unknown, IncomingRequestCfProperties>,
    bindings,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  // The Worker sets the driver's (isolate-global) fetchEndpoint from its env; a test that
  // pointed it elsewhere must not leave the test's own SQL helper pointing there too.
  neonConfig.fetchEndpoint = testEnv.NEON_HTTP_ENDPOINT;
  return response;
}

export function jsonRequest(
  method: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Request {
  return new Request(`http://driver-calls.test${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export async function neonControl(request: ControlRequest): Promise<void> {
  const response = await fetch(testEnv.NEON_CONTROL_URL, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  });
  if (!response.ok) throw new Error(`neon control failed: ${response.status}`);
}

export async function statementsSent(scope: string): Promise<string[]> {
  const response = await fetch(`${testEnv.NEON_CONTROL_URL}/statements?scope=${scope}`);
  const body = (await response.json()) as { statements: { query: string }[] };
  return body.statements.map((statement) => statement.query);
}

export const UNREACHABLE_ENDPOINT = "http://127.0.0.1:9/sql";

export interface ErrorJson {
  error: { code: string; message: string; details?: unknown; request_id: string };
}

/** Asserts the contract's error shape and returns the body. */
export async function readError(response: Response): Promise<ErrorJson> {
  const body = (await response.json()) as ErrorJson;
  if (
    typeof body?.error?.code !== "string" ||
    typeof body.error.message !== "string" ||
    typeof body.error.request_id !== "string"
  ) {
    throw new Error(`not the contract's error shape: ${JSON.stringify(body)}`);
  }
  return body;
}
