// The deployment artefacts an operator copies from or relies on: every JSON block of the
// runbook parses, the ElevenLabs tool configuration sends what the transcription webhook
// needs, the GitHub workflows have the jobs and steps the runbook describes, and both
// wrangler environments build.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

const WORKER_SECRETS = [
  "DATABASE_URL",
  "API_TOKEN",
  "TRANSCRIPTION_WEBHOOK_TOKEN",
  "ELEVENLABS_API_KEY",
  "ELEVENLABS_WEBHOOK_SECRET",
];

interface JsonBlock {
  line: number;
  text: string;
}

/** Every ```json fenced block of a Markdown text, with the line its content starts on. */
function jsonBlocks(markdown: string): JsonBlock[] {
  const blocks: JsonBlock[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*```json\s*$/.test(lines[i] ?? "")) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end] ?? "")) end++;
    blocks.push({ line: start + 1, text: lines.slice(start, end).join("\n") });
    i = end;
  }
  return blocks;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The webhook tool configurations in a parsed block (top level or nested, e.g. tool_config). */
function webhookTools(value: Json): JsonObject[] {
  if (Array.isArray(value)) return value.flatMap(webhookTools);
  if (!isObject(value)) return [];
  const own = value.type === "webhook" && isObject(value.api_schema) ? [value] : [];
  return [...own, ...Object.values(value).flatMap(webhookTools)];
}

function bodyProperties(tool: JsonObject): JsonObject {
  const api = tool.api_schema as JsonObject;
  const body = api.request_body_schema;
  return isObject(body) && isObject(body.properties) ? body.properties : {};
}

/** The name of the dynamic variable a header value or body property is filled from. */
function dynamicVariableOf(value: Json | undefined): string | undefined {
  if (!isObject(value)) return undefined;
  const name = value.variable_name ?? value.dynamic_variable;
  return typeof name === "string" ? name : undefined;
}

describe("docs/DEPLOYMENT.md", () => {
  const runbook = read("docs/DEPLOYMENT.md");
  const blocks = jsonBlocks(runbook);
  const parsed = blocks.map((block) => {
    try {
      return JSON.parse(block.text) as Json;
    } catch {
      return undefined;
    }
  });
  const tools = parsed.flatMap((value) => (value === undefined ? [] : webhookTools(value)));
  const transcriptionTool = tools.find((tool) => "call_sid" in bodyProperties(tool));

  it("has JSON blocks, and every one of them parses", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const block of blocks) {
      expect(
        () => JSON.parse(block.text),
        `json block at docs/DEPLOYMENT.md:${block.line}`,
      ).not.toThrow();
    }
  });

  it("configures a webhook tool that posts the four body properties to the transcription route", () => {
    expect(transcriptionTool, "a webhook tool whose body has call_sid").toBeDefined();
    const tool = transcriptionTool as JsonObject;
    const api = tool.api_schema as JsonObject;
    expect(api.method).toBe("POST");
    expect(String(api.url)).toMatch(/^https:\/\/.+\/webhooks\/elevenlabs\/transcription$/);
    const properties = bodyProperties(tool);
    expect(Object.keys(properties).sort()).toEqual(["call_sid", "message", "speaker", "timestamp"]);
    const required = (api.request_body_schema as JsonObject).required;
    expect(required).toEqual(
      expect.arrayContaining(["call_sid", "speaker", "message", "timestamp"]),
    );
    expect((properties.speaker as JsonObject).enum).toEqual(["agent", "user"]);
  });

  it("takes call_sid from the call_sid dynamic variable, never from the LLM or Twilio's id", () => {
    const callSid = bodyProperties(transcriptionTool as JsonObject).call_sid;
    expect(dynamicVariableOf(callSid)).toBe("call_sid");
  });

  it("sends the Authorization header from a secret__ dynamic variable", () => {
    const api = (transcriptionTool as JsonObject).api_schema as JsonObject;
    const headers = api.request_headers as JsonObject;
    expect(dynamicVariableOf(headers.Authorization)).toMatch(/^secret__\w+$/);
  });

  it("subscribes the post-call webhook to transcripts and initiation failures", () => {
    const webhookUrls = parsed.flatMap((value) =>
      isObject(value) && isObject(value.settings) ? [value.settings] : [],
    );
    expect(webhookUrls.some((settings) => settings.auth_type === "hmac")).toBe(true);
    expect(
      webhookUrls.some((settings) =>
        /\/webhooks\/elevenlabs\/post-call$/.test(String(settings.webhook_url)),
      ),
    ).toBe(true);
    const events = JSON.stringify(parsed).match(/"events":\[[^\]]*\]/)?.[0] ?? "";
    expect(events).toContain('"transcript"');
    expect(events).toContain('"call_initiation_failure"');
  });

  it("keeps a rollback tool configuration keyed by ElevenLabs' conversation_id", () => {
    const rollback = tools.find((tool) => "conversation_id" in bodyProperties(tool));
    expect(rollback, "a webhook tool whose body has conversation_id").toBeDefined();
    const properties = bodyProperties(rollback as JsonObject);
    expect(dynamicVariableOf(properties.conversation_id)).toBe("system__conversation_id");
    expect(properties).not.toHaveProperty("call_sid");
  });

  it("gives the wrangler secret put command of every secret for both environments", () => {
    for (const secret of WORKER_SECRETS) {
      for (const environment of ["staging", "production"]) {
        expect(runbook).toContain(`npx wrangler secret put ${secret} --env ${environment}`);
      }
    }
  });
});

describe("GitHub workflows", () => {
  const ci = parseYaml(read(".github/workflows/ci.yml"));
  const deploy = parseYaml(read(".github/workflows/deploy.yml"));

  interface Step {
    name?: string;
    run?: string;
    uses?: string;
    with?: Record<string, string>;
    env?: Record<string, string>;
  }
  const stepsOf = (job: { steps?: Step[] }): Step[] => job.steps ?? [];

  it("ci.yml runs .ci/run on Node 22 and builds both environments", () => {
    const jobs = Object.values(ci.jobs as Record<string, { steps?: Step[] }>);
    const steps = jobs.flatMap(stepsOf);
    expect(steps.some((step) => step.uses?.startsWith("actions/checkout@"))).toBe(true);
    const setupNode = steps.find((step) => step.uses?.startsWith("actions/setup-node@"));
    expect(String(setupNode?.with?.["node-version"])).toBe("22");
    expect(steps.some((step) => step.run?.trim() === "bash .ci/run")).toBe(true);
    for (const environment of ["staging", "production"]) {
      expect(
        steps.some((step) => step.run?.includes(`wrangler deploy --dry-run --env ${environment}`)),
        `dry run of ${environment}`,
      ).toBe(true);
    }
  });

  it("deploy.yml deploys staging from main and production from v* tags or by hand", () => {
    expect(deploy.on.push.branches).toEqual(["main"]);
    expect(deploy.on.push.tags).toEqual(["v*"]);
    expect(deploy.on.workflow_dispatch.inputs.environment.options).toEqual([
      "staging",
      "production",
    ]);
    expect(Object.keys(deploy.jobs).sort()).toEqual(["production", "staging"]);
    expect(deploy.jobs.staging.if).toContain("refs/heads/main");
    expect(deploy.jobs.production.if).toContain("refs/tags/v");
  });

  for (const environment of ["staging", "production"]) {
    it(`deploy.yml ${environment}: one at a time, migrate, then push secrets and deploy that environment`, () => {
      const job = deploy.jobs[environment];
      expect(job.environment).toBe(environment);
      expect(job.concurrency.group).toBe(`deploy-${environment}`);
      expect(job.concurrency["cancel-in-progress"]).toBe(false);

      const steps = stepsOf(job);
      const install = steps.findIndex((step) => step.run?.trim() === "npm ci");
      const migrate = steps.findIndex((step) => step.run?.trim() === "npm run db:migrate");
      const wrangler = steps.findIndex((step) => step.uses === "cloudflare/wrangler-action@v3");
      expect(install).toBeGreaterThanOrEqual(0);
      expect(migrate).toBeGreaterThan(install);
      expect(wrangler).toBeGreaterThan(migrate);
      expect(steps[migrate]?.env?.DATABASE_URL).toBe("${{ secrets.DATABASE_URL }}");

      const action = steps[wrangler] as Step;
      expect(action.with?.apiToken).toBe("${{ secrets.CLOUDFLARE_API_TOKEN }}");
      expect(action.with?.accountId).toBeTruthy();
      expect(action.with?.command).toBe(`deploy --env ${environment}`);
      // Without it the secrets would be uploaded to the top-level Worker.
      expect(action.with?.environment).toBe(environment);
      const secrets = String(action.with?.secrets)
        .split("\n")
        .map((name) => name.trim())
        .filter(Boolean);
      expect(secrets.sort()).toEqual([...WORKER_SECRETS].sort());
      for (const secret of WORKER_SECRETS) {
        expect(action.env?.[secret]).toBe(`\${{ secrets.${secret} }}`);
      }
    });
  }
});

describe("wrangler.toml", () => {
  const outDir = mkdtempSync(join(tmpdir(), "driver-calls-dry-run-"));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it("holds no secret values", () => {
    const config = read("wrangler.toml");
    for (const secret of WORKER_SECRETS) {
      expect(config).not.toMatch(new RegExp(`^\\s*${secret}\\s*=`, "m"));
    }
  });

  for (const environment of ["staging", "production"]) {
    it(`builds the ${environment} environment (wrangler deploy --dry-run)`, async () => {
      const bundleDir = join(outDir, environment);
      const { code, output } = await runWrangler([
        "deploy",
        "--dry-run",
        "--outdir",
        bundleDir,
        "--env",
        environment,
      ]);
      expect(code, output).toBe(0);
      expect(output).toContain("ELEVENLABS_AGENT_ID");
      expect(existsSync(join(bundleDir, "index.js"))).toBe(true);
    }, 60_000);
  }
});

function runWrangler(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["wrangler", ...args], {
      cwd: ROOT,
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGTERM"), 55_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("the ElevenLabs analysis settings the service expects", () => {
  it("DEPLOYMENT.md gives the agent's data collection and evaluation as JSON with the ids the service reads", () => {
    const blocks = jsonBlocks(read("docs/DEPLOYMENT.md")).map(
      (block) => JSON.parse(block.text) as Json,
    );
    const settings = blocks.find(
      (block) =>
        isObject(block) &&
        isObject(block.platform_settings) &&
        "data_collection" in block.platform_settings,
    ) as
      | {
          platform_settings: {
            data_collection: Record<string, { type: string }>;
            evaluation: { criteria: { id: string }[] };
          };
        }
      | undefined;
    expect(settings).toBeDefined();
    const collected = settings?.platform_settings.data_collection ?? {};
    expect(Object.keys(collected).sort()).toEqual([
      "acknowledged_violation",
      "disputes_violation",
      "opt_out",
    ]);
    for (const item of Object.values(collected)) expect(item.type).toBe("boolean");
    expect(
      settings?.platform_settings.evaluation.criteria.map((criterion) => criterion.id),
    ).toContain("violations_reviewed");
  });
});
