// `npm run bench:events`: 10,000 events to a local receiver, through the production bundle
// under wrangler dev with its local events queue, against Postgres through the local Neon
// endpoint. The changes are real: 100 batches of 100 drivers whose numbers are on the
// do-not-call list, each driver a call written FAILED (`call.failed`) by the batch's one
// statement, which also writes its events (the outbox triggers); the batch route then
// nudges the events queue. The receiver answers 500 to the first delivery of one event in
// a hundred (retried after 5 s) and 204 to everything else, and notes when each arrived.
//
// Prints: delivered per second (first commit to last arrival), p50 / p99 / max time from
// the change's commit (the event row's clock_timestamp(), same machine) to the receiver,
// events lost (never received), duplicates beyond the retries the receiver asked for.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { BENCH_API_TOKEN, startBenchStack } from "./bench/stack.ts";

const EVENTS = 10_000;
const PER_BATCH = 100;
const REFUSE_ONE_IN = 100;
const log = (line: string) => console.log(`[bench:events] ${line}`);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function main() {
  const arrivals = new Map<string, number[]>();
  let refusals = 0;
  const receiver = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      const id = String(request.headers["webhook-id"]);
      const seen = arrivals.get(id) ?? [];
      seen.push(Date.now());
      arrivals.set(id, seen);
      // One event in a hundred (by its id) is refused once: the sender must retry it.
      const refuse = seen.length === 1 && Number.parseInt(id.slice(-4), 16) % REFUSE_ONE_IN === 0;
      if (refuse) refusals += 1;
      response.writeHead(refuse ? 500 : 204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;

  const stack = await startBenchStack({
    name: "events",
    vars: { ALLOW_LOCAL_EVENT_ENDPOINTS: "true" },
  });
  const client = new pg.Client({ connectionString: stack.databaseUrl });
  await client.connect();
  try {
    const origin = stack.worker.url;
    const api = { authorization: `Bearer ${BENCH_API_TOKEN}`, "content-type": "application/json" };
    const number = (i: number) => `+1555${String(i).padStart(7, "0")}`;
    await client.query(
      `INSERT INTO do_not_call (phone_number, reason)
       SELECT '+1555' || lpad(i::text, 7, '0'), 'bench' FROM generate_series(1, $1) AS i`,
      [EVENTS],
    );
    const registered = await fetch(`${origin}/event-endpoints`, {
      method: "POST",
      headers: api,
      body: JSON.stringify({ url: receiverUrl, events: ["call.failed"] }),
    });
    if (registered.status !== 201) throw new Error(`register: ${registered.status}`);
    log(
      `Worker on ${origin}, receiver on ${receiverUrl}; ${EVENTS} events in batches of ${PER_BATCH}`,
    );

    const started = Date.now();
    for (let batch = 0; batch < EVENTS / PER_BATCH; batch++) {
      const drivers = Array.from({ length: PER_BATCH }, (_, j) => {
        const i = batch * PER_BATCH + j + 1;
        return {
          driver_id: i,
          phone_number: number(i),
          driver_name: `Driver ${i}`,
          violations: [
            { code: "HOS_11H", description: "11-hour limit", occurred_at: "2026-11-20T14:05:00Z" },
          ],
        };
      });
      const response = await fetch(`${origin}/calls/batch`, {
        method: "POST",
        headers: api,
        body: JSON.stringify({ drivers }),
      });
      if (response.status !== 200) throw new Error(`batch ${batch}: ${response.status}`);
      await response.arrayBuffer();
    }
    log(`changes committed in ${Date.now() - started} ms; waiting for the receiver`);

    const deadline = Date.now() + 5 * 60_000;
    // Until every event arrived and every refused one came back (its retry is due 5 s later).
    const settled = () => {
      if (arrivals.size < EVENTS) return false;
      let retried = 0;
      for (const times of arrivals.values()) if (times.length > 1) retried += 1;
      return retried >= refusals;
    };
    while (!settled() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // anything sent twice shows now

    const { rows } = await client.query<{ id: string; committed: string }>(
      "SELECT id, (extract(epoch FROM created_at) * 1000)::float8::text AS committed FROM events WHERE driver_id <= $1",
      [EVENTS],
    );
    const latencies: number[] = [];
    let lost = 0;
    let firstCommit = Number.POSITIVE_INFINITY;
    let lastArrival = 0;
    for (const row of rows) {
      const committed = Number(row.committed);
      firstCommit = Math.min(firstCommit, committed);
      const times = arrivals.get(row.id);
      if (!times) {
        lost += 1;
        continue;
      }
      // Delivered is the last arrival (the one answered 2xx).
      const delivered = times.at(-1) as number;
      lastArrival = Math.max(lastArrival, delivered);
      if (!(Number.parseInt(row.id.slice(-4), 16) % REFUSE_ONE_IN === 0))
        latencies.push(delivered - committed);
    }
    const burstReceived = arrivals.size;
    const burstRequests = [...arrivals.values()].reduce((sum, times) => sum + times.length, 0);
    // Then one change at a time, the queue idle: the latency of an event on its own.
    const single: number[] = [];
    for (let k = 1; k <= 20; k++) {
      const i = EVENTS + k;
      await client.query("INSERT INTO do_not_call (phone_number, reason) VALUES ($1, 'bench')", [
        number(i),
      ]);
      const before = arrivals.size;
      const response = await fetch(`${origin}/calls/batch`, {
        method: "POST",
        headers: api,
        body: JSON.stringify({
          drivers: [
            {
              driver_id: i,
              phone_number: number(i),
              driver_name: `Driver ${i}`,
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
      await response.arrayBuffer();
      const until = Date.now() + 10_000;
      while (arrivals.size === before && Date.now() < until)
        await new Promise((resolve) => setTimeout(resolve, 5));
      const [latest] = (
        await client.query<{ id: string; committed: string }>(
          "SELECT id, (extract(epoch FROM created_at) * 1000)::float8::text AS committed FROM events WHERE driver_id = $1",
          [i],
        )
      ).rows;
      const arrived = latest ? arrivals.get(latest.id)?.[0] : undefined;
      if (latest && arrived) single.push(arrived - Number(latest.committed));
    }
    single.sort((a, b) => a - b);
    log(
      `one event at a time, the queue idle (n=${single.length}): p50 ${percentile(single, 50).toFixed(0)} ms, max ${single.at(-1)?.toFixed(0)} ms from commit to receiver`,
    );

    const requests = burstRequests;
    const duplicates = requests - burstReceived - refusals;
    latencies.sort((a, b) => a - b);
    const seconds = (lastArrival - firstCommit) / 1000;
    log(`events written: ${rows.length}; received: ${burstReceived}; requests: ${requests}`);
    log(
      `delivered per second: ${(burstReceived / seconds).toFixed(0)} (${burstReceived} in ${seconds.toFixed(1)} s, first commit to last arrival)`,
    );
    log(
      `commit -> receiver (events answered at once, n=${latencies.length}): p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms, max ${latencies.at(-1)?.toFixed(0)} ms`,
    );
    log(`refused once by the receiver (and retried after 5 s): ${refusals}`);
    log(`lost: ${lost}; duplicates beyond the retries the receiver asked for: ${duplicates}`);
    if (lost > 0 || duplicates > 0 || rows.length !== EVENTS) process.exitCode = 1;
  } finally {
    await client.end();
    receiver.close();
    await stack.stop();
  }
}

await main();
