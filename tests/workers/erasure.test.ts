// Erasing a driver's data (POST /drivers/{driver_id}/erase and the console's button): every
// copy of their name and number goes, from every table, except the do-not-call list (which
// keeps the number) and the audit entries of do-not-call changes; the rows stay, marked
// erased; a target still waiting is never dialed; a second erase finds nothing; a driver on
// a live call is refused. The data is made by the service's own paths (campaigns and a
// batch played by the simulator, the do-not-call route, a post-call event kept for later).
import { describe, expect, it } from "vitest";
import { DISPATCH_CRON } from "../../src/crons";
import { sha256Hex } from "../../src/operators/tokens";
import {
  allTargets,
  consumeDispatch,
  createCampaign,
  deliverOutbox,
  dialsOf,
  driver,
  fireCron,
  getCampaign,
  type Lab,
  labRequest,
  movableClock,
  newLab,
  operatorRequest,
  playUntilFinished,
} from "../support/dispatch";
import { initiationFailureEvent, signedPostCall } from "../support/post-call";

const ALWAYS_OPEN = { start: "00:00", end: "23:59" };

interface ErasureJson {
  driver_id: number;
  erased: Record<string, number>;
  do_not_call_numbers_kept: number;
}

async function erase(lab: Lab, driverId: number) {
  const response = await labRequest(lab, operatorRequest("POST", `/drivers/${driverId}/erase`));
  return { status: response.status, body: (await response.json()) as ErasureJson };
}

/** Audit entries that name a number on purpose: the do-not-call list's own record. */
const DO_NOT_CALL_ACTIONS = ["do_not_call.added", "do_not_call.removed", "driver.opted_out"];

/**
 * Every place a needle is found: each text, varchar, char, json, jsonb and array column of
 * each table in the public schema, read as text, except the do-not-call list and the
 * audit entries of do-not-call changes.
 */
async function findEverywhere(lab: Lab, needles: string[]) {
  const columns = (await lab.sql`
    SELECT table_name, column_name FROM information_schema.columns
    WHERE table_schema = 'public'
      AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY')
    ORDER BY table_name, column_name`) as { table_name: string; column_name: string }[];
  const tables = new Set(columns.map((column) => column.table_name));
  // The scan reads the tables that hold what the service stores (a new one is scanned too).
  for (const table of ["calls", "call_transcriptions", "campaign_targets", "post_call_inbox"]) {
    expect(tables).toContain(table);
  }
  const found: string[] = [];
  for (const { table_name: table, column_name: column } of columns) {
    if (table === "do_not_call") continue;
    const keep =
      table === "audit_events"
        ? `AND action NOT IN (${DO_NOT_CALL_ACTIONS.map((action) => `'${action}'`).join(", ")})`
        : "";
    for (const needle of needles) {
      const [row] = (await lab.sql.query(
        `SELECT count(*)::int AS n FROM public."${table}" WHERE "${column}"::text ILIKE $1 ${keep}`,
        [`%${needle}%`],
      )) as { n: number }[];
      if ((row?.n ?? 0) > 0) found.push(`${table}.${column} holds "${needle}" (${row?.n} rows)`);
    }
  }
  return found;
}

function uniqueDriverId() {
  return 3_000_000 + Math.floor(Math.random() * 900_000);
}

