// Opaque keyset cursors: base64url JSON of the last row's sort key. A cursor the service
// did not hand out (or tampered with) is a 400 that names the field, never a 500.
import { z } from "zod";
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

/**
 * created_at exactly as Postgres holds it (microseconds, UTC, as ISO_US formats it), and a
 * real instant: a well-shaped impossible one (February 30) would make Postgres fail the
 * cast, a 500.
 */
export const cursorInstant = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
  .refine((value) => {
    const milliseconds = `${value.slice(0, 23)}Z`;
    const instant = new Date(milliseconds);
    return !Number.isNaN(instant.getTime()) && instant.toISOString() === milliseconds;
  });
