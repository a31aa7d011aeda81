// The calling rules applied to a stored window: campaigns keep their window as its wire
// shape (jsonb), parsed here once per distinct window.

import {
  type CallingWindow,
  nextOpening,
  parseCallingWindow,
  type WindowOpening,
} from "../calling-rules/window";
import type { CallingWindowJson } from "../db/schema";

const parsed = new Map<string, CallingWindow>();

export function storedWindow(window: CallingWindowJson): CallingWindow {
  const key = JSON.stringify(window);
  let found = parsed.get(key);
  if (!found) {
    const result = parseCallingWindow({
      start: window.start,
      end: window.end,
      days: window.days ?? undefined,
    });
    // Stored windows were validated when the campaign was created.
    if (!result.ok) throw new Error(`stored calling window is invalid: ${key}`);
    found = result.window;
    if (parsed.size > 1_000) parsed.clear();
    parsed.set(key, found);
  }
  return found;
}

/** The first opening of the window in `timeZone` at or after `notBefore`. */
export function openingAfter(
  window: CallingWindowJson,
  timeZone: string,
  notBefore: Date,
): WindowOpening {
  return nextOpening(storedWindow(window), timeZone, notBefore);
}
