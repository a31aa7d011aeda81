// Runs the local ElevenLabs simulator on its own:
//   npx node scripts/elevenlabs-simulator.ts --port 8788 --webhook-base-url http://127.0.0.1:8787 --latency-ms 0
// The webhook credentials come from .dev.vars (TRANSCRIPTION_WEBHOOK_TOKEN,
// ELEVENLABS_WEBHOOK_SECRET) so that the Worker under `wrangler dev` accepts what it posts.
// --max-live-calls caps the calls live at once like an ElevenLabs plan (over it, outbound-call
// answers 429 too_many_concurrent_requests); --call-seconds sets how long each accepted call
// plays, from acceptance to its final webhook. GET /simulator/stats shows live calls, refusals
// and dials per number. With --database-url it also records whether each Call row existed
// before the call was placed. Endings by number, control endpoints and shapes:
// scripts/lib/elevenlabs-simulator.ts. Ctrl-C stops it.
import { parseArgs } from "node:util";
import { readDevVars } from "./lib/dev-vars.ts";
import { postgresCallRowProbe, startElevenLabsSimulator } from "./lib/elevenlabs-simulator.ts";

const USAGE = `Usage: npx node scripts/elevenlabs-simulator.ts [options]
  --port <n>                 listen port (default 8788)
  --webhook-base-url <url>   the Worker (default http://127.0.0.1:$PORT or :8787)
  --latency-ms <n>           delay before answering outbound-call (default 0)
  --playback-delay-ms <n>    gap between played webhooks (default 300)
  --call-seconds <s>         how long an accepted call plays, acceptance to final
                             webhook; fractions allowed (default: the gaps above)
  --max-live-calls <n>       plan concurrency: calls live at once, over it 429
                             (default: unlimited)
  --api-key <key>            require this xi-api-key (default: accept any)
  --database-url <url>       probe the calls table when a call is placed
  --dev-vars <path>          where to read the webhook credentials (default .dev.vars)`;

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8788" },
    "webhook-base-url": { type: "string" },
    "latency-ms": { type: "string", default: "0" },
    "playback-delay-ms": { type: "string", default: "300" },
    "call-seconds": { type: "string" },
    "max-live-calls": { type: "string" },
    "api-key": { type: "string" },
    "database-url": { type: "string" },
    "dev-vars": { type: "string", default: ".dev.vars" },
    help: { type: "boolean", default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const devVars = readDevVars(values["dev-vars"]);
const callRowProbe = values["database-url"]
  ? postgresCallRowProbe(values["database-url"])
  : undefined;

const simulator = await startElevenLabsSimulator({
  port: nonNegativeInteger("port", values.port),
  webhookBaseUrl: values["webhook-base-url"] ?? `http://127.0.0.1:${process.env.PORT ?? "8787"}`,
  latencyMs: nonNegativeInteger("latency-ms", values["latency-ms"]),
  playbackDelayMs: nonNegativeInteger("playback-delay-ms", values["playback-delay-ms"]),
  ...(values["call-seconds"] === undefined
    ? {}
    : { callSeconds: nonNegativeNumber("call-seconds", values["call-seconds"]) }),
  ...(values["max-live-calls"] === undefined
    ? {}
    : { maxLiveCalls: nonNegativeInteger("max-live-calls", values["max-live-calls"]) }),
  ...(values["api-key"] ? { apiKey: values["api-key"] } : {}),
  transcriptionToken: devVars.TRANSCRIPTION_WEBHOOK_TOKEN || "dev-webhook-token",
  webhookSecret: devVars.ELEVENLABS_WEBHOOK_SECRET || "dev-webhook-secret",
  ...(callRowProbe ? { callRowProbe: callRowProbe.probe } : {}),
  log: (line) => console.log(line),
});
console.log(
  `[elevenlabs-sim] listening on ${simulator.url} (stats: ${simulator.url}/simulator/stats)`,
);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  await simulator.stop();
  await callRowProbe?.close();
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

function nonNegativeInteger(name: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) {
    console.error(
      `--${name} must be a non-negative integer, got ${JSON.stringify(value)}\n${USAGE}`,
    );
    process.exit(2);
  }
  return number;
}

function nonNegativeNumber(name: string, value: string): number {
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number) || number < 0) {
    console.error(
      `--${name} must be a non-negative number, got ${JSON.stringify(value)}\n${USAGE}`,
    );
    process.exit(2);
  }
  return number;
}
