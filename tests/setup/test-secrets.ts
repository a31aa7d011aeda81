// Credentials of the test Worker. Fixed strings for tests only; never real secrets.
export const TEST_SECRETS = {
  API_TOKEN: "test-api-token",
  TRANSCRIPTION_WEBHOOK_TOKEN: "test-webhook-token",
  ELEVENLABS_WEBHOOK_SECRET: "test-webhook-secret",
  ELEVENLABS_API_KEY: "test-elevenlabs-key",
  ELEVENLABS_AGENT_ID: "agent_test",
  ELEVENLABS_AGENT_PHONE_NUMBER_ID: "phnum_test",
} as const;

/** The console operator the browser tests' setup creates (not a Worker binding). */
export const TEST_OPERATOR = {
  name: "Test Operator",
  token: "dco_test-operator-token-for-the-browser-tests",
} as const;
