// One fixed-duration load run with autocannon's programmatic API. Each connection is one
// sender that waits for its answer before sending again (pipelining 1). Latencies are
// collected from every response, so p95 is exact (autocannon's own summary has no p95).
import autocannon, { type RequestSpec } from "autocannon";

export interface RequestParts {
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadOptions {
  url: string;
  connections: number;
  durationS: number;
  /** A fixed number of requests instead of a duration (durationS is then ignored). */
  amount?: number;
  /** The n-th request (from 0) of the given connection (from 0 to connections - 1). */
  request: (connection: number, n: number) => RequestParts;
}

export interface LoadResult {
  connections: number;
  durationS: number;
  /** Answers received. */
  completed: number;
  /** Requests sent, including those still in flight when the run ended. */
  sent: number;
  reqPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  statusCodes: Record<string, number>;
  /** Every answer's latency in ms, sorted. */
  latencies: number[];
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  let nextConnection = 0;
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationS,
    ...(options.amount === undefined ? {} : { amount: options.amount }),
    pipelining: 1,
    timeout: 10,
    // A closure per connection (setupClient runs once for each, before its first request),
    // so every request can be a new one and each sender keeps to its own calls.
    setupClient(client) {
      const connection = nextConnection++;
      let n = 0;
      client.setRequests([
        {
          setupRequest(request: RequestSpec): RequestSpec {
            const parts = options.request(connection, n++);
            return {
              ...request,
              method: parts.method,
              path: parts.path,
              headers: { ...request.headers, ...parts.headers },
              ...(parts.body === undefined ? {} : { body: parts.body }),
            };
          },
        },
      ]);
    },
  });
  instance.on("response", (_client, _status, _bytes, responseTimeMs) => {
    latencies.push(responseTimeMs);
  });
  const result = await instance;
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) {
    statusCodes[code] = count;
  }
  return summarise(options.connections, result.duration, result.requests.sent, latencies, {
    non2xx: result.non2xx,
    errors: result.errors,
    statusCodes,
  });
}

/** Several runs of the same load (slices of an interleaved measurement) as one. */
export function mergeLoadResults(results: LoadResult[]): LoadResult {
  const statusCodes: Record<string, number> = {};
  for (const result of results) {
    for (const [code, count] of Object.entries(result.statusCodes)) {
      statusCodes[code] = (statusCodes[code] ?? 0) + count;
    }
  }
  const sum = (pick: (result: LoadResult) => number) =>
    results.reduce((total, result) => total + pick(result), 0);
  return summarise(
    results[0]?.connections ?? 0,
    sum((result) => result.durationS),
    sum((result) => result.sent),
    results.flatMap((result) => result.latencies),
    { non2xx: sum((result) => result.non2xx), errors: sum((result) => result.errors), statusCodes },
  );
}

function summarise(
  connections: number,
  durationS: number,
  sent: number,
  latencies: number[],
  counts: Pick<LoadResult, "non2xx" | "errors" | "statusCodes">,
): LoadResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    connections,
    durationS,
    completed: sorted.length,
    sent,
    reqPerSec: sorted.length / durationS,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    ...counts,
    latencies: sorted,
  };
}

/** Nearest-rank percentile of sorted values; NaN when there are none. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}
