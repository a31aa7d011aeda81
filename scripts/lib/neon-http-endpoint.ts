// The local Neon HTTP endpoint: a small Node server on a `pg` Pool that speaks the
// SQL-over-HTTP protocol of `@neondatabase/serverless` (HTTP mode), so the Worker runs the
// real Neon driver against the embedded Postgres in dev, tests and benches. Production
// never uses it: there `neonConfig.fetchEndpoint` stays unset and the driver talks to Neon.
//
// Protocol (read from the driver's own code):
//   POST /sql  {"query", "params"} or {"queries": [{query, params}, ...]} (a batch runs as
//   one transaction; Neon-Batch-Isolation-Level / -Read-Only / -Deferrable headers);
//   the connection string comes in the Neon-Connection-String header.
//   200: {command, rowCount, rows: [[text, ...]], fields: [...], rowAsArray: true}
//        (values in Postgres text output; the driver parses them by dataTypeID).
//   400: a Postgres error as JSON (message, code, detail, constraint, ...): the driver
//        throws NeonDbError with those fields. Anything else is "Server error (HTTP status N)".
//
// Fault injection for tests and benches (POST /__control): a delay per request (the
// simulated Worker-to-Neon distance) and failures of the next N requests, scoped by the
// `scope` parameter of the connection string so that parallel test files don't collide.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";

export type FaultMode =
  /** Answer HTTP 503 without running the statement. */
  | "http_503"
  /** Close the connection without running the statement (the driver's fetch fails). */
  | "drop"
  /** Run (and commit) the statement, then close the connection: the answer is lost. */
  | "drop_after_commit";

export interface FaultRule {
  scope: string;
  mode: FaultMode;
  remaining: number;
}

export interface ControlRequest {
  scope?: string;
  delayMs?: number;
  fail?: { mode: FaultMode; count: number };
  /** Fail each request with this probability (0..1) until reset. */
  randomFailureRate?: number;
  reset?: boolean;
}

export interface StatementLogEntry {
  query: string;
  at: number;
}

export interface NeonHttpEndpoint {
  url: string;
  port: number;
  control(request: ControlRequest): void;
  statements(scope: string): StatementLogEntry[];
  stop(): Promise<void>;
}

const ANY_SCOPE = "*";
const PG_ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;

const ISOLATION_LEVELS: Record<string, string> = {
  ReadUncommitted: "READ UNCOMMITTED",
  ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ",
  Serializable: "SERIALIZABLE",
};

interface QueryData {
  query: string;
  params?: unknown[];
}

// Every value comes back as Postgres text output, as Neon sends it: the driver parses.
const rawTextTypes = { getTypeParser: () => (value: string) => value };

