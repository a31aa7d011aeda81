// The bad paths of the transcription webhook: every one answers its 4xx with the
// contract's JSON, never a 500, and writes no row.
import { beforeAll, describe, expect, it } from "vitest";
import { TEST_SECRETS } from "../setup/test-secrets";
import {
  countTranscriptionRows,
  insertTestCall,
  type TestCall,
  transcriptionRequest,
} from "../support/calls";
import { testSql } from "../support/sql";
import { callWorker, readError } from "../support/worker";

const PATH = "http://driver-calls.test/webhooks/elevenlabs/transcription";
const AUTH = { authorization: `Bearer ${TEST_SECRETS.TRANSCRIPTION_WEBHOOK_TOKEN}` };

let call: TestCall;
beforeAll(async () => {
  call = await insertTestCall();
});

function valid(overrides: Record<string, unknown> = {}) {
  return {
    call_sid: call.callSid,
    speaker: "agent",
    message: "Hello",
    timestamp: "2026-11-23T14:05:09.120Z",
    ...overrides,
  };
}

function without(field: string) {
  const body: Record<string, unknown> = valid();
  delete body[field];
  return body;
}

function raw(body: string, headers: Record<string, string> = {}) {
  return new Request(PATH, {
    method: "POST",
    headers: { "content-type": "application/json", ...AUTH, ...headers },
    body,
  });
}

type Case = [name: string, request: () => Request, status: number, code: string, field?: string];

const cases: Case[] = [
  ["malformed JSON", () => raw('{"call_sid": "EL_1_1",'), 400, "invalid_json"],
  ["empty body", () => raw(""), 400, "invalid_json"],
  ["JSON null", () => raw("null"), 400, "invalid_request"],
  ["array body", () => raw(JSON.stringify([valid()])), 400, "invalid_request"],
  ["string body", () => raw('"hello"'), 400, "invalid_request"],
  ["number body", () => raw("42"), 400, "invalid_request"],
  [
    "missing call_sid",
    () => transcriptionRequest(without("call_sid")),
    400,
    "invalid_request",
    "call_sid",
  ],
  [
    "missing speaker",
    () => transcriptionRequest(without("speaker")),
    400,
    "invalid_request",
    "speaker",
  ],
  [
    "missing message",
    () => transcriptionRequest(without("message")),
    400,
    "invalid_request",
    "message",
  ],
  [
    "missing timestamp",
    () => transcriptionRequest(without("timestamp")),
    400,
    "invalid_request",
    "timestamp",
  ],
  [
    "call_sid a number",
    () => transcriptionRequest(valid({ call_sid: 1042 })),
    400,
    "invalid_request",
    "call_sid",
  ],
  [
    "call_sid null",
    () => transcriptionRequest(valid({ call_sid: null })),
    400,
    "invalid_request",
    "call_sid",
  ],
  [
    "empty call_sid",
    () => transcriptionRequest(valid({ call_sid: "" })),
    400,
    "invalid_request",
    "call_sid",
  ],
  [
    "256-character call_sid",
    () => transcriptionRequest(valid({ call_sid: "E".repeat(256) })),
    400,
    "invalid_request",
    "call_sid",
  ],
  [
    "unknown speaker",
    () => transcriptionRequest(valid({ speaker: "system" })),
    400,
    "invalid_request",
    "speaker",
  ],
  [
    "speaker in capitals",
    () => transcriptionRequest(valid({ speaker: "AGENT" })),
    400,
    "invalid_request",
    "speaker",
  ],
  [
    "empty message",
    () => transcriptionRequest(valid({ message: "" })),
    400,
    "invalid_request",
    "message",
  ],
  [
    "10,001-character message",
    () => transcriptionRequest(valid({ message: "m".repeat(10_001) })),
    400,
    "invalid_request",
    "message",
  ],
  [
    "message an object",
    () => transcriptionRequest(valid({ message: { text: "hi" } })),
    400,
    "invalid_request",
    "message",
  ],
  [
    "message with a NUL byte",
    () => transcriptionRequest(valid({ message: "a\u0000b" })),
    400,
    "invalid_request",
    "message",
  ],
  [
    "message with a lone surrogate",
    () =>
      raw(
        `{"call_sid":"${"x"}","speaker":"agent","message":"\\ud800","timestamp":"2026-11-23T14:05:09Z"}`,
      ),
    400,
    "invalid_request",
    "message",
  ],
  [
    "call_sid with a NUL byte",
    () => transcriptionRequest(valid({ call_sid: "EL_1\u0000" })),
    400,
    "invalid_request",
    "call_sid",
  ],
  [
    "timestamp without a zone",
    () => transcriptionRequest(valid({ timestamp: "2026-11-23T14:05:09" })),
    400,
    "invalid_request",
    "timestamp",
  ],
  [
    "timestamp not a date",
    () => transcriptionRequest(valid({ timestamp: "yesterday" })),
    400,
    "invalid_request",
    "timestamp",
  ],
  [
    "impossible date",
    () => transcriptionRequest(valid({ timestamp: "2026-02-30T10:00:00Z" })),
    400,
    "invalid_request",
    "timestamp",
  ],
  [
    "hour 25",
    () => transcriptionRequest(valid({ timestamp: "2026-11-23T25:00:00Z" })),
    400,
    "invalid_request",
    "timestamp",
  ],
  [
    "timestamp a number",
    () => transcriptionRequest(valid({ timestamp: 1763906709 })),
    400,
    "invalid_request",
    "timestamp",
  ],
  [
    "date only",
    () => transcriptionRequest(valid({ timestamp: "2026-11-23" })),
    400,
    "invalid_request",
    "timestamp",
  ],
  [
    "70 KiB body",
    () => transcriptionRequest(valid({ message: "m".repeat(70 * 1024) })),
    413,
    "payload_too_large",
  ],
  [
    "form content type",
    () =>
      raw("call_sid=EL_1_1&speaker=agent", { "content-type": "application/x-www-form-urlencoded" }),
    415,
    "unsupported_media_type",
  ],
  [
    "text/plain content type",
    () => raw(JSON.stringify(valid()), { "content-type": "text/plain" }),
    415,
    "unsupported_media_type",
  ],
  [
    "no content type",
    () => new Request(PATH, { method: "POST", headers: AUTH, body: JSON.stringify(valid()) }),
    415,
    "unsupported_media_type",
  ],
  [
    "SQL in call_sid",
    () => transcriptionRequest(valid({ call_sid: "x'; DROP TABLE calls; --" })),
    400,
    "call_not_found",
  ],
  [
    "emoji call_sid",
    () => transcriptionRequest(valid({ call_sid: "EL_🚚_1" })),
    400,
    "call_not_found",
  ],
  [
    "call_sid of another shape",
    () => transcriptionRequest(valid({ call_sid: "conv_abc123" })),
    400,
    "call_not_found",
  ],
];

