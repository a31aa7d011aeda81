// The transport of `npm run bench:scale`: a `fetch` for the Neon driver
// (neonConfig.fetchFunction) that answers the driver's SQL-over-HTTP requests itself, as
// the local Neon HTTP endpoint (scripts/lib/neon-http-endpoint.ts) does, with two
// differences that the measurement needs:
//   - every statement of one measured call runs in ONE transaction on one connection, which
//     is rolled back at the end: the claim writes (targets to CALLING, calls, slots), and
//     every run must find the same state;
//   - each statement is first run under EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) with the
//     very text and parameters the driver sent (inside a savepoint rolled back at once),
//     then for real, so the service's function gets its rows and goes on as in production.
// The endpoint itself cannot do either: it commits each request (autocommit, a pool) and
// its statement log keeps the text without the parameters.
//
// The wire format is the endpoint's: values in Postgres text output, rows as arrays.
import pg from "pg";

export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Alias?: string;
  "Actual Loops"?: number;
  "Actual Rows"?: number;
  "Actual Total Time"?: number;
  "Rows Removed by Filter"?: number;
  "Shared Hit Blocks"?: number;
  "Shared Read Blocks"?: number;
  "Subplan Name"?: string;
  "Parent Relationship"?: string;
  "CTE Name"?: string;
  Plans?: PlanNode[];
  [key: string]: unknown;
}

export interface Explained {
  executionMs: number;
  planningMs: number;
  plan: PlanNode;
}

export interface CapturedStatement {
  query: string;
  params: unknown[];
  explained?: Explained;
  /** The real run's time as seen by the client (a local socket round trip included). */
  wallMs: number;
  error?: string;
}

interface QueryData {
  query: string;
  params?: unknown[];
}

const PG_ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "where",
  "schema",
  "table",
  "column",
  "constraint",
  "routine",
] as const;

// Every value as Postgres text output, as Neon sends it: the driver parses.
const rawTextTypes = { getTypeParser: () => (value: string) => value };

export class RollbackTransport {
  private readonly client: pg.Client;
  private captured: CapturedStatement[] | null = null;
  private explain = true;
  private rewrite: (query: string) => string = (query) => query;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(databaseUrl: string) {
    this.client = new pg.Client({
      connectionString: databaseUrl,
      options: "-c TimeZone=UTC",
      types: rawTextTypes,
    });
  }

  async open() {
    await this.client.connect();
  }

  async close() {
    await this.client.end();
  }

  /** How many statements the current session has sent so far. */
  get capturedCount(): number {
    return this.captured?.length ?? 0;
  }

  /** For direct statements of the bench itself (setup, hand-written variants). */
  get pg(): pg.Client {
    return this.client;
  }

  /**
   * Runs `work` (which calls the service's functions) in a transaction that is rolled back,
   * and returns what it returned and every statement it sent, explained.
   */
  async session<T>(
    work: () => Promise<T>,
    options: {
      explain?: boolean;
      rewrite?: (query: string) => string;
      /** Run first, inside the transaction (so undone with it): DDL of a variant, ... */
      setup?: string[];
    } = {},
  ): Promise<{ result: T; statements: CapturedStatement[] }> {
    if (this.captured) throw new Error("sessions do not nest");
    this.captured = [];
    this.explain = options.explain ?? true;
    this.rewrite = options.rewrite ?? ((query) => query);
    await this.client.query("BEGIN");
    try {
      for (const statement of options.setup ?? []) await this.client.query(statement);
      const result = await work();
      return { result, statements: this.captured };
    } finally {
      await this.client.query("ROLLBACK");
      this.captured = null;
    }
  }

  /** neonConfig.fetchFunction. */
  readonly fetch = async (_url: unknown, init: { body?: unknown } = {}): Promise<Response> => {
    const run = this.chain.then(() => this.answer(String(init.body ?? "")));
    this.chain = run.catch(() => undefined);
    return run;
  };

  private async answer(body: string): Promise<Response> {
    if (!this.captured) {
      return json(500, { message: "bench:scale: a statement outside a measured session" });
    }
    const payload = JSON.parse(body) as {
      query?: string;
      params?: unknown[];
      queries?: QueryData[];
    };
    try {
      if (Array.isArray(payload.queries)) {
        const results = [];
        for (const query of payload.queries) results.push(await this.run(query));
        return json(200, { results });
      }
      if (typeof payload.query === "string") {
        return json(200, await this.run({ query: payload.query, params: payload.params ?? [] }));
      }
      return json(400, { message: "expected `query` or `queries`" });
    } catch (error) {
      if (error instanceof pg.DatabaseError) {
        const fields: Record<string, unknown> = { message: error.message };
        for (const field of PG_ERROR_FIELDS) fields[field] = error[field];
        return json(400, fields);
      }
      return json(503, { message: `bench:scale transport: ${String(error)}` });
    }
  }

