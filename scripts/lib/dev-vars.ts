// .dev.vars: the local secrets file wrangler reads (dotenv format, gitignored).
import { copyFileSync, existsSync, readFileSync } from "node:fs";

export function ensureDevVars(path = ".dev.vars", example = ".dev.vars.example"): boolean {
  if (existsSync(path)) return false;
  copyFileSync(example, path);
  return true;
}

export function readDevVars(path = ".dev.vars"): Record<string, string> {
  if (!existsSync(path)) return {};
  const vars: Record<string, string> = {};
  for (const line of readFileSync(path, "utf8").split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match?.[1] || line.trimStart().startsWith("#")) continue;
    vars[match[1]] = (match[2] ?? "").replace(/^(['"])(.*)\1$/, "$2");
  }
  return vars;
}
