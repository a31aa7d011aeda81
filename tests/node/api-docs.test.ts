// docs/API.md is the contract a reader gets from the repository itself: it must name every
// route the OpenAPI document serves and every error code the service can answer with, and
// the docs must never send the reader outside the repository.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { ERROR_STATUS } from "../../src/http/errors";

const ROOT = join(import.meta.dirname, "../..");
const apiDoc = readFileSync(join(ROOT, "docs/API.md"), "utf8");

async function openApiDocument() {
  const response = await createApp().request("/openapi.json");
  return (await response.json()) as { paths: Record<string, Record<string, unknown>> };
}

describe("docs/API.md", () => {
  it("has a section for every route of /openapi.json", async () => {
    const { paths } = await openApiDocument();
    const routes = Object.entries(paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(routes.length).toBeGreaterThanOrEqual(15);
    const missing = routes.filter(
      (route) => !apiDoc.includes(`## ${route}`) && !apiDoc.includes(`### ${route}`),
    );
    expect(missing).toEqual([]);
  });

  it("lists every error code of the error map, with its status", () => {
    const missing = Object.entries(ERROR_STATUS).filter(
      ([code, status]) => !new RegExp(`\\| ${status} \\| \`${code}\` \\|`).test(apiDoc),
    );
    expect(missing).toEqual([]);
  });

  it("README and docs/ never point outside the repository", () => {
    const files = [
      "README.md",
      ...readdirSync(join(ROOT, "docs"))
        .filter((f) => f.endsWith(".md"))
        .map((f) => `docs/${f}`),
    ];
    for (const file of files) {
      const text = readFileSync(join(ROOT, file), "utf8");
      expect(text, file).not.toMatch(/\.\.\/shared|shared\/contract|shared\/toolchain/);
    }
  });
});
