// The ElevenLabs simulator (scripts/lib/elevenlabs-simulator.ts), seen from inside workerd.
import type { OutboundRecord, OutgoingWebhook } from "../../scripts/lib/elevenlabs-simulator";
import { type CallOptions, callWorker, testEnv } from "./worker";

async function simulator<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(`${testEnv.SIMULATOR_URL}${path}`, init);
  if (!response.ok) throw new Error(`simulator ${path}: ${response.status}`);
  return (await response.json()) as T;
}

export async function simulatorRecords() {
  return simulator<{ records: OutboundRecord[]; max_in_flight: number }>("/__sim/records");
}

export async function resetSimulator(latencyMs = 0) {
  await simulator("/__sim/reset", { method: "POST" });
  await simulator("/__sim/latency", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ms: latencyMs }),
  });
}

/** Waits until the simulator has played every call it accepted. */
export async function simulatorPlayed() {
  await simulator("/__sim/played");
}

export async function takeOutbox(callSid?: string): Promise<OutgoingWebhook[]> {
  const query = callSid ? `?call_sid=${encodeURIComponent(callSid)}` : "";
  const body = await simulator<{ webhooks: OutgoingWebhook[] } | OutgoingWebhook[]>(
    `/__sim/outbox${query}`,
  );
  return Array.isArray(body) ? body : body.webhooks;
}

/** Delivers what the simulator would have posted to the Worker, in order. */
export async function deliverWebhooks(webhooks: OutgoingWebhook[], options: CallOptions = {}) {
  const statuses: number[] = [];
  for (const webhook of webhooks) {
    const response = await callWorker(
      new Request(`http://driver-calls.test${new URL(webhook.url, "http://x").pathname}`, {
        method: "POST",
        headers: webhook.headers,
        body: webhook.body,
      }),
      options,
    );
    statuses.push(response.status);
    await response.arrayBuffer();
  }
  return statuses;
}