describe("POST /drivers/{driver_id}/erase", () => {
  it("removes every copy of the driver's name and number, keeps the do-not-call entry, cancels what waits, and finds nothing the second time", async () => {
    const clock = movableClock();
    const lab = await newLab({ deps: { clock } });
    const zelda = { ...driver(uniqueDriverId(), "4417"), driver_name: "Zelda Quintero" };
    const other = { ...driver(uniqueDriverId(), "4418"), driver_name: "Otto Brennan" };
    const zeldaDigits = zelda.phone_number.slice(1);

    // A finished campaign: Zelda and another driver were called (transcripts name them).
    const finished = await createCampaign(lab, {
      time_zone: "America/Chicago",
      calling_window: ALWAYS_OPEN,
      drivers: [zelda, other],
    });
    expect(finished.response.status).toBe(202);
    expect((await playUntilFinished(lab, finished.json.campaign.id)).status).toBe("COMPLETED");
    // A batch call to her, under an Idempotency-Key (its answer is kept for 24 hours).
    const batch = await labRequest(
      lab,
      operatorRequest(
        "POST",
        "/calls/batch",
        { drivers: [zelda] },
        { "Idempotency-Key": "erase-test-batch" },
      ),
    );
    expect(batch.status).toBe(200);
    for (let round = 0; round < 50; round++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await deliverOutbox(lab);
      const [live] = (await lab.sql`
        SELECT count(*)::int AS n FROM calls WHERE status = 'IN_PROGRESS'`) as { n: number }[];
      if (live?.n === 0) break;
    }
    // A campaign that has not started yet: she waits in it.
    const waiting = await createCampaign(lab, {
      time_zone: "America/Chicago",
      calling_window: ALWAYS_OPEN,
      start_at: new Date(clock.now().getTime() + 3_600_000).toISOString(),
      drivers: [zelda],
    });
    expect(waiting.json.campaign.counts.queued).toBe(1);
    // She asked not to be called: her number is on the list (and the trail says so).
    const listed = await labRequest(
      lab,
      operatorRequest("PUT", `/do-not-call/${encodeURIComponent(zelda.phone_number)}`, {
        reason: "asked on the phone",
      }),
    );
    expect(listed.status).toBe(200);
    // A post-call event about a call not known yet, naming her number: kept for later.
    const failure = initiationFailureEvent(`conv_unknown_${crypto.randomUUID()}`);
    const kept = await labRequest(
      lab,
      await signedPostCall({
        ...failure,
        data: {
          ...failure.data,
          metadata: { type: "twilio", body: { CallStatus: "busy", To: zelda.phone_number } },
        },
      }),
    );
    expect(kept.status).toBe(200);

    const [before] = (await lab.sql`
      SELECT (SELECT count(*)::int FROM calls WHERE driver_id = ${zelda.driver_id}) AS calls,
             (SELECT count(*)::int FROM call_transcriptions t JOIN calls c USING (conversation_id)
               WHERE c.driver_id = ${zelda.driver_id}) AS turns,
             (SELECT count(*)::int FROM post_call_inbox) AS inbox`) as Record<string, number>[];
    expect(before).toMatchObject({ calls: 2, inbox: 1 });
    expect(before?.turns).toBeGreaterThan(0);
    // Everything above did store her name and number.
    expect(await findEverywhere(lab, ["Zelda", "Quintero", zeldaDigits])).not.toEqual([]);

    const first = await erase(lab, zelda.driver_id);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      driver_id: zelda.driver_id,
      erased: {
        calls: 2,
        transcript_turns: before?.turns,
        campaign_targets: 2,
        queued_targets_cancelled: 1,
        post_call_events: 1,
      },
      do_not_call_numbers_kept: 1,
    });

    // Nowhere any more, but on the do-not-call list and in its own audit entries.
    expect(await findEverywhere(lab, ["Zelda", "Quintero", zeldaDigits])).toEqual([]);
    const [entry] = (await lab.sql`
      SELECT phone_number, reason FROM do_not_call WHERE phone_number = ${zelda.phone_number}`) as {
      phone_number: string;
      reason: string;
    }[];
    expect(entry).toEqual({ phone_number: zelda.phone_number, reason: "asked on the phone" });
    // The other driver keeps everything.
    expect(await findEverywhere(lab, ["Otto Brennan"])).not.toEqual([]);

    // The rows stay, marked erased, with their statuses and outcomes.
    const targets = await allTargets(lab, finished.json.campaign.id);
    const erasedTarget = targets.find((target) => target.driver_id === zelda.driver_id);
    expect(erasedTarget).toMatchObject({
      driver_name: null,
      phone_number: null,
      status: "COMPLETED",
      attempts: 1,
    });
    expect(targets.find((target) => target.driver_id === other.driver_id)).toMatchObject({
      driver_name: "Otto Brennan",
      phone_number: other.phone_number,
    });
    const calls = (await lab.sql`
      SELECT status, phone_number, final_transcript, transcript_summary, erased_at IS NOT NULL AS erased
      FROM calls WHERE driver_id = ${zelda.driver_id} ORDER BY id`) as Record<string, unknown>[];
    expect(calls).toEqual([
      {
        status: "COMPLETED",
        phone_number: null,
        final_transcript: null,
        transcript_summary: null,
        erased: true,
      },
      {
        status: "COMPLETED",
        phone_number: null,
        final_transcript: null,
        transcript_summary: null,
        erased: true,
      },
    ]);
    // The results CSV keeps her row, without her name and number.
    const csv = await labRequest(
      lab,
      operatorRequest("GET", `/campaigns/${finished.json.campaign.id}/results.csv`),
    );
    const rows = (await csv.text())
      .replace(/^\uFEFF/, "")
      .trim()
      .split("\r\n");
    expect(rows.find((row) => row.startsWith(`${zelda.driver_id},`))).toMatch(
      new RegExp(`^${zelda.driver_id},,,COMPLETED,1,EL_${zelda.driver_id}_`),
    );

    // What waited is cancelled, its campaign complete, and nobody dials her any more.
    const waitingTargets = await allTargets(lab, waiting.json.campaign.id);
    expect(waitingTargets).toMatchObject([
      { status: "CANCELLED", last_failure_reason: "driver_erased" },
    ]);
    expect((await getCampaign(lab, waiting.json.campaign.id)).status).toBe("COMPLETED");
    const dialsBefore = await dialsOf(lab, zelda.phone_number);
    clock.advance(2 * 3_600_000);
    await fireCron(lab, DISPATCH_CRON);
    await consumeDispatch(lab);
    expect(await dialsOf(lab, zelda.phone_number)).toBe(dialsBefore);

    // Recorded under who asked, with the counts only.
    const audited = (await lab.sql`
      SELECT actor_kind, subject_type, subject_id, detail FROM audit_events
      WHERE action = 'driver.erased' ORDER BY id`) as Record<string, unknown>[];
    expect(audited).toEqual([
      {
        actor_kind: "api_token",
        subject_type: "driver",
        subject_id: String(zelda.driver_id),
        // No endpoint wants events in this test, so the outbox held none of hers.
        detail: { ...first.body.erased, do_not_call_numbers_kept: 1, events: 0 },
      },
    ]);

    // Again: nothing left to erase.
    const second = await erase(lab, zelda.driver_id);
    expect(second).toEqual({
      status: 200,
      body: {
        driver_id: zelda.driver_id,
        erased: {
          calls: 0,
          transcript_turns: 0,
          campaign_targets: 0,
          queued_targets_cancelled: 0,
          post_call_events: 0,
        },
        do_not_call_numbers_kept: 0,
      },
    });
  }, 60_000);

  it("refuses while the driver is on a live call and erases nothing, then erases once it has ended", async () => {
    const lab = await newLab();
    const driverId = uniqueDriverId();
    await lab.sql`
      INSERT INTO calls (call_sid, driver_id, conversation_id, status, phone_number, transcript_summary, final_transcript)
      VALUES (${`EL_${driverId}_1790000001`}, ${driverId}, ${`conv_${driverId}_a`}, 'COMPLETED', '+15550004417',
              'Spoke to Yara Lindgren.', '[]'::jsonb),
             (${`EL_${driverId}_1790000002`}, ${driverId}, ${`conv_${driverId}_b`}, 'IN_PROGRESS', '+15550004417', NULL, NULL)`;
    const refused = await labRequest(lab, operatorRequest("POST", `/drivers/${driverId}/erase`));
    expect(refused.status).toBe(409);
    const body = (await refused.json()) as { error: { code: string; details: unknown } };
    expect(body.error.code).toBe("driver_in_call");
    expect(body.error.details).toEqual({
      driver_id: driverId,
      call_sid: `EL_${driverId}_1790000002`,
    });
    const [untouched] = (await lab.sql`
      SELECT count(*) FILTER (WHERE erased_at IS NULL AND phone_number IS NOT NULL)::int AS kept,
             (SELECT count(*)::int FROM audit_events WHERE action = 'driver.erased') AS audited
      FROM calls WHERE driver_id = ${driverId}`) as { kept: number; audited: number }[];
    expect(untouched).toEqual({ kept: 2, audited: 0 });

    await lab.sql`UPDATE calls SET status = 'COMPLETED' WHERE call_sid = ${`EL_${driverId}_1790000002`}`;
    const erased = await erase(lab, driverId);
    expect(erased.status).toBe(200);
    expect(erased.body.erased.calls).toBe(2);
  });

  it("is either refused (the driver was claimed first and is on the call) or erases a driver no claim dials, when it races the dispatcher", async () => {
    const lab = await newLab();
    for (let round = 0; round < 6; round++) {
      const target = {
        ...driver(uniqueDriverId(), String(5000 + round)),
        driver_name: "Race Driver",
      };
      const created = await createCampaign(lab, {
        time_zone: "America/Chicago",
        calling_window: ALWAYS_OPEN,
        drivers: [target],
      });
      expect(created.response.status).toBe(202);
      const [erasure] = await Promise.all([erase(lab, target.driver_id), consumeDispatch(lab)]);
      // Whatever the dispatcher does next, it never dials an erased driver.
      await consumeDispatch(lab);
      const dials = await dialsOf(lab, target.phone_number);
      const [row] = (await lab.sql`
        SELECT status, erased_at IS NOT NULL AS erased, phone_number FROM campaign_targets
        WHERE driver_id = ${target.driver_id}`) as {
        status: string;
        erased: boolean;
        phone_number: string | null;
      }[];
      if (erasure.status === 200) {
        expect(dials, `round ${round}`).toBe(0);
        expect(row).toEqual({ status: "CANCELLED", erased: true, phone_number: null });
      } else {
        expect(erasure.status, `round ${round}`).toBe(409);
        expect(dials, `round ${round}`).toBe(1);
        expect(row).toEqual({
          status: "CALLING",
          erased: false,
          phone_number: target.phone_number,
        });
      }
      // The call ends (its webhooks), so the next round starts with no live call.
      await deliverOutbox(lab);
    }
  }, 60_000);

  it("takes no body, and refuses a driver id that is not one and a missing credential", async () => {
    const lab = await newLab();
    expect((await labRequest(lab, operatorRequest("POST", "/drivers/abc/erase"))).status).toBe(400);
    expect((await labRequest(lab, operatorRequest("POST", "/drivers/0/erase"))).status).toBe(400);
    const anonymous = await labRequest(
      lab,
      new Request("http://driver-calls.test/drivers/42/erase", { method: "POST" }),
    );
    expect(anonymous.status).toBe(401);
  });
});

