// One error type and one JSON shape for every error the service answers with:
// {"error": {"code", "message", "details"?, "request_id"}}. Anything that is not an
// AppError becomes a generic 500 that leaks no stack, SQL or secret.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export const ERROR_STATUS = {
  invalid_json: 400,
  invalid_request: 400,
  call_not_found: 400,
  conversation_not_started: 400,
  unauthorized: 401,
  not_found: 404,
  campaign_not_found: 404,
  campaign_finished: 409,
  driver_in_call: 409,
  idempotency_key_in_use: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  at_capacity: 429,
  internal_error: 500,
  configuration_error: 500,
  database_unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  override name = "AppError";
  readonly code: ErrorCode;
  readonly status: ContentfulStatusCode;
  readonly details: unknown;
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      status?: ContentfulStatusCode;
      details?: unknown;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.status = options.status ?? ERROR_STATUS[code];
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown; request_id: string };
}

export function errorBody(c: Context, error: AppError): ErrorBody {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
      request_id: c.get("requestId") ?? "unknown",
    },
  };
}

export function renderError(c: Context, error: AppError): Response {
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
  return c.json(errorBody(c, error), error.status);
}
