// What the call found out: ElevenLabs' post-call analysis kept and served in every shape
// it comes in, opt-outs put on the do-not-call list, and the campaign results as CSV.
import Papa from "papaparse";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ANALYSIS_LIMITS } from "../../src/elevenlabs/analysis";
import { TEST_SECRETS } from "../setup/test-secrets";
import { insertTestCall } from "../support/calls";
import {
  allTargets,
  consumeDispatch,
  createCampaign,
  deliverOutbox,
  dialsOf,
  driver,
  labRequest,
  movableClock,
  newLab,
  operatorRequest,
} from "../support/dispatch";
import { captureLogs } from "../support/logs";
import { signedPostCall, transcriptionEvent } from "../support/post-call";
import { callWorker } from "../support/worker";

const START = 1_795_600_000;

afterEach(() => vi.restoreAllMocks());

function eventWith(call: { callSid: string; conversationId: string | null }, data: object) {
  const base = transcriptionEvent({
    conversationId: call.conversationId as string,
    callSid: call.callSid,
    startTimeUnixSecs: START,
    transcript: [{ role: "agent", message: "Hello.", time_in_call_secs: 0 }],
  });
  return { ...base, data: { ...base.data, ...data } };
}

async function deliver(event: unknown) {
  const response = await callWorker(await signedPostCall(event));
  return { status: response.status, body: (await response.json()) as { status: string } };
}

async function analysisOf(callSid: string) {
  const response = await callWorker(
    new Request(`http://driver-calls.test/calls/${callSid}`, {
      headers: { authorization: `Bearer ${TEST_SECRETS.API_TOKEN}` },
    }),
  );
  return ((await response.json()) as { analysis: Record<string, unknown> }).analysis;
}

const FULL = {
  call_successful: "success",
  transcript_summary: "The driver acknowledged the HOS violation and will rest 10 hours.",
  call_summary_title: "HOS acknowledged",
  data_collection_results: {
    acknowledged_violation: {
      data_collection_id: "acknowledged_violation",
      value: true,
      json_schema: { type: "boolean", description: "Did the driver acknowledge?" },
      rationale: "The driver said 'yes, that was me'.",
    },
    disputes_violation: {
      data_collection_id: "disputes_violation",
      value: false,
      json_schema: null,
      rationale: "No dispute.",
    },
    hours_rested: { data_collection_id: "hours_rested", value: 10, rationale: "Said ten." },
    next_stop: { data_collection_id: "next_stop", value: "Amarillo", rationale: "" },
  },
  evaluation_criteria_results: {
    violations_reviewed: {
      criteria_id: "violations_reviewed",
      result: "success",
      rationale: "All.",
    },
    polite: { criteria_id: "polite", result: "unknown", rationale: "n/a" },
  },
};

