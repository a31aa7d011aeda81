// Direct SQL from tests (setup and assertions), through the same Neon driver and local
// endpoint the Worker uses: never a mock.
import { neon, neonConfig } from "@neondatabase/serverless";
import { testEnv } from "./worker";

neonConfig.fetchEndpoint = testEnv.NEON_HTTP_ENDPOINT;

export const testSql = neon(testEnv.DATABASE_URL);
