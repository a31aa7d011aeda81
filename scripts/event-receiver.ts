// `npm run events:receive -- [--port 9911] [--secret whsec_...]`: a small local receiver
// for the service's events, to watch them arrive under `npm run dev`. It prints each event
// (type, webhook-id, data) and checks its signature with the `standardwebhooks` library
// when it knows the endpoint's secret (--secret, or EVENTS_SECRET in the environment).
// It answers 204 to what it accepts and 401 to a signature that does not verify, so the
// service's retries and its delivery log can be seen too. A receiver should also ignore a
// webhook-id it has already seen (deliveries are at least once): this one says so.
//
//   npm run events:receive                       # listens on http://127.0.0.1:9911
//   curl -s -X POST http://127.0.0.1:8787/event-endpoints \
//     -H 'authorization: Bearer dev-api-token' -H 'content-type: application/json' \
//     -d '{"url": "http://127.0.0.1:9911/events", "events": ["call.completed", "call.failed", "campaign.completed", "driver.opted_out"]}'
//   # then restart it with the secret from the answer to verify signatures:
//   npm run events:receive -- --secret whsec_...
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Webhook } from "standardwebhooks";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.EVENTS_PORT ?? "9911" },
    secret: { type: "string", default: process.env.EVENTS_SECRET },
  },
});
const port = Number(values.port);
const webhook = values.secret ? new Webhook(values.secret) : null;
const seen = new Set<string>();

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const id = String(request.headers["webhook-id"] ?? "");
    let verdict = "signature not checked (start with --secret whsec_... to check it)";
    if (webhook) {
      try {
        webhook.verify(body, request.headers as Record<string, string>);
        verdict = "signature verified";
      } catch (error) {
        console.log(
          `✗ ${id}: signature does not verify (${(error as Error).message}): answered 401`,
        );
        response.writeHead(401).end();
        return;
      }
    }
    let event: { type?: string; timestamp?: string; data?: unknown } = {};
    try {
      event = JSON.parse(body);
    } catch {
      // Printed as it came.
    }
    const again = seen.has(id) ? " (seen before: a retry or a resend; a receiver ignores it)" : "";
    seen.add(id);
    console.log(`✓ ${event.type ?? "?"} ${id} at ${event.timestamp ?? "?"}: ${verdict}${again}`);
    console.log(`  ${JSON.stringify(event.data ?? body)}`);
    response.writeHead(204).end();
  });
});

server.listen(port, "127.0.0.1", () => {
  console.log(`Listening for events on http://127.0.0.1:${port}/ (Ctrl-C to stop)`);
});
process.on("SIGINT", () => server.close(() => process.exit(0)));
