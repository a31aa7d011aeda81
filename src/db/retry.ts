// Retries of transient database faults. Neon's HTTP endpoint can be briefly unreachable
// or answer 5xx, and Postgres can abort a statement for reasons that go away on a retry
// (serialization failure, deadlock, admin shutdown, connection exceptions). Anything else,
// constraint violations above all, is an answer, not a fault, and is never retried.
import { AppError } from "../http/errors";

export interface RetryOptions {
  /** Retries after the first attempt. */
  retries?: number;
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  onRetry?: (attempt: number, error: unknown) => void;
}

const TRANSIENT_SQLSTATES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
]);

/** The Postgres SQLSTATE of an error, looking through drizzle's DrizzleQueryError wrapper. */
export function sqlState(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The constraint named by a Postgres error (unique violations), looking through wrappers. */
export function violatedConstraint(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const constraint = (current as { constraint?: unknown }).constraint;
    if (typeof constraint === "string") return constraint;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isTransientDatabaseError(error: unknown): boolean {
  const state = sqlState(error);
  if (state) return TRANSIENT_SQLSTATES.has(state) || state.startsWith("08");
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const message = current instanceof Error ? current.message : "";
    // The driver's own words for "the endpoint did not answer" and "answered 5xx".
    if (message.startsWith("Error connecting to database")) return true;
    if (/^Server error \(HTTP status 5\d\d\)/.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

const RETRY_AFTER_SECONDS = "5";

export async function withDbRetry<T>(
  operation: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const retries = options.retries ?? 3;
  const baseDelayMs = options.baseDelayMs ?? 50;
  const sleep = options.sleep ?? defaultSleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isTransientDatabaseError(error)) throw error;
      if (attempt >= retries) {
        throw new AppError(
          "database_unavailable",
          "The database is unavailable right now. Nothing was saved; please retry shortly.",
          { headers: { "Retry-After": RETRY_AFTER_SECONDS }, cause: error },
        );
      }
      options.onRetry?.(attempt + 1, error);
      // Exponential backoff with full jitter, so concurrent retries do not line up.
      await sleep(Math.random() * baseDelayMs * 2 ** attempt);
    }
  }
}

function defaultSleep(ms: number) {
  return new Promise<void>((resolve) => setTimeout(resolve, ms));
}