describe("bad input to the transcription webhook", () => {
  it.each(cases)("%s -> %i %s, and no row", async (_name, makeRequest, status, code, field) => {
    const rowsBefore = await countTranscriptionRows();
    const response = await callWorker(makeRequest());
    expect(response.status).toBe(status);
    const body = await readError(response);
    expect(body.error.code).toBe(code);
    if (field) {
      expect(body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ field })]),
      );
    }
    expect(await countTranscriptionRows()).toBe(rowsBefore);
  });

  it("accepts extra fields, emoji and SQL-looking text in a message, and stores them verbatim", async () => {
    const message = "Done 🚚✅ — it's fine'; DROP TABLE calls; --";
    const response = await callWorker(
      transcriptionRequest(
        valid({ message, unexpected: { nested: true }, timestamp: "2026-11-23T14:05:10Z" }),
      ),
    );
    expect(response.status).toBe(200);
    const rows = await testSql.query(
      "SELECT message FROM call_transcriptions WHERE conversation_id = $1",
      [call.conversationId],
    );
    expect(rows).toContainEqual({ message });
  });

  it("says that a timestamp needs a time zone", async () => {
    const response = await callWorker(
      transcriptionRequest(valid({ timestamp: "2026-11-23T14:05:09" })),
    );
    expect(JSON.stringify(await readError(response))).toContain("time zone");
  });
});

describe("authentication of the transcription webhook", () => {
  const body = () => JSON.stringify(valid({ message: "auth probe" }));
  const authCases: [string, Record<string, string>][] = [
    ["no Authorization header", {}],
    ["the wrong scheme", { authorization: `Basic ${TEST_SECRETS.TRANSCRIPTION_WEBHOOK_TOKEN}` }],
    ["a wrong token", { authorization: "Bearer not-the-token" }],
    [
      "the token of another route (API_TOKEN)",
      { authorization: `Bearer ${TEST_SECRETS.API_TOKEN}` },
    ],
    [
      "a token with a suffix",
      { authorization: `Bearer ${TEST_SECRETS.TRANSCRIPTION_WEBHOOK_TOKEN}x` },
    ],
    ["an empty bearer", { authorization: "Bearer " }],
  ];

  it.each(authCases)("%s -> 401 unauthorized, and no row", async (_name, headers) => {
    const rowsBefore = await countTranscriptionRows();
    const response = await callWorker(
      new Request(PATH, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: body(),
      }),
    );
    expect(response.status).toBe(401);
    expect((await readError(response)).error.code).toBe("unauthorized");
    expect(await countTranscriptionRows()).toBe(rowsBefore);
  });

  it("refuses every request when TRANSCRIPTION_WEBHOOK_TOKEN is not configured (fail closed)", async () => {
    const response = await callWorker(transcriptionRequest(valid({ message: "unset token" }), ""), {
      env: { TRANSCRIPTION_WEBHOOK_TOKEN: "" },
    });
    expect(response.status).toBe(401);
  });
});
