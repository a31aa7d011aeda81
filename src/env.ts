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
  CALL_CONCURRENCY: z.coerce.number().int().min(1).max(20).default(5),
  /** Local only: the local Neon HTTP endpoint that stands in for Neon's SQL-over-HTTP proxy. */
  NEON_HTTP_ENDPOINT: z.url().optional(),
});

export type Config = z.infer<typeof envSchema>;

/** What wrangler hands the Worker: every binding is a string (or absent). */
export type Bindings = { [K in keyof z.input<typeof envSchema>]?: string };

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
