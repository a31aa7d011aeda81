// The Call data functions, against the real database through the Neon driver.
import { describe, expect, it } from "vitest";
import {
  CallSidTakenError,
  createCallWithCallSid,
  getCallByCallSid,
  updateConversationId,
  updateStatusByCallSid,
} from "../../src/calls/repository";
import { createDatabase } from "../../src/db/client";
import { freshCallSid, freshDriverId } from "../support/calls";
import { testEnv } from "../support/worker";

const db = createDatabase(testEnv.DATABASE_URL, testEnv.NEON_HTTP_ENDPOINT);

async function newCall(startedAt = new Date("2026-11-23T14:00:00Z")) {
  const driverId = freshDriverId();
  const callSid = freshCallSid(driverId);
  const call = await createCallWithCallSid(db, { callSid, driverId, callStartTime: startedAt });
  return { call, callSid, driverId };
}

describe("Call data functions", () => {
  it("createCallWithCallSid writes an IN_PROGRESS call with a NULL conversation_id", async () => {
    const { call, callSid, driverId } = await newCall();
    expect(call).toMatchObject({ callSid, driverId, conversationId: null, status: "IN_PROGRESS" });
    expect(call.callStartTime?.toISOString()).toBe("2026-11-23T14:00:00.000Z");
    expect(call.createdAt).toBeInstanceOf(Date);
  });

  it("createCallWithCallSid refuses a call_sid that is taken", async () => {
    const { callSid } = await newCall();
    await expect(
      createCallWithCallSid(db, { callSid, driverId: 1, callStartTime: new Date() }),
    ).rejects.toBeInstanceOf(CallSidTakenError);
  });

  it("getCallByCallSid finds the call, and null for an unknown call_sid", async () => {
    const { call, callSid } = await newCall();
    expect((await getCallByCallSid(db, callSid))?.id).toBe(call.id);
    expect(await getCallByCallSid(db, "EL_0_0_404")).toBeNull();
  });

  it("updateConversationId sets it and updated_at; null for an unknown call", async () => {
    const { call, callSid } = await newCall();
    const updated = await updateConversationId(db, callSid, `conv_${crypto.randomUUID()}`);
    expect(updated?.conversationId).toMatch(/^conv_/);
    expect(updated?.updatedAt.getTime()).toBeGreaterThanOrEqual(call.updatedAt.getTime());
    expect(await updateConversationId(db, "EL_0_0_404", "conv_x")).toBeNull();
  });

  it("updateStatusByCallSid sets status and end time, keeping the instant of an offset time", async () => {
    const { callSid } = await newCall();
    const endTime = new Date("2026-11-23T08:10:00-06:00");
    const updated = await updateStatusByCallSid(db, callSid, "COMPLETED", { callEndTime: endTime });
    expect(updated).toMatchObject({
      status: "COMPLETED",
      failureReason: null,
      failureDetail: null,
    });
    expect(updated?.callEndTime?.toISOString()).toBe("2026-11-23T14:10:00.000Z");
    expect(await updateStatusByCallSid(db, "EL_0_0_404", "FAILED")).toBeNull();
  });

  it("updateStatusByCallSid FAILED stores the reason code and the sentence apart", async () => {
    const { callSid } = await newCall();
    const updated = await updateStatusByCallSid(db, callSid, "FAILED", {
      failureReason: "elevenlabs_http_error",
      failureDetail: "ElevenLabs answered HTTP 422: invalid phone number (call to ***0042).",
    });
    expect(updated).toMatchObject({
      status: "FAILED",
      failureReason: "elevenlabs_http_error",
      failureDetail: "ElevenLabs answered HTTP 422: invalid phone number (call to ***0042).",
      callEndTime: null,
    });
    expect(await getCallByCallSid(db, callSid)).toMatchObject({
      failureReason: "elevenlabs_http_error",
      failureDetail: "ElevenLabs answered HTTP 422: invalid phone number (call to ***0042).",
    });
  });

  it("never moves a finished call back to IN_PROGRESS", async () => {
    const { callSid } = await newCall();
    await updateStatusByCallSid(db, callSid, "FAILED", { failureReason: "busy" });
    // @ts-expect-error: IN_PROGRESS is not a status this function moves a call to.
    expect(await updateStatusByCallSid(db, callSid, "IN_PROGRESS")).toBeNull();
    expect(await getCallByCallSid(db, callSid)).toMatchObject({
      status: "FAILED",
      failureReason: "busy",
    });
  });

  it("never turns a COMPLETED call into FAILED (null, the call as it was)", async () => {
    const { callSid } = await newCall();
    const endTime = new Date("2026-11-23T14:10:00Z");
    await updateStatusByCallSid(db, callSid, "COMPLETED", { callEndTime: endTime });
    expect(
      await updateStatusByCallSid(db, callSid, "FAILED", {
        failureReason: "conversation_failed",
        failureDetail: "late",
        callEndTime: new Date("2026-11-23T15:00:00Z"),
      }),
    ).toBeNull();
    const call = await getCallByCallSid(db, callSid);
    expect(call).toMatchObject({ status: "COMPLETED", failureReason: null, failureDetail: null });
    expect(call?.callEndTime?.toISOString()).toBe(endTime.toISOString());
  });
});
