// Field schemas shared by routes. They reject what Postgres would refuse later (NUL bytes,
// lone surrogates, impossible dates), so that bad input is a 400 and never a 500.
import { z } from "@hono/zod-openapi";

const ISO_WITH_ZONE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
const ISO_WITHOUT_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

function isRealInstant(value: string): boolean {
  const match = ISO_WITH_ZONE.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match
    .slice(1, 7)
    .map((part) => Number(part ?? 0));
  const offset = match[7] ?? "Z";
  const offsetOk =
    offset.toUpperCase() === "Z" || Number(offset.replace(":", "").slice(1, 3)) <= 23;
  const date = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1));
  return (
    offsetOk &&
    (hour ?? 0) <= 23 &&
    (minute ?? 0) <= 59 &&
    (second ?? 0) <= 59 &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === (month ?? 1) - 1 &&
    date.getUTCDate() === day &&
    !Number.isNaN(Date.parse(value))
  );
}

/** ISO 8601 date-time with `Z` or an offset; parsed to a Date (an instant). */
export const isoInstant = z
  .string()
  .superRefine((value, ctx) => {
    if (ISO_WITHOUT_ZONE.test(value)) {
      ctx.addIssue({
        code: "custom",
        message: "must include a time zone: end it with Z or an offset such as -06:00",
      });
    } else if (!isRealInstant(value)) {
      ctx.addIssue({
        code: "custom",
        message: "must be an ISO 8601 date-time with a time zone, e.g. 2026-11-23T14:05:09.120Z",
      });
    }
  })
  .openapi({ format: "date-time", example: "2026-11-23T14:05:09.120Z" });

/** Text Postgres can store: no NUL byte, no lone UTF-16 surrogate. */
export function storableText(min: number, max: number) {
  return z
    .string()
    .min(min)
    .max(max)
    .refine((value) => !value.includes("\u0000"), "must not contain NUL bytes")
    .refine((value) => value.isWellFormed(), "must be well-formed Unicode");
}
