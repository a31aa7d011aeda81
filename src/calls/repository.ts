// The Call data functions. Each is one statement through withDbRetry, and all times are
// timestamptz in the database and UTC `Date`s here.
import { and, eq, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { type RetryOptions, sqlState, withDbRetry } from "../db/retry";
import { type Call, type CallStatus, calls } from "../db/schema";

export class CallSidTakenError extends Error {
  override name = "CallSidTakenError";
}

/** The Call exists but ElevenLabs has not given it a conversation_id (yet, or ever). */
export class ConversationNotStartedError extends Error {
  override name = "ConversationNotStartedError";
  readonly callSid: string;
  constructor(callSid: string) {
    super(`call ${callSid} has no conversation_id yet`);
    this.callSid = callSid;
  }
}

export interface NewCall {
  callSid: string;
  driverId: number | null;
  callStartTime: Date;
  status?: CallStatus;
}

/** Writes a Call before ElevenLabs is called: conversation_id stays NULL until it answers. */
export async function createCallWithCallSid(
  db: Database,
  { callSid, driverId, callStartTime, status = "IN_PROGRESS" }: NewCall,
  retry?: RetryOptions,
): Promise<Call> {
  try {
    const [created] = await withDbRetry(
      () =>
        db
          .insert(calls)
          .values({ callSid, driverId, callStartTime, status, conversationId: null })
          .returning(),
      retry,
    );
    if (!created) throw new Error("INSERT ... RETURNING returned no row");
    return created;
  } catch (error) {
    if (sqlState(error) === "23505") throw new CallSidTakenError(`call_sid ${callSid} is taken`);
    throw error;
  }
}

export async function getCallByCallSid(
  db: Database,
  callSid: string,
  retry?: RetryOptions,
): Promise<Call | null> {
  const [call] = await withDbRetry(
    () => db.select().from(calls).where(eq(calls.callSid, callSid)).limit(1),
    retry,
  );
  return call ?? null;
}

export async function updateConversationId(
  db: Database,
  callSid: string,
  conversationId: string,
  retry?: RetryOptions,
): Promise<Call | null> {
  const [updated] = await withDbRetry(
    () =>
      db
        .update(calls)
        .set({ conversationId, updatedAt: sql`now()` })
        .where(eq(calls.callSid, callSid))
        .returning(),
    retry,
  );
  return updated ?? null;
}

/**
 * Sets the status (and the end time, when given). A finished call (COMPLETED or FAILED)
 * never goes back to IN_PROGRESS: such an update matches no row and returns null.
 */
export async function updateStatusByCallSid(
  db: Database,
  callSid: string,
  status: CallStatus,
  callEndTime?: Date,
  retry?: RetryOptions,
): Promise<Call | null> {
  const [updated] = await withDbRetry(
    () =>
      db
        .update(calls)
        .set({
          status,
          updatedAt: sql`now()`,
          ...(callEndTime ? { callEndTime } : {}),
        })
        .where(
          status === "IN_PROGRESS"
            ? and(eq(calls.callSid, callSid), eq(calls.status, "IN_PROGRESS"))
            : eq(calls.callSid, callSid),
        )
        .returning(),
    retry,
  );
  return updated ?? null;
}

/** The driver of a call; null when there is no such call (or the call has no driver). */
export async function lookupDriverIdByCallSid(
  db: Database,
  callSid: string,
  retry?: RetryOptions,
): Promise<number | null> {
  const [row] = await withDbRetry(
    () =>
      db
        .select({ driverId: calls.driverId })
        .from(calls)
        .where(eq(calls.callSid, callSid))
        .limit(1),
    retry,
  );
  return row?.driverId ?? null;
}

/**
 * Step one of the two-step lookup: call_sid -> Call -> conversation_id.
 * Null when no Call has that call_sid; ConversationNotStartedError when the Call exists
 * but ElevenLabs has not (yet) given it a conversation_id.
 */
export async function getConversationIdFromCallSid(
  db: Database,
  callSid: string,
  retry?: RetryOptions,
): Promise<string | null> {
  const [row] = await withDbRetry(
    () =>
      db
        .select({ conversationId: calls.conversationId })
        .from(calls)
        .where(eq(calls.callSid, callSid))
        .limit(1),
    retry,
  );
  if (!row) return null;
  if (row.conversationId === null) throw new ConversationNotStartedError(callSid);
  return row.conversationId;
}