describe("the console's Erase this driver's data", () => {
  const ORIGIN = "http://driver-calls.test";

  async function signedInOperator(lab: Lab) {
    const token = `dco_erasure-test-${crypto.randomUUID()}`;
    await lab.sql`
      INSERT INTO operators (name, token_hash) VALUES ('Erin Operator', ${await sha256Hex(token)})`;
    const response = await labRequest(
      lab,
      new Request(`${ORIGIN}/console/sign-in`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
        body: new URLSearchParams({ token }).toString(),
      }),
    );
    expect(response.status).toBe(303);
    const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    expect(cookie).toMatch(/^__Host-console=/);
    return cookie;
  }

  it("asks to confirm on a page of its own, erases with the form, and says what it did", async () => {
    const lab = await newLab();
    const cookie = await signedInOperator(lab);
    const driverId = uniqueDriverId();
    const callSid = `EL_${driverId}_1790000003`;
    await lab.sql`
      INSERT INTO calls (call_sid, driver_id, conversation_id, status, phone_number, transcript_summary, final_transcript)
      VALUES (${callSid}, ${driverId}, ${`conv_${driverId}`}, 'COMPLETED', '+15550009931',
              'Spoke to Wim Achterberg.',
              '[{"role":"user","message":"This is Wim.","time_in_call_secs":1,"timestamp":"2026-11-23T14:05:09.000Z"}]'::jsonb)`;
    const page = (path: string) =>
      labRequest(lab, new Request(`${ORIGIN}${path}`, { headers: { cookie } }));

    const callPage = await (await page(`/console/calls/${callSid}`)).text();
    expect(callPage).toContain(`action="/console/drivers/${driverId}/erase"`);
    expect(callPage).toContain("Erase this driver's data");
    expect(callPage).toContain("Wim Achterberg");

    // The button leads to a confirmation page (GET: nothing is erased yet).
    const confirm = await page(`/console/drivers/${driverId}/erase?call=${callSid}`);
    expect(confirm.status).toBe(200);
    const confirmHtml = await confirm.text();
    expect(confirmHtml).toContain(
      `<form method="post" action="/console/drivers/${driverId}/erase">`,
    );
    expect(confirmHtml).toContain(`name="call" value="${callSid}"`);
    expect(confirmHtml).not.toMatch(/<script(?![^>]*\bsrc=)/);
    const [stillThere] = (await lab.sql`
      SELECT transcript_summary FROM calls WHERE call_sid = ${callSid}`) as {
      transcript_summary: string | null;
    }[];
    expect(stillThere?.transcript_summary).toBe("Spoke to Wim Achterberg.");

    // Another site's form does nothing.
    const crossSite = await labRequest(
      lab,
      new Request(`${ORIGIN}/console/drivers/${driverId}/erase`, {
        method: "POST",
        headers: {
          cookie,
          "content-type": "application/x-www-form-urlencoded",
          origin: "https://evil.example",
        },
        body: `call=${callSid}`,
      }),
    );
    expect(crossSite.status).toBe(403);

    const done = await labRequest(
      lab,
      new Request(`${ORIGIN}/console/drivers/${driverId}/erase`, {
        method: "POST",
        headers: { cookie, "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
        body: `call=${callSid}`,
      }),
    );
    expect(done.status).toBe(200);
    const doneHtml = await done.text();
    expect(doneHtml).toContain(`Driver ${driverId}'s data erased`);
    expect(doneHtml).toMatch(/<dt>Calls erased<\/dt><dd>1<\/dd>/);
    expect(doneHtml).toContain(`href="/console/calls/${callSid}"`);

    const after = await (await page(`/console/calls/${callSid}`)).text();
    expect(after).not.toContain("Wim");
    expect(after).toContain("This driver's data was erased");
    const [audited] = (await lab.sql`
      SELECT actor_kind, actor_name, subject_id FROM audit_events WHERE action = 'driver.erased'`) as Record<
      string,
      unknown
    >[];
    expect(audited).toEqual({
      actor_kind: "operator",
      actor_name: "Erin Operator",
      subject_id: String(driverId),
    });

    // A driver id that is not one is a 404 page, not a 500.
    expect((await page("/console/drivers/not-a-driver/erase")).status).toBe(404);
  });
});
