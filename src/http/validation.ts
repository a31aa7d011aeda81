// Every route answers a schema violation the same way: 400 invalid_request, with the
// fields named in details so the sender knows what to fix.
import type { Hook } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { AppError } from "./errors";

interface Issue {
  path: PropertyKey[];
  message: string;
}

export function describeIssues(issues: readonly Issue[]) {
  return issues.map((issue) => ({
    field: issue.path.map(String).join(".") || "(body)",
    message: issue.message,
  }));
}

// Typed loosely on purpose: the one hook serves every route's schema.
export const validationHook: Hook<any, AppEnv, any, any> = (result) => {
  if (result.success) return;
  const details = describeIssues(result.error.issues);
  const fields = [...new Set(details.map((detail) => detail.field))].join(", ");
  throw new AppError("invalid_request", `The request is invalid: check ${fields}.`, { details });
};