  private async run(data: QueryData) {
    const query = this.rewrite(data.query);
    const params = data.params ?? [];
    const entry: CapturedStatement = { query, params, wallMs: 0 };
    this.captured?.push(entry);
    if (this.explain) entry.explained = await this.explainOnce(query, params);
    await this.client.query("SAVEPOINT bench_statement");
    const started = performance.now();
    try {
      const result = await this.client.query({ text: query, values: params, rowMode: "array" });
      entry.wallMs = performance.now() - started;
      await this.client.query("RELEASE SAVEPOINT bench_statement");
      return toNeonResult(result);
    } catch (error) {
      entry.wallMs = performance.now() - started;
      entry.error = error instanceof Error ? error.message : String(error);
      await this.client.query("ROLLBACK TO SAVEPOINT bench_statement");
      throw error;
    }
  }

  /** EXPLAIN ANALYZE of the statement, its effects undone at once. */
  async explainOnce(query: string, params: unknown[]): Promise<Explained> {
    await this.client.query("SAVEPOINT bench_explain");
    try {
      const result = await this.client.query({
        text: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${query}`,
        values: params,
      });
      const text = String(Object.values(result.rows[0] ?? {})[0] ?? "[]");
      const [top] = JSON.parse(text) as {
        Plan: PlanNode;
        "Execution Time": number;
        "Planning Time": number;
      }[];
      if (!top) throw new Error("EXPLAIN returned nothing");
      return {
        executionMs: top["Execution Time"],
        planningMs: top["Planning Time"],
        plan: top.Plan,
      };
    } finally {
      await this.client.query("ROLLBACK TO SAVEPOINT bench_explain");
    }
  }
}

function toNeonResult(result: pg.QueryResult) {
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

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** Every scan of a table in the plan: "Index Scan idx_x on t ×loops", "Seq Scan on t". */
export function scansOf(plan: PlanNode): string[] {
  const scans = new Map<string, { loops: number; rows: number; removed: number }>();
  const walk = (node: PlanNode) => {
    if (node["Relation Name"]) {
      const index = node["Index Name"] ? ` ${node["Index Name"]}` : "";
      const key = `${node["Node Type"]}${index} on ${node["Relation Name"]}`;
      const seen = scans.get(key) ?? { loops: 0, rows: 0, removed: 0 };
      const loops = node["Actual Loops"] ?? 1;
      seen.loops += loops;
      seen.rows += (node["Actual Rows"] ?? 0) * loops;
      seen.removed += (node["Rows Removed by Filter"] ?? 0) * loops;
      scans.set(key, seen);
    }
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(plan);
  return [...scans.entries()]
    .filter(([key]) => !key.startsWith("ModifyTable"))
    .map(([key, { loops, rows, removed }]) => {
      const extra = [
        loops > 1 ? `×${loops}` : "",
        removed > 0 ? `${formatCount(removed)} filtered` : "",
        `${formatCount(rows)} rows`,
      ].filter(Boolean);
      return `${key} (${extra.join(", ")})`;
    });
}

function formatCount(value: number): string {
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(1)}M`;
  if (value >= 10_000) return `${Math.round(value / 1000)}k`;
  return String(Math.round(value));
}

/** The plan as indented text lines (node, relation, index, loops, rows, time). */
export function planText(plan: PlanNode, maxLines = 80): string[] {
  const lines: string[] = [];
  const walk = (node: PlanNode, depth: number) => {
    if (lines.length >= maxLines) return;
    const parts = [node["Node Type"]];
    if (node["Index Name"]) parts.push(`using ${node["Index Name"]}`);
    if (node["Relation Name"]) parts.push(`on ${node["Relation Name"]} ${node.Alias ?? ""}`.trim());
    if (node["CTE Name"]) parts.push(`CTE ${node["CTE Name"]}`);
    if (node["Subplan Name"]) parts.push(`[${node["Subplan Name"]}]`);
    const stats = [
      `time=${(node["Actual Total Time"] ?? 0).toFixed(3)}`,
      `rows=${node["Actual Rows"] ?? 0}`,
      `loops=${node["Actual Loops"] ?? 1}`,
    ];
    if (node["Rows Removed by Filter"]) stats.push(`removed=${node["Rows Removed by Filter"]}`);
    const detail = ["Index Cond", "Filter", "Sort Key", "Join Filter", "Hash Cond", "Recheck Cond"]
      .filter((key) => node[key] !== undefined)
      .map((key) => `${key}: ${JSON.stringify(node[key])}`);
    lines.push(`${"  ".repeat(depth)}-> ${parts.join(" ")} (${stats.join(" ")})`);
    for (const line of detail) lines.push(`${"  ".repeat(depth)}     ${line}`);
    for (const child of node.Plans ?? []) walk(child, depth + 1);
  };
  walk(plan, 0);
  return lines;
}
