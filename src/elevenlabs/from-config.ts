import type { Config } from "../env";
import { AppError } from "../http/errors";
import { createElevenLabsClient, type ElevenLabsClient } from "./client";

/** The real client, from the bindings; a missing key or agent id is a configuration error. */
export function elevenLabsClientFromConfig(config: Config): ElevenLabsClient {
  const { ELEVENLABS_API_KEY, ELEVENLABS_AGENT_ID, ELEVENLABS_AGENT_PHONE_NUMBER_ID } = config;
  if (!ELEVENLABS_API_KEY || !ELEVENLABS_AGENT_ID || !ELEVENLABS_AGENT_PHONE_NUMBER_ID) {
    throw new AppError(
      "configuration_error",
      "ElevenLabs is not configured (ELEVENLABS_API_KEY, ELEVENLABS_AGENT_ID, ELEVENLABS_AGENT_PHONE_NUMBER_ID).",
    );
  }
  return createElevenLabsClient({
    apiKey: ELEVENLABS_API_KEY,
    baseUrl: config.ELEVENLABS_API_BASE_URL,
    agentId: ELEVENLABS_AGENT_ID,
    agentPhoneNumberId: ELEVENLABS_AGENT_PHONE_NUMBER_ID,
  });
}