describe("the post-call analysis, stored and served", () => {
  it.each([
    [
      "full",
      {
        analysis: FULL,
        metadata: {
          start_time_unix_secs: START,
          call_duration_secs: 60,
          termination_reason: "end_call tool was called.",
        },
      },
      {
        call_successful: "success",
        summary: FULL.transcript_summary,
        data_collection: {
          acknowledged_violation: true,
          disputes_violation: false,
          hours_rested: 10,
          next_stop: "Amarillo",
        },
        evaluation: { violations_reviewed: "success", polite: "unknown" },
        termination_reason: "end_call tool was called.",
      },
    ],
    [
      "missing",
      { metadata: { start_time_unix_secs: START, call_duration_secs: 60 } },
      {
        call_successful: null,
        summary: null,
        data_collection: null,
        evaluation: null,
        termination_reason: null,
      },
    ],
    [
      "nulls",
      {
        analysis: {
          call_successful: null,
          transcript_summary: null,
          data_collection_results: {
            opt_out: { data_collection_id: "opt_out", value: null, rationale: "unclear" },
          },
          evaluation_criteria_results: null,
        },
        metadata: { start_time_unix_secs: START, call_duration_secs: 60, termination_reason: null },
      },
      {
        call_successful: null,
        summary: null,
        data_collection: { opt_out: null },
        evaluation: null,
        termination_reason: null,
      },
    ],
    [
      "values of any JSON type, strings and a surprising outcome",
      {
        analysis: {
          call_successful: "partially",
          transcript_summary: "ok",
          data_collection_results: {
            acknowledged_violation: { data_collection_id: "acknowledged_violation", value: "yes" },
            stops: { data_collection_id: "stops", value: ["Amarillo", "Tulsa"] },
            eta: { data_collection_id: "eta", value: { hours: 3 } },
          },
          evaluation_criteria_results: { polite: { criteria_id: "polite", result: "excellent" } },
        },
        metadata: { start_time_unix_secs: START, call_duration_secs: 60 },
      },
      {
        call_successful: "unknown",
        summary: "ok",
        data_collection: {
          acknowledged_violation: "yes",
          stops: ["Amarillo", "Tulsa"],
          eta: { hours: 3 },
        },
        evaluation: { polite: "unknown" },
        termination_reason: null,
      },
    ],
    [
      "unknown extra fields and the newer *_list arrays",
      {
        analysis: {
          call_successful: "failure",
          transcript_summary: "No answer to the questions.",
          call_success_score: 0.2,
          data_collection_results_list: [
            { data_collection_id: "opt_out", value: false, rationale: "" },
          ],
          evaluation_criteria_results_list: [
            { criteria_id: "polite", result: "success", rationale: "" },
          ],
          brand_new_thing: { whatever: true },
        },
        metadata: { start_time_unix_secs: START, call_duration_secs: 60, something_else: 1 },
        another_new_field: "x",
      },
      {
        call_successful: "failure",
        summary: "No answer to the questions.",
        data_collection: { opt_out: false },
        evaluation: { polite: "success" },
        termination_reason: null,
      },
    ],
  ])("%s", async (_, data, expected) => {
    const call = await insertTestCall();
    expect(await analysisOf(call.callSid)).toEqual({
      call_successful: null,
      summary: null,
      data_collection: null,
      evaluation: null,
      termination_reason: null,
    });
    const event = eventWith(call, data);
    expect(await deliver(event)).toEqual({ status: 200, body: { status: "processed" } });
    expect(await analysisOf(call.callSid)).toEqual(expected);
    // Redelivered: nothing changes.
    expect(await deliver(event)).toEqual({ status: 200, body: { status: "unchanged" } });
    expect(await analysisOf(call.callSid)).toEqual(expected);
  });

  it("cuts an oversized summary (with a log line) instead of refusing the event", async () => {
    const call = await insertTestCall();
    const logs = captureLogs();
    const result = await deliver(
      eventWith(call, {
        analysis: { call_successful: "success", transcript_summary: "word ".repeat(5_000) },
      }),
    );
    vi.restoreAllMocks();
    expect(result.status).toBe(200);
    const summary = (await analysisOf(call.callSid)).summary as string;
    expect(summary.length).toBe(ANALYSIS_LIMITS.summaryChars - 1);
    expect(logs.events("analysis_cut")).toEqual([
      expect.objectContaining({ fields: ["transcript_summary"] }),
    ]);
  });

  it("GET /calls filters by call_successful", async () => {
    const success = await insertTestCall();
    const failure = await insertTestCall();
    await deliver(
      eventWith(success, { analysis: { call_successful: "success", transcript_summary: "a" } }),
    );
    await deliver(
      eventWith(failure, { analysis: { call_successful: "failure", transcript_summary: "b" } }),
    );
    const page = async (outcome: string, driverId: number) => {
      const response = await callWorker(
        new Request(
          `http://driver-calls.test/calls?call_successful=${outcome}&driver_id=${driverId}`,
          { headers: { authorization: `Bearer ${TEST_SECRETS.API_TOKEN}` } },
        ),
      );
      return ((await response.json()) as { calls: { call_sid: string }[] }).calls.map(
        (c) => c.call_sid,
      );
    };
    expect(await page("success", success.driverId)).toEqual([success.callSid]);
    expect(await page("failure", success.driverId)).toEqual([]);
    expect(await page("failure", failure.driverId)).toEqual([failure.callSid]);
  });
});

