// The Worker's bindings: secrets (wrangler secrets / .dev.vars) and vars (wrangler.toml).
// Parsed once per request with zod, so a missing or malformed value is a clear
// configuration error at the edge of the app, not an `undefined` deep inside it.
import { z } from "zod";

const optionalSecret = z
  .string()
  .optional()
  .transform((value) => (value && value.length > 0 ? value : undefined));

export const envSchema = z.object({
  DATABASE_URL: z.url({ message: "DATABASE_URL must be a postgres:// URL" }).optional(),
  API_TOKEN: optionalSecret,
  TRANSCRIPTION_WEBHOOK_TOKEN: optionalSecret,
  ELEVENLABS_API_KEY: optionalSecret,
  ELEVENLABS_WEBHOOK_SECRET: optionalSecret,
  ELEVENLABS_AGENT_ID: optionalSecret,
  ELEVENLABS_AGENT_PHONE_NUMBER_ID: optionalSecret,
  ELEVENLABS_API_BASE_URL: z.url().default("https://api.elevenlabs.io"),
  // At most 6: a Worker invocation holds at most 6 connections waiting for response headers
  // at once (ElevenLabs and the Neon driver's statements share them); a seventh waits in a
  // queue while its own timeout runs, which makes false timeouts.
  CALL_CONCURRENCY: z.coerce.number().int().min(1).max(6).default(5),
  /** The ElevenLabs plan's concurrent conversations: no dial makes more calls live. */
  MAX_LIVE_CALLS: z.coerce.number().int().min(1).max(1000).default(10),
  /**
   * Days a finished call keeps its transcript, analysis and failure detail: the daily cron
   * purges them afterwards (src/retention/purge.ts). The Call row itself stays.
   */
  RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(90),
  /** Days an audit event is kept: the daily cron deletes older ones (the only deletion). */
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(730),
  /** Local only: the local Neon HTTP endpoint that stands in for Neon's SQL-over-HTTP proxy. */
  NEON_HTTP_ENDPOINT: z.url().optional(),
  /**
   * Cloudflare Access in front of /console (both set, or the console signs people in with
   * their operator tokens): the team domain (`myteam.cloudflareaccess.com`) and the
   * application's audience (AUD) tag.
   */
  ACCESS_TEAM_DOMAIN: optionalSecret,
  ACCESS_AUD: optionalSecret,
  /**
   * `npm run dev` and the tests only: event endpoints may be http(s)://127.0.0.1 or
   * localhost (src/events/endpoint-url.ts). Never set in staging or production.
   */
  ALLOW_LOCAL_EVENT_ENDPOINTS: z
    .enum(["true", "false"])
    .optional()
    .transform((value) => value === "true"),
});

export type Config = z.infer<typeof envSchema>;

/**
 * What wrangler hands the Worker: every var and secret is a string (or absent); the
 * dispatch queue is a Cloudflare Queue binding (wrangler.toml).
 */
export type Bindings = { [K in keyof z.input<typeof envSchema>]?: string } & {
  DISPATCH_QUEUE?: Queue<DispatchMessage>;
  /** Event deliveries to the fleet's endpoints (src/events/). */
  EVENTS_QUEUE?: Queue<EventsMessage>;
  /** Failed console sign-ins per client address (wrangler.toml [[ratelimits]]). */
  SIGN_IN_LIMITER?: RateLimit;
};

/** What a dispatch queue message carries: a nudge, never a decision (see src/dispatch/). */
export interface DispatchMessage {
  kind: "dispatch";
  /**
   * Why it was sent, for the logs: the consumer re-reads the database. One reason also
   * asks for more: INBOX_WAKE_REASON, a post-call event was kept for a Call not known yet,
   * so the consumer applies the inbox first (src/elevenlabs/inbox.ts).
   */
  reason: string;
}

/** What an events queue message carries: a nudge to send due deliveries (src/events/). */
export interface EventsMessage {
  kind: "events";
  reason: string;
}

/** The reason of the message a kept post-call event sends (delayed a few seconds). */
export const INBOX_WAKE_REASON = "post_call_event_kept";

const parsedConfigs = new WeakMap<object, Config>();

/** Parses the bindings once per env object (Workers reuse it across requests). */
export function readConfig(bindings: Bindings): Config {
  const cached = parsedConfigs.get(bindings);
  if (cached) return cached;
  const result = envSchema.safeParse(bindings);
  if (!result.success) {
    const fields = result.error.issues.map((issue) => issue.path.join(".")).join(", ");
    throw new ConfigurationError(`invalid configuration: ${fields}`);
  }
  parsedConfigs.set(bindings, result.data);
  return result.data;
}

export class ConfigurationError extends Error {
  override name = "ConfigurationError";
}