export async function startNeonHttpEndpoint(options: {
  port?: number;
  log?: (line: string) => void;
}): Promise<NeonHttpEndpoint> {
  const pools = new Map<string, pg.Pool>();
  const faults: FaultRule[] = [];
  const delays = new Map<string, number>();
  const randomFailureRates = new Map<string, number>();
  const statementLog = new Map<string, StatementLogEntry[]>();
  /** Set by stop(): from then on, connections ending under the pool are expected. */
  let stopping = false;

  function poolFor(connectionString: string): pg.Pool {
    let pool = pools.get(connectionString);
    if (!pool) {
      pool = new pg.Pool({
        connectionString,
        max: 20,
        // Neon runs sessions in UTC; timestamptz text output depends on it.
        options: "-c TimeZone=UTC",
        types: rawTextTypes,
      });
      // An idle client losing its connection (Postgres restarted) must not crash the server;
      // it is worth a line, unless the endpoint is stopping (Postgres may be going too).
      pool.on("error", (error) => {
        if (!stopping) options.log?.(`[neon-http] idle client error: ${error.message}`);
      });
      pools.set(connectionString, pool);
    }
    return pool;
  }

  function takeFault(scope: string): FaultMode | undefined {
    const rate = randomFailureRates.get(scope) ?? randomFailureRates.get(ANY_SCOPE) ?? 0;
    if (rate > 0 && Math.random() < rate) return Math.random() < 0.5 ? "http_503" : "drop";
    const rule = faults.find(
      (candidate) =>
        candidate.remaining > 0 && (candidate.scope === scope || candidate.scope === ANY_SCOPE),
    );
    if (!rule) return undefined;
    rule.remaining -= 1;
    return rule.mode;
  }

  function control(request: ControlRequest): void {
    const scope = request.scope ?? ANY_SCOPE;
    if (request.reset) {
      for (let i = faults.length - 1; i >= 0; i--) {
        if (faults[i]?.scope === scope) faults.splice(i, 1);
      }
      delays.delete(scope);
      randomFailureRates.delete(scope);
      statementLog.delete(scope);
    }
    if (request.delayMs !== undefined) delays.set(scope, request.delayMs);
    if (request.randomFailureRate !== undefined) {
      randomFailureRates.set(scope, request.randomFailureRate);
    }
    if (request.fail) {
      faults.push({ scope, mode: request.fail.mode, remaining: request.fail.count });
    }
  }

  async function handleSql(request: IncomingMessage, response: ServerResponse, body: string) {
    const rawConnectionString = header(request, "neon-connection-string");
    if (!rawConnectionString) {
      return sendJson(response, 400, { message: "missing Neon-Connection-String header" });
    }
    const { connectionString, scope } = splitScope(rawConnectionString);
    const delayMs = delays.get(scope) ?? delays.get(ANY_SCOPE) ?? 0;
    if (delayMs > 0) await sleep(delayMs);

    const fault = takeFault(scope);
    if (fault === "http_503") {
      return sendJson(response, 503, { message: "injected fault: endpoint unavailable" });
    }
    if (fault === "drop") return request.socket.destroy();

    let payload: { query?: string; params?: unknown[]; queries?: QueryData[] };
    try {
      payload = JSON.parse(body);
    } catch {
      return sendJson(response, 400, { message: "request body is not JSON" });
    }
    const log = statementLog.get(scope) ?? [];
    statementLog.set(scope, log);

    try {
      const pool = poolFor(connectionString);
      let result: unknown;
      if (Array.isArray(payload.queries)) {
        for (const query of payload.queries) log.push({ query: query.query, at: Date.now() });
        result = { results: await runBatch(pool, payload.queries, request) };
      } else if (typeof payload.query === "string") {
        log.push({ query: payload.query, at: Date.now() });
        result = toNeonResult(
          await pool.query({ text: payload.query, values: payload.params ?? [], rowMode: "array" }),
        );
      } else {
        return sendJson(response, 400, { message: "expected `query` or `queries`" });
      }
      if (fault === "drop_after_commit") return request.socket.destroy();
      sendJson(response, 200, result);
    } catch (error) {
      if (fault === "drop_after_commit") return request.socket.destroy();
      sendPostgresError(response, error);
    }
  }

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const url = new URL(request.url ?? "/", "http://localhost");
      const work = async () => {
        if (request.method === "POST" && url.pathname === "/sql") {
          return handleSql(request, response, body);
        }
        if (request.method === "POST" && url.pathname === "/__control") {
          control(JSON.parse(body) as ControlRequest);
          return sendJson(response, 200, { ok: true });
        }
        if (request.method === "GET" && url.pathname === "/__control/statements") {
          return sendJson(response, 200, {
            statements: statementLog.get(url.searchParams.get("scope") ?? ANY_SCOPE) ?? [],
          });
        }
        sendJson(response, 404, { message: "not found" });
      };
      work().catch((error: unknown) => {
        options.log?.(`[neon-http] unexpected error: ${String(error)}`);
        if (!response.headersSent) sendJson(response, 500, { message: "internal error" });
      });
    });
  });
  // Keep-alive between the Worker's fetches and this server, as a real HTTP proxy does.
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/sql`,
    port,
    control,
    statements: (scope) => statementLog.get(scope) ?? [],
    async stop() {
      stopping = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...pools.values()].map((pool) => pool.end()));
    },
  };
}

async function runBatch(pool: pg.Pool, queries: QueryData[], request: IncomingMessage) {
  const client = await pool.connect();
  let broken = false;
  try {
    const isolation = ISOLATION_LEVELS[header(request, "neon-batch-isolation-level") ?? ""];
    const readOnly = header(request, "neon-batch-read-only") === "true";
    const deferrable = header(request, "neon-batch-deferrable") === "true";
    await client.query(
      `BEGIN${isolation ? ` ISOLATION LEVEL ${isolation}` : ""}${readOnly ? " READ ONLY" : ""}${
        deferrable ? " DEFERRABLE" : ""
      }`,
    );
    try {
      const results = [];
      for (const query of queries) {
        results.push(
          toNeonResult(
            await client.query({ text: query.query, values: query.params ?? [], rowMode: "array" }),
          ),
        );
      }
      await client.query("COMMIT");
      return results;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw error;
    }
  } catch (error) {
    broken = broken || !(error instanceof pg.DatabaseError);
    throw error;
  } finally {
    client.release(broken);
  }
}

function toNeonResult(result: pg.QueryResult | pg.QueryResult[]) {
  if (Array.isArray(result)) {
    // pg ran several statements through the simple protocol; Neon always uses the extended
    // protocol, which refuses this. Answer as Postgres would there.
    throw Object.assign(
      new pg.DatabaseError("cannot insert multiple commands into a prepared statement", 0, "error"),
      {
        code: "42601",
        severity: "ERROR",
      },
    );
  }
  return {
    command: result.command,
    rowCount: result.rowCount,
    rows: result.rows,
    fields: result.fields.map((field) => ({
      name: field.name,
      dataTypeID: field.dataTypeID,
      tableID: field.tableID,
      columnID: field.columnID,
      dataTypeSize: field.dataTypeSize,
      dataTypeModifier: field.dataTypeModifier,
      format: field.format,
    })),
    rowAsArray: true,
  };
}

function sendPostgresError(response: ServerResponse, error: unknown) {
  if (error instanceof pg.DatabaseError) {
    const body: Record<string, unknown> = { message: error.message };
    for (const field of PG_ERROR_FIELDS) body[field] = error[field];
    return sendJson(response, 400, body);
  }
  // Postgres unreachable (connection refused, terminated): Neon answers with a 5xx here.
  const message = error instanceof Error ? error.message : String(error);
  sendJson(response, 503, { message: `database unreachable: ${message}` });
}

function splitScope(connectionString: string): { connectionString: string; scope: string } {
  const url = new URL(connectionString);
  const scope = url.searchParams.get("scope") ?? ANY_SCOPE;
  url.searchParams.delete("scope");
  // The driver adds application_name; pg passes unknown params on, Postgres accepts this one.
  return { connectionString: url.toString(), scope };
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sendJson(response: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  response.end(text);
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
