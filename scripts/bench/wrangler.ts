// `wrangler dev` for the bench: the bench Worker (the production app plus the baseline
// route) is bundled ONCE with `wrangler deploy --dry-run`, exactly as a deploy would bundle
// it, and then served with `wrangler dev --no-bundle`. Serving the prebuilt file means that
// an edit under src/ during a run (other people work in this checkout) cannot make wrangler
// rebuild and reload the Worker in the middle of a measurement. For the same reason it
// runs on a copy of wrangler.toml taken at bundling time (`config`): wrangler dev reloads
// the Worker when its configuration file changes, and other people edit this one.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
// wrangler's own CLI, run on this Node (22, from node_modules: see docs/toolchain notes).
const WRANGLER_CLI = join(ROOT, "node_modules/wrangler/wrangler-dist/cli.js");
const WRANGLER_ENV = {
  ...process.env,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
};

/** The last lines a process printed, to explain a failure. */
class Tail {
  private lines: string[] = [];
  private readonly keep = 40;
  push(chunk: Buffer) {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (line.trim() === "") continue;
      this.lines.push(line);
      if (this.lines.length > this.keep) this.lines.shift();
    }
  }
  toString() {
    return this.lines.join("\n");
  }
}

function wrangler(args: string[], tail: Tail): ChildProcess {
  const child = spawn(process.execPath, ["--no-warnings", WRANGLER_CLI, ...args], {
    cwd: ROOT,
    env: WRANGLER_ENV,
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so that stop() can end wrangler AND the workerd processes it
    // starts, by group id, and so that a Ctrl-C reaches only the bench, which stops it.
    detached: true,
  });
  child.stdout?.on("data", (chunk: Buffer) => tail.push(chunk));
  child.stderr?.on("data", (chunk: Buffer) => tail.push(chunk));
  return child;
}

/** Bundles `entry` (relative to the project root) as `wrangler deploy` would; returns the file. */
export async function bundleWorker(entry: string, outDir: string): Promise<string> {
  const tail = new Tail();
  const child = wrangler(["deploy", "--dry-run", "--outdir", outDir, entry], tail);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const bundle = join(outDir, basename(entry).replace(/\.ts$/, ".js"));
  if (code !== 0 || !existsSync(bundle)) {
    throw new Error(`wrangler could not bundle ${entry} (exit ${code}):\n${tail}`);
  }
  return bundle;
}

export interface WranglerDev {
  url: string;
  stop(): Promise<void>;
}

export async function startWranglerDev(options: {
  /** A bundled Worker (see bundleWorker), served as is. */
  bundle: string;
  port: number;
  inspectorPort: number;
  persistTo: string;
  /**
   * The configuration to run with: best a copy of wrangler.toml outside the checkout (see
   * the top of this file), whose directory has no .dev.vars, so only `vars` reach the
   * Worker. Default: the checkout's wrangler.toml.
   */
  config?: string;
  /** Every binding the Worker needs: passed with --var. */
  vars: Record<string, string>;
  startTimeoutMs?: number;
  /** Told how to stop it as soon as it is spawned, so that a Ctrl-C during startup stops it. */
  onSpawn?: (stop: () => Promise<void>) => void;
}): Promise<WranglerDev> {
  const tail = new Tail();
  const child = wrangler(
    [
      "dev",
      options.bundle,
      "--no-bundle",
      "--ip",
      "127.0.0.1",
      "--port",
      String(options.port),
      "--inspector-port",
      String(options.inspectorPort),
      "--persist-to",
      options.persistTo,
      ...(options.config ? ["--config", options.config] : []),
      "--show-interactive-dev-session=false",
      ...Object.entries(options.vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
    ],
    tail,
  );
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      resolve();
    }),
  );

  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopping ??= (async () => {
      if (child.pid === undefined) return;
      const group = child.pid;
      if (exited) {
        // wrangler died on its own: its workerd processes may not have.
        signalGroup(group, "SIGKILL");
        return;
      }
      signalGroup(group, "SIGTERM");
      // wrangler sometimes takes more than 10 s to exit after a SIGTERM (seen right after a
      // batch, with keep-alive connections to the simulator open): nothing of it is needed.
      const timer = setTimeout(() => signalGroup(group, "SIGKILL"), 3_000);
      await exit;
      clearTimeout(timer);
      // workerd children may outlive wrangler by a moment: make sure the group is gone.
      signalGroup(group, "SIGKILL");
    })();
    return stopping;
  }
  options.onSpawn?.(stop);

  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  while (true) {
    if (exited) {
      await stop();
      throw new Error(`wrangler dev exited before serving:\n${tail}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer GET /health in time:\n${tail}`);
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      await response.text();
      if (response.status === 200) break;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { url, stop };
}

function signalGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    // ESRCH: already gone. Anything else would leave processes behind: say so.
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") {
      console.warn(`[bench] could not send ${signal} to process group ${pid}: ${String(error)}`);
    }
  }
}
