// The Hono environment shared by every route: bindings, per-request variables, and the
// outside services the app depends on (passed in, so tests give fakes without mocking).

import type { Actor } from "./audit/record";
import type { ElevenLabsClient } from "./elevenlabs/client";
import type { Bindings, Config } from "./env";
import type { Logger } from "./http/log";

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface AppDeps {
  clock: Clock;
  /** The ElevenLabs client for a request's configuration (tests pass a fake or the simulator). */
  elevenLabs: (config: Config) => ElevenLabsClient;
}

export type AppEnv = {
  Bindings: Bindings;
  Variables: {
    requestId: string;
    config: Config;
    log: Logger;
    deps: AppDeps;
    /** Who is asking: set by auth (src/http/auth.ts, the console's session check). */
    actor?: Actor;
    /** Set by handlers once known, so the request log line carries it. */
    callSid?: string;
  };
};
