// The console's wording for what the API's schema finds. The schema's own messages (an
// E.164 number, an IANA zone, an instant with an offset) are already written for people
// and stay; zod's defaults for the checks that carry none ("Too big: expected array to
// have <=50 items") never reach a page. Passed as zod's per-parse error map, which zod
// consults only for issues that have no message of their own, so the API's answers are
// unchanged.
import type { z } from "zod";

type RawIssue = z.core.$ZodRawIssue;

const count = (value: number | bigint) =>
  typeof value === "bigint" ? value.toString() : value.toLocaleString("en-US");

const NOT_TEXT = "is not text";

/** zod's per-parse `error` option: a sentence fragment that follows the field's name. */
export function consoleIssueWording(issue: RawIssue): string {
  switch (issue.code) {
    case "too_small": {
      const minimum = issue.minimum as number | bigint;
      if (issue.origin === "string") {
        return Number(minimum) <= 1 ? "is empty" : `must be at least ${count(minimum)} characters`;
      }
      if (issue.origin === "array" || issue.origin === "set") {
        return Number(minimum) <= 1 ? "needs at least one" : `needs at least ${count(minimum)}`;
      }
      return `must be ${count(minimum)} or more`;
    }
    case "too_big": {
      const maximum = issue.maximum as number | bigint;
      if (issue.origin === "string") return `is longer than ${count(maximum)} characters`;
      if (issue.origin === "array" || issue.origin === "set") {
        return `has more than ${count(maximum)}: at most ${count(maximum)} are taken`;
      }
      return `must be ${count(maximum)} or less`;
    }
    case "invalid_type":
      if (issue.expected === "int") return "must be a whole number";
      if (issue.expected === "number") return "must be a number";
      if (issue.expected === "string") return issue.input === undefined ? "is missing" : NOT_TEXT;
      return issue.input === undefined ? "is missing" : "is not in the expected form";
    case "invalid_format":
      return "is not in the expected form";
    case "invalid_value":
      return "is not one of the values this field takes";
    default:
      return "is not accepted";
  }
}
