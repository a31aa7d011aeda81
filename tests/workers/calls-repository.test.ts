// The Call data functions, against the real database through the Neon driver.
import { describe, expect, it } from "vitest";
import {
  CallSidTakenError,
  ConversationNotStartedError,
  createCallWithCallSid,
  getCallByCallSid,
  getConversationIdFromCallSid,
  lookupDriverIdByCallSid,
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
    const updated = await updateStatusByCallSid(db, callSid, "COMPLETED", endTime);
    expect(updated?.status).toBe("COMPLETED");
    expect(updated?.callEndTime?.toISOString()).toBe("2026-11-23T14:10:00.000Z");
    expect(await updateStatusByCallSid(db, "EL_0_0_404", "FAILED")).toBeNull();
  });

  it("never moves a finished call back to IN_PROGRESS", async () => {
    const { callSid } = await newCall();
    await updateStatusByCallSid(db, callSid, "FAILED");
    expect(await updateStatusByCallSid(db, callSid, "IN_PROGRESS")).toBeNull();
    expect((await getCallByCallSid(db, callSid))?.status).toBe("FAILED");
  });

  it("lookupDriverIdByCallSid returns the driver, or null", async () => {
    const { callSid, driverId } = await newCall();
    expect(await lookupDriverIdByCallSid(db, callSid)).toBe(driverId);
    expect(await lookupDriverIdByCallSid(db, "EL_0_0_404")).toBeNull();
  });

  it("getConversationIdFromCallSid: null for no call, a typed error before the conversation starts, then the id", async () => {
    const { callSid } = await newCall();
    expect(await getConversationIdFromCallSid(db, "EL_0_0_404")).toBeNull();
    await expect(getConversationIdFromCallSid(db, callSid)).rejects.toBeInstanceOf(
      ConversationNotStartedError,
    );
    await updateConversationId(db, callSid, `conv_${callSid}`);
    expect(await getConversationIdFromCallSid(db, callSid)).toBe(`conv_${callSid}`);
  });
});
