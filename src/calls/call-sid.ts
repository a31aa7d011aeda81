// call_sid: our own id for a call, known before ElevenLabs is asked to dial, so that every
// webhook can be matched to a Call row even before ElevenLabs' conversation_id exists.
// Format `EL_{driver_id}_{unix_seconds}`, with `_{n}` (n = 2, 3, ...) when that id is taken
// (the same driver called twice in one second). Legacy rows use `UNKNOWN` for a NULL driver.

export function baseCallSid(driverId: number | null, at: Date): string {
  return `EL_${driverId ?? "UNKNOWN"}_${Math.floor(at.getTime() / 1000)}`;
}

/** The n-th candidate for a base: n = 1 is the base itself, then `_2`, `_3`, ... */
export function callSidCandidate(base: string, n: number): string {
  return n <= 1 ? base : `${base}_${n}`;
}

export const CALL_SID_PATTERN = /^EL_(\d+|UNKNOWN)_\d+(_\d+)?$/;
