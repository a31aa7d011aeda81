// Events to the fleet's own systems: signed deliveries to a real receiver (a Node HTTP
// server of the lab), at least once, on the retry schedule, with the delivery log, resend,
// secret rotation, disabling, and the outbox's promise that an event exists if and only if
// its change committed. The queue's consumer is run by the test (consumeEvents), as the
// test pool has no queue of its own (wrangler.toml [env.test]).
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { DELIVERY_TIMEOUT_MS, RETRY_SCHEDULE_SECONDS } from "../../src/events/deliver";
import {
  consumeEvents,
  createCampaign,
  driver,
  type Lab,
  labRequest,
  movableClock,
  newLab,
  operatorRequest,
  playUntilFinished,
} from "../support/dispatch";
import { eventReceiver, type ReceivedDelivery } from "../support/lab";
import { readError } from "../support/worker";

interface EndpointJson {
  id: string;
  url: string;
  events: string[];
  secret: string;
  disabled_at: string | null;
}

interface EventBody {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

const ALL_TYPES = ["call.completed", "call.failed", "campaign.completed", "driver.opted_out"];

async function registerEndpoint(lab: Lab, url: string, events = ALL_TYPES): Promise<EndpointJson> {
  const response = await labRequest(
    lab,
    operatorRequest("POST", "/event-endpoints", { url, events }),
  );
  expect(response.status).toBe(201);
  return (await response.json()) as EndpointJson;
}

/** Verifies with the standardwebhooks library, as a fleet's receiver would. */
function verified(delivery: ReceivedDelivery, secret: string): EventBody {
  return new Webhook(secret).verify(delivery.body, delivery.headers) as EventBody;
}

/**
 * Whether one of the delivery's signatures is this secret's, computed with the library at
 * the delivery's own timestamp (for tests whose clock runs ahead of the receiver's, where
 * `verify` would refuse the timestamp before looking at the signature).
 */
function signedWith(delivery: ReceivedDelivery, secret: string): boolean {
  const at = new Date(Number(delivery.headers["webhook-timestamp"]) * 1000);
  const expected = new Webhook(secret).sign(
    delivery.headers["webhook-id"] as string,
    at,
    delivery.body,
  );
  return (delivery.headers["webhook-signature"] ?? "").split(" ").includes(expected);
}

/** A call.failed event without ElevenLabs: a batch driver whose number is on the do-not-call list. */
async function failBatchCall(lab: Lab, driverId: number) {
  const number = `+1555${String(driverId).padStart(3, "0")}0100`;
  await labRequest(lab, operatorRequest("PUT", `/do-not-call/${encodeURIComponent(number)}`));
  const response = await labRequest(
    lab,
    operatorRequest("POST", "/calls/batch", {
      drivers: [{ ...driver(driverId, "0100"), phone_number: number }],
    }),
  );
  expect(response.status).toBe(200);
}

async function deliveryLog(lab: Lab, endpointId: string) {
  const response = await labRequest(
    lab,
    operatorRequest("GET", `/event-endpoints/${endpointId}/deliveries`),
  );
  expect(response.status).toBe(200);
  return (
    (await response.json()) as {
      deliveries: {
        event_id: string;
        event_type: string;
        status: string;
        attempts: {
          status_code: number | null;
          error: string | null;
          next_attempt_at: string | null;
        }[];
      }[];
    }
  ).deliveries;
}

describe("events to the fleet's endpoints", () => {
  it("delivers every event type once, signed as Standard Webhooks say", async () => {
    const lab = await newLab({ callSeconds: 0.05 });
    const receiver = await eventReceiver();
    const endpoint = await registerEndpoint(lab, receiver.url);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const answers = driver(1, "0100");
    const optsOut = driver(2, "0499");
    const busy = driver(3, "0486");
    const { json } = await createCampaign(lab, {
      name: "Week 49",
      time_zone: "UTC",
      calling_window: { start: "00:00", end: "23:59" },
      retry: { max_attempts: 1, backoff_minutes: 1 },
      drivers: [answers, optsOut, busy],
    });
    const campaign = await playUntilFinished(lab, json.campaign.id);
    expect(campaign.status).toBe("COMPLETED");
    await consumeEvents(lab);

    const received = await receiver.received();
    const events = received.map((delivery) => ({
      delivery,
      body: verified(delivery, endpoint.secret),
    }));
    const types = events.map((event) => event.body.type).sort();
    expect(types).toEqual([
      "call.completed",
      "call.completed",
      "call.failed",
      "campaign.completed",
      "driver.opted_out",
    ]);
    const ids = received.map((delivery) => delivery.headers["webhook-id"]);
    expect(new Set(ids).size).toBe(received.length);
    for (const { delivery, body } of events) {
      expect(delivery.headers["content-type"]).toBe("application/json");
      expect(delivery.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
      expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    const byType = (type: string) =>
      events.filter((event) => event.body.type === type).map((event) => event.body.data);
    expect(byType("call.failed")[0]).toMatchObject({
      driver_id: 3,
      failure_reason: "busy",
      campaign_id: json.campaign.id,
    });
    expect(
      byType("call.completed")
        .map((data) => data.driver_id)
        .sort(),
    ).toEqual([1, 2]);
    expect(byType("call.completed")[0]).toHaveProperty("analysis");
    expect(byType("driver.opted_out")[0]).toMatchObject({
      driver_id: 2,
      phone_number: optsOut.phone_number,
    });
    expect(byType("campaign.completed")[0]).toMatchObject({
      campaign_id: json.campaign.id,
      name: "Week 49",
      counts: { total: 3, completed: 2, failed: 1 },
    });

    // Sent once: another run of the sender sends nothing more.
    await consumeEvents(lab);
    expect(await receiver.received()).toHaveLength(received.length);
    const log = await deliveryLog(lab, endpoint.id);
    expect(log.map((delivery) => delivery.status)).toEqual(Array(5).fill("delivered"));
  });

  it("retries a receiver that answers 500 three times, and delivers on the fourth attempt; the attempts are in the log", async () => {
    const clock = movableClock(new Date(Date.now() + 1_000));
    const lab = await newLab({ deps: { clock } });
    const receiver = await eventReceiver([500, 500, 500]);
    const endpoint = await registerEndpoint(lab, receiver.url, ["call.failed"]);
    await failBatchCall(lab, 11);

    await consumeEvents(lab);
    expect(await receiver.received()).toHaveLength(1);
    // Not due again before the schedule says so.
    clock.advance((RETRY_SCHEDULE_SECONDS[0] - 1) * 1000);
    await consumeEvents(lab);
    expect(await receiver.received()).toHaveLength(1);
    clock.advance(1_000);
    await consumeEvents(lab);
    clock.advance(RETRY_SCHEDULE_SECONDS[1] * 1000);
    await consumeEvents(lab);
    clock.advance(RETRY_SCHEDULE_SECONDS[2] * 1000);
    await consumeEvents(lab);

    const received = await receiver.received();
    expect(received).toHaveLength(4);
    expect(new Set(received.map((delivery) => delivery.headers["webhook-id"])).size).toBe(1);
    for (const delivery of received) expect(signedWith(delivery, endpoint.secret)).toBe(true);
    const [delivery] = await deliveryLog(lab, endpoint.id);
    expect(delivery?.status).toBe("delivered");
    expect(delivery?.attempts.map((attempt) => attempt.status_code)).toEqual([500, 500, 500, 200]);
    expect(delivery?.attempts.map((attempt) => attempt.next_attempt_at !== null)).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(delivery?.attempts[0]?.error).toBe("answered HTTP 500");
  });

  it("times out a receiver that never answers (10 s in production) and retries it", async () => {
    expect(DELIVERY_TIMEOUT_MS).toBe(10_000);
    const clock = movableClock(new Date(Date.now() + 1_000));
    const lab = await newLab({ deps: { clock, eventDeliveryTimeoutMs: 300 } });
    const receiver = await eventReceiver("hang");
    const endpoint = await registerEndpoint(lab, receiver.url, ["call.failed"]);
    await failBatchCall(lab, 12);

    await consumeEvents(lab);
    clock.advance(RETRY_SCHEDULE_SECONDS[0] * 1000);
    await consumeEvents(lab);
    expect(await receiver.received()).toHaveLength(2);
    const [delivery] = await deliveryLog(lab, endpoint.id);
    expect(delivery?.status).toBe("pending");
    expect(delivery?.attempts.map((attempt) => attempt.error)).toEqual([
      "no answer within 0.3 s",
      "no answer within 0.3 s",
    ]);
  });

  it("after the last retry the delivery is failed; an endpoint failing for 5 days is disabled, audited, and can be enabled again", async () => {
    const clock = movableClock(new Date(Date.now() + 1_000));
    const lab = await newLab({ deps: { clock } });
    const receiver = await eventReceiver(Array(20).fill(503));
    const endpoint = await registerEndpoint(lab, receiver.url, ["call.failed"]);
    await failBatchCall(lab, 13);
    await consumeEvents(lab);
    for (const seconds of RETRY_SCHEDULE_SECONDS) {
      clock.advance(seconds * 1000);
      await consumeEvents(lab);
    }
    expect(await receiver.received()).toHaveLength(RETRY_SCHEDULE_SECONDS.length + 1);
    const [failed] = await deliveryLog(lab, endpoint.id);
    expect(failed?.status).toBe("failed");

    // Failing since more than 5 days when the next delivery fails too: disabled.
    await lab.sql`UPDATE event_endpoints SET failing_since = now() - interval '6 days'`;
    await failBatchCall(lab, 14);
    await consumeEvents(lab);
    const listed = (await (
      await labRequest(lab, operatorRequest("GET", "/event-endpoints"))
    ).json()) as {
      endpoints: EndpointJson[];
    };
    expect(listed.endpoints[0]?.disabled_at).not.toBeNull();
    const audit = (await (
      await labRequest(lab, operatorRequest("GET", "/audit?action=event_endpoint.disabled"))
    ).json()) as {
      events: { actor_kind: string; subject_id: string }[];
    };
    expect(audit.events).toEqual([
      expect.objectContaining({ actor_kind: "system", subject_id: endpoint.id }),
    ]);
    // Disabled: no new deliveries are written for it, and nothing is sent.
    await failBatchCall(lab, 15);
    const before = (await receiver.received()).length;
    clock.advance(3_600_000);
    await consumeEvents(lab);
    expect(await receiver.received()).toHaveLength(before);
    const enabled = await labRequest(
      lab,
      operatorRequest("POST", `/event-endpoints/${endpoint.id}/enable`),
    );
    expect(enabled.status).toBe(200);
    expect(((await enabled.json()) as EndpointJson).disabled_at).toBeNull();
  });

  it("resends an event with the same webhook-id", async () => {
    const lab = await newLab();
    const receiver = await eventReceiver();
    const endpoint = await registerEndpoint(lab, receiver.url, ["call.failed"]);
    await failBatchCall(lab, 16);
    await consumeEvents(lab);
    const [first] = await receiver.received();
    const eventId = first?.headers["webhook-id"] as string;
    expect(eventId).toMatch(/^msg_[0-9a-f]{32}$/);

    const resent = await labRequest(lab, operatorRequest("POST", `/events/${eventId}/resend`));
    expect(resent.status).toBe(202);
    expect(await resent.json()).toEqual({ event_id: eventId, deliveries: 1 });
    await consumeEvents(lab);
    const received = await receiver.received();
    expect(received).toHaveLength(2);
    expect(received[1]?.headers["webhook-id"]).toBe(eventId);
    expect(received[1]?.body).toBe(first?.body);
    verified(received[1] as ReceivedDelivery, endpoint.secret);

    const unknown = await labRequest(
      lab,
      operatorRequest("POST", `/events/msg_${"0".repeat(32)}/resend`),
    );
    expect(unknown.status).toBe(404);
    expect((await labRequest(lab, operatorRequest("POST", "/events/nonsense/resend"))).status).toBe(
      404,
    );
  });

  it("signs with the old and the new secret for 24 hours after a rotation, then with the new only", async () => {
    const clock = movableClock(new Date(Date.now() + 1_000));
    const lab = await newLab({ deps: { clock } });
    const receiver = await eventReceiver();
    const endpoint = await registerEndpoint(lab, receiver.url, ["call.failed"]);
    const rotated = await labRequest(
      lab,
      operatorRequest("POST", `/event-endpoints/${endpoint.id}/rotate-secret`),
    );
    expect(rotated.status).toBe(200);
    const { secret: newSecret } = (await rotated.json()) as EndpointJson;
    expect(newSecret).not.toBe(endpoint.secret);

    await failBatchCall(lab, 17);
    await consumeEvents(lab);
    const [during] = await receiver.received();
    expect(during?.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    expect(signedWith(during as ReceivedDelivery, endpoint.secret)).toBe(true);
    expect(signedWith(during as ReceivedDelivery, newSecret)).toBe(true);

    clock.advance(24 * 3_600_000 + 1_000);
    await failBatchCall(lab, 18);
    await consumeEvents(lab);
    const after = (await receiver.received())[1] as ReceivedDelivery;
    expect(after.headers["webhook-signature"]?.split(" ")).toHaveLength(1);
    expect(signedWith(after, newSecret)).toBe(true);
    expect(signedWith(after, endpoint.secret)).toBe(false);
  });

  it("refuses a private, loopback or link-local URL, and plain http, with 400 naming url", async () => {
    const lab = await newLab();
    for (const url of [
      "https://10.0.0.5/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/hook",
      "https://[::ffff:192.168.1.1]/hook",
      "https://3232235777/hook",
      "https://localhost.localdomain/hook",
      "http://tms.fleet.example/hook",
      "https://user:pass@tms.fleet.example/hook",
      "not a url",
    ]) {
      const response = await labRequest(
        lab,
        operatorRequest("POST", "/event-endpoints", { url, events: ["call.completed"] }),
      );
      expect(response.status, url).toBe(400);
      const { error } = await readError(response);
      expect(error.code, url).toBe("invalid_request");
      expect(error.details, url).toEqual([expect.objectContaining({ field: "url" })]);
    }
    const unknownType = await labRequest(
      lab,
      operatorRequest("POST", "/event-endpoints", {
        url: "https://tms.fleet.example/hook",
        events: ["call.exploded"],
      }),
    );
    expect(unknownType.status).toBe(400);
    const good = await registerEndpoint(lab, "https://tms.fleet.example/hook", ["call.completed"]);
    expect(good.url).toBe("https://tms.fleet.example/hook");
    // Deleted: gone from the list, audited with its creation.
    expect(
      (await labRequest(lab, operatorRequest("DELETE", `/event-endpoints/${good.id}`))).status,
    ).toBe(204);
    expect(
      (await labRequest(lab, operatorRequest("DELETE", `/event-endpoints/${good.id}`))).status,
    ).toBe(404);
    const audit = (await (await labRequest(lab, operatorRequest("GET", "/audit"))).json()) as {
      events: { action: string; subject_id: string }[];
    };
    expect(
      audit.events.filter((event) => event.subject_id === good.id).map((event) => event.action),
    ).toEqual(["event_endpoint.deleted", "event_endpoint.created"]);
  });
});

describe("the outbox", () => {
  it("writes no event when the change does not commit, and the change does not commit without its event", async () => {
    const lab = await newLab({ callSeconds: 0.05 });
    const receiver = await eventReceiver();
    await registerEndpoint(lab, receiver.url, ["call.completed", "call.failed"]);
    const placed = await labRequest(
      lab,
      operatorRequest("POST", "/calls/batch", { drivers: [driver(21, "0100")] }),
    );
    expect(placed.status).toBe(200);
    // Sabotage (this private database only): every new event fails to be written.
    await lab.sql`CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'event refused'; END $$`;
    await lab.sql`CREATE TRIGGER refuse_event BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_event()`;
    await new Promise((resolve) => setTimeout(resolve, 150));
    // What ElevenLabs sends: the live utterances and the signed post-call webhook.
    const { webhooks } = (await (await fetch(`${lab.simulatorUrl}/__sim/outbox`)).json()) as {
      webhooks: { url: string; headers: Record<string, string>; body: string; kind: string }[];
    };
    const send = async () => {
      const statuses: number[] = [];
      for (const webhook of webhooks.filter((hook) => hook.kind === "post_call")) {
        const response = await labRequest(
          lab,
          new Request(`http://driver-calls.test${new URL(webhook.url, "http://x").pathname}`, {
            method: "POST",
            headers: webhook.headers,
            body: webhook.body,
          }),
        );
        await response.arrayBuffer();
        statuses.push(response.status);
      }
      return statuses;
    };
    const refused = await send();
    expect(refused.length).toBeGreaterThan(0);
    for (const status of refused) expect(status).toBeGreaterThanOrEqual(500);
    const [stuck] = (await lab.sql`SELECT status FROM calls WHERE driver_id = 21`) as {
      status: string;
    }[];
    expect(stuck?.status).toBe("IN_PROGRESS");
    expect(await lab.sql`SELECT 1 FROM events`).toEqual([]);

    // The fault gone, ElevenLabs' retry of the same webhook completes the call, with exactly one event.
    await lab.sql`DROP TRIGGER refuse_event ON events`;
    expect(await send()).toEqual(refused.map(() => 200));
    const [done] = (await lab.sql`SELECT status FROM calls WHERE driver_id = 21`) as {
      status: string;
    }[];
    expect(done?.status).toBe("COMPLETED");
    const events = (await lab.sql`SELECT type FROM events`) as { type: string }[];
    expect(events).toEqual([{ type: "call.completed" }]);
  });

  it("loses a driver's events, delivery log included, when the driver's data is erased", async () => {
    const lab = await newLab();
    const receiver = await eventReceiver();
    await registerEndpoint(lab, receiver.url, ["call.failed"]);
    await failBatchCall(lab, 31);
    await failBatchCall(lab, 32);
    await consumeEvents(lab);
    expect(await receiver.received()).toHaveLength(2);
    const erased = await labRequest(lab, operatorRequest("POST", "/drivers/31/erase"));
    expect(erased.status).toBe(200);
    const left = (await lab.sql`SELECT driver_id FROM events`) as { driver_id: number }[];
    expect(left).toEqual([{ driver_id: 32 }]);
    expect(await lab.sql`SELECT 1 FROM event_deliveries`).toHaveLength(1);
    const [audit] =
      (await lab.sql`SELECT detail FROM audit_events WHERE action = 'driver.erased'`) as {
        detail: { events: number };
      }[];
    expect(audit?.detail.events).toBe(1);
  });

  it("writes nothing at all while no endpoint wants the type", async () => {
    const lab = await newLab();
    await registerEndpoint(lab, "https://tms.fleet.example/hook", ["campaign.completed"]);
    await failBatchCall(lab, 22);
    expect(await lab.sql`SELECT 1 FROM events`).toEqual([]);
    expect(await lab.sql`SELECT 1 FROM event_deliveries`).toEqual([]);
  });
});
