// Structured logs: one JSON object per line, which Workers Logs indexes field by field.
// Never log a secret, and never a full phone number (last four digits only).

export type LogFields = Record<string, unknown>;

export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  with(fields: LogFields): Logger;
}

/** "+15551230042" -> "***0042". Anything shorter than five characters is fully masked. */
export function maskPhoneNumber(phoneNumber: string): string {
  return phoneNumber.length < 5 ? "***" : `***${phoneNumber.slice(-4)}`;
}

const PHONE_NUMBER = /\+?\d[\d\s().-]{7,}\d/g;

/** Masks anything that looks like a phone number inside free text (error messages). */
export function maskPhoneNumbersIn(text: string): string {
  return text.replace(PHONE_NUMBER, (match) => maskPhoneNumber(match.replace(/\D/g, "")));
}

export function createLogger(
  base: LogFields = {},
  sink: (line: string) => void = console.log,
): Logger {
  const write = (level: string, event: string, fields: LogFields = {}) => {
    sink(JSON.stringify({ level, event, time: new Date().toISOString(), ...base, ...fields }));
  };
  return {
    info: (event, fields) => write("info", event, fields),
    warn: (event, fields) => write("warn", event, fields),
    error: (event, fields) => write("error", event, fields),
    with: (fields) => createLogger({ ...base, ...fields }, sink),
  };
}

/** What to log of an unknown error: its name and message (masked), never params or stacks. */
export function describeError(error: unknown): LogFields {
  if (!(error instanceof Error)) return { error: maskPhoneNumbersIn(String(error)) };
  const cause = error.cause instanceof Error ? error.cause : undefined;
  return {
    error_name: error.name,
    // A DrizzleQueryError's message holds the SQL and its params: log the cause instead.
    error: maskPhoneNumbersIn((cause ?? error).message.split("\nparams:")[0] ?? ""),
    ...sqlStateOf(cause),
  };
}

function sqlStateOf(error: unknown): LogFields {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? { sqlstate: code } : {};
}