describe("opt-outs", () => {
  it("the number goes on the list with the call_sid; a later campaign skips it; a scheduled retry is not dialed", async () => {
    const lab = await newLab({ deps: { clock: movableClock() }, callSeconds: 0.05 });
    const optsOut = driver(1, "0499");
    const busy = driver(2, "0486");
    // First: the busy driver fails and gets a retry scheduled.
    const first = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: { start: "00:00", end: "23:59" },
      retry: { max_attempts: 3, backoff_minutes: 1 },
      drivers: [optsOut, busy],
    });
    await consumeDispatch(lab);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await deliverOutbox(lab);
    const [answered, retried] = await allTargets(lab, first.json.campaign.id);
    expect(answered).toMatchObject({ status: "COMPLETED", call_successful: "failure" });
    expect(retried).toMatchObject({ status: "QUEUED", waiting_for: "retry" });

    const list = await labRequest(lab, operatorRequest("GET", "/do-not-call"));
    const { entries } = (await list.json()) as {
      entries: { phone_number: string; reason: string; call_sid: string }[];
    };
    expect(entries).toEqual([
      expect.objectContaining({
        phone_number: optsOut.phone_number,
        reason: "opt_out",
        call_sid: answered?.call_sids[0],
      }),
    ]);

    // The audit trail says who put it there: the service, from the driver's own words.
    const audit = await labRequest(lab, operatorRequest("GET", "/audit?action=driver.opted_out"));
    expect(((await audit.json()) as { events: unknown[] }).events).toEqual([
      expect.objectContaining({
        actor_kind: "system",
        subject_type: "phone_number",
        subject_id: optsOut.phone_number,
        detail: { call_sid: answered?.call_sids[0] },
      }),
    ]);

    // The busy driver opts out elsewhere (by phone to the fleet office) before its retry.
    await labRequest(
      lab,
      operatorRequest("PUT", `/do-not-call/${encodeURIComponent(busy.phone_number)}`, {
        reason: "opt_out",
      }),
    );
    lab.clock && (lab.clock as ReturnType<typeof movableClock>).advance(2 * 60_000);
    await consumeDispatch(lab);
    expect(await dialsOf(lab, busy.phone_number)).toBe(1);
    expect((await allTargets(lab, first.json.campaign.id))[1]).toMatchObject({ status: "SKIPPED" });

    const later = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: { start: "00:00", end: "23:59" },
      drivers: [optsOut],
    });
    expect(later.json.campaign.counts).toMatchObject({ skipped: 1 });
    await consumeDispatch(lab);
    expect(await dialsOf(lab, optsOut.phone_number)).toBe(1);
  });
});

