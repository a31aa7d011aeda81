// Bench-only Worker entry (never deployed): the production app, plus a route that saves a
// transcription the way the original task breakdown describes it, so `npm run bench` can
// compare the two on the same wrangler dev, the same database and the same data (and a
// diagnostic route, at the end).
//
// The baseline is the breakdown's save_transcription(call_sid):
//   1. get_conversation_id_from_call_sid: SELECT the Call by call_sid;
//   2. generate_sequence_number(call_sid) looks the Call up again ...
//   3. ... and counts the conversation's transcriptions (sequence = count + 1);
//   4. INSERT the CallTranscription.
// Four statements, so four round trips to Neon, with no per-call counter and no dedup.
// Everything else is kept equal to our route so that only the database path differs: the
// same bearer-token check, the same zod schema, the same Neon HTTP driver, drizzle and
// withDbRetry, and the same logging middleware (from createApp).
import { count, eq } from "drizzle-orm";
import { createApp } from "../../src/app.ts";
import { databaseOf } from "../../src/db/context.ts";
import { withDbRetry } from "../../src/db/retry.ts";
import { calls, callTranscriptions } from "../../src/db/schema.ts";
import type { Bindings } from "../../src/env.ts";
import { requireBearerToken } from "../../src/http/auth.ts";
import { AppError } from "../../src/http/errors.ts";
import { transcriptionRequestSchema } from "../../src/transcriptions/routes.ts";

// Also named in scripts/bench.ts (a Worker entry exports only its handler).
const BASELINE_PATH = "/bench/baseline-transcription";
const WITHOUT_DB_PATH = "/bench/transcription-without-db";

const app = createApp();

app.post(BASELINE_PATH, requireBearerToken("TRANSCRIPTION_WEBHOOK_TOKEN"), async (c) => {
  const parsed = transcriptionRequestSchema.safeParse(await c.req.json());
  if (!parsed.success) {
    throw new AppError("invalid_request", "The request body does not match the schema.");
  }
  const body = parsed.data;
  const db = databaseOf(c);

  // 1. The Call, by call_sid.
  const [call] = await withDbRetry(() =>
    db.select().from(calls).where(eq(calls.callSid, body.call_sid)).limit(1),
  );
  if (!call) throw new AppError("call_not_found", `No call has call_sid ${body.call_sid}.`);
  if (!call.conversationId) {
    throw new AppError("conversation_not_started", `Call ${body.call_sid} has no conversation.`);
  }

  // 2. The Call again (generate_sequence_number takes a call_sid, not the Call).
  const [again] = await withDbRetry(() =>
    db
      .select({ conversationId: calls.conversationId })
      .from(calls)
      .where(eq(calls.callSid, body.call_sid))
      .limit(1),
  );
  const conversationId = again?.conversationId;
  if (!conversationId) {
    throw new AppError("conversation_not_started", `Call ${body.call_sid} has no conversation.`);
  }

  // 3. count + 1. Not safe under concurrency (two requests can read the same count): the
  // bench gives each sender its own calls so that the baseline is measured, not its races.
  const [counted] = await withDbRetry(() =>
    db
      .select({ n: count() })
      .from(callTranscriptions)
      .where(eq(callTranscriptions.conversationId, conversationId)),
  );
  const sequenceNumber = (counted?.n ?? 0) + 1;

  // 4. The insert.
  const [inserted] = await withDbRetry(() =>
    db
      .insert(callTranscriptions)
      .values({
        conversationId,
        speaker: body.speaker,
        message: body.message,
        timestamp: new Date(body.timestamp),
        sequenceNumber,
      })
      .returning({ id: callTranscriptions.id, sequenceNumber: callTranscriptions.sequenceNumber }),
  );
  if (!inserted) throw new Error("INSERT ... RETURNING returned no row");

  return c.json({
    status: "success",
    message: `Transcription saved for call_sid ${body.call_sid}`,
    call_sid: body.call_sid,
    conversation_id: conversationId,
    transcription_id: inserted.id,
    sequence_number: inserted.sequenceNumber,
    duplicate: false,
  });
});

// Diagnostic: our webhook minus its database statement. The same auth, validation, log
// lines and answer, no database. It splits the gap between the no-database ceiling (a
// 404) and the webhook into "the database" and "everything else the webhook does".
app.post(WITHOUT_DB_PATH, requireBearerToken("TRANSCRIPTION_WEBHOOK_TOKEN"), async (c) => {
  const parsed = transcriptionRequestSchema.safeParse(await c.req.json());
  if (!parsed.success) {
    throw new AppError("invalid_request", "The request body does not match the schema.");
  }
  const body = parsed.data;
  c.set("callSid", body.call_sid);
  c.get("log").with({ call_sid: body.call_sid }).info("transcription_saved", {
    conversation_id: "conv_without_db",
    transcription_id: 0,
    sequence_number: 0,
  });
  return c.json({
    status: "success",
    message: `Transcription saved for call_sid ${body.call_sid}`,
    call_sid: body.call_sid,
    conversation_id: "conv_without_db",
    transcription_id: 0,
    sequence_number: 0,
    duplicate: false,
  });
});

export default { fetch: app.fetch } satisfies ExportedHandler<Bindings>;
