// Opaque keyset cursors: base64url JSON of the last row's sort key. A cursor the service
// did not hand out (or tampered with) is a 400 that names the field, never a 500.
import type { z } from "zod";
import { AppError } from "./errors";

export function encodeCursor(position: Record<string, string | number>): string {
  return btoa(JSON.stringify(position))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** The position a cursor names; throws 400 invalid_request for anything else. */
export function decodeCursor<T>(cursor: string, shape: z.ZodType<T>): T {
  if (/^[A-Za-z0-9_-]{1,300}$/.test(cursor)) {
    try {
      const parsed = shape.safeParse(
        JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/"))),
      );
      if (parsed.success) return parsed.data;
    } catch {
      // Not base64 or not JSON: refused below.
    }
  }
  throw new AppError("invalid_request", "The request is invalid: check cursor.", {
    details: [
      { field: "cursor", message: "is not a cursor from a previous page; start again without it" },
    ],
  });
}

/** created_at with microseconds, as ISO_US formats it, and a real instant. */
export const CURSOR_INSTANT =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z$/;