describe("GET /campaigns/{id}/results.csv", () => {
  it("2,500 drivers give 2,501 lines, in request order, parsed back to the same values", async () => {
    const lab = await newLab();
    const drivers = Array.from({ length: 2_500 }, (_, index) => driver(index + 1, "0100"));
    const { json } = await createCampaign(lab, {
      name: "Week 48: HOS, speeding",
      time_zone: "UTC",
      start_at: "2030-01-01T00:00:00Z",
      drivers,
    });
    const response = await labRequest(
      lab,
      operatorRequest("GET", `/campaigns/${json.campaign.id}/results.csv`),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe(
      `attachment; filename="week-48-hos-speeding-${json.campaign.id.slice(0, 8)}-results.csv"`,
    );
    const bytes = new Uint8Array(await response.arrayBuffer());
    // A UTF-8 byte-order mark first (Excel on Windows reads the file as UTF-8 then).
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.slice(3));
    const lines = text.split("\r\n");
    expect(lines.at(-1)).toBe("");
    expect(lines).toHaveLength(2_502);
    expect(lines[0]).toBe(
      "driver_id,driver_name,phone_number,status,attempts,last_call_sid,call_successful,summary,termination_reason,last_failure_reason",
    );
    const parsed = Papa.parse<string[]>(text.trimEnd(), { skipEmptyLines: false }).data;
    expect(parsed.slice(1).map((row) => Number(row[0]))).toEqual(drivers.map((d) => d.driver_id));
    expect(parsed[1]).toEqual([
      "1",
      "Driver 1",
      drivers[0]?.phone_number,
      "QUEUED",
      "0",
      "",
      "",
      "",
      "",
      "",
    ]);
  });

  it("quotes commas, quotes, new lines and non-ASCII; guards formulas, also after blanks; adds a dc_ column per data-collection id", async () => {
    const lab = await newLab({ callSeconds: 0.05 });
    const tricky = [
      driver(1, "0100", { driver_name: 'José "Pepe" Núñez, Jr.' }),
      driver(2, "0100", { driver_name: "Line one\r\nline two" }),
      driver(3, "0100", { driver_name: '=HYPERLINK("http://evil.example","click")' }),
      driver(4, "0100", { driver_name: "@SUM(A1:A9)" }),
      driver(5, "0100", { driver_name: "-2+3" }),
      driver(6, "0100", { driver_name: "李小龍 🚚" }),
      driver(7, "0100", { driver_name: "   =1+1" }),
      driver(8, "0100", { driver_name: "\u00a0+cmd|' /C calc'!A0" }),
      driver(9, "0100", { driver_name: "Ana - Dispatch" }),
    ];
    const { json } = await createCampaign(lab, {
      time_zone: "UTC",
      calling_window: { start: "00:00", end: "23:59" },
      drivers: tricky,
    });
    await consumeDispatch(lab);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await deliverOutbox(lab);
    const response = await labRequest(
      lab,
      operatorRequest("GET", `/campaigns/${json.campaign.id}/results.csv`),
    );
    const text = await response.text();
    const [header, ...rows] = Papa.parse<string[]>(text.trimEnd()).data;
    expect(header).toEqual([
      "driver_id",
      "driver_name",
      "phone_number",
      "status",
      "attempts",
      "last_call_sid",
      "call_successful",
      "summary",
      "termination_reason",
      "last_failure_reason",
      "dc_acknowledged_violation",
      "dc_disputes_violation",
      "dc_opt_out",
    ]);
    expect(rows.map((row) => row[1])).toEqual([
      'José "Pepe" Núñez, Jr.',
      "Line one\r\nline two",
      `'=HYPERLINK("http://evil.example","click")`,
      "'@SUM(A1:A9)",
      "'-2+3",
      "李小龍 🚚",
      "'   =1+1",
      "'\u00a0+cmd|' /C calc'!A0",
      "Ana - Dispatch",
    ]);
    // The phone number is not free text: it keeps its leading +.
    expect(rows.map((row) => row[2])).toEqual(tricky.map((d) => d.phone_number));
    for (const row of rows) {
      expect(row.slice(3, 7)).toEqual([
        "COMPLETED",
        "1",
        expect.stringMatching(/^EL_\d+_\d+$/),
        "success",
      ]);
      expect(row.slice(10)).toEqual(["true", "false", "false"]);
    }
    expect(text).toContain('"=HYPERLINK(""http://evil.example"",""click"")"'.replace('"=', "\"'="));
  });

  it("404 campaign_not_found for an unknown campaign", async () => {
    const lab = await newLab();
    const response = await labRequest(
      lab,
      operatorRequest("GET", "/campaigns/0193a1c2-7f00-4c3e-9d7e-3a1f0c2b4d5e/results.csv"),
    );
    expect(response.status).toBe(404);
  });
});
