// Runs one of the bench's load generators as its own process and returns its JSON result line.
import { join } from "node:path";
import { run } from "./proc.ts";

/** The generators open up to thousands of fetches; Bun's default cap of 256 would queue them client-side. */
const LOADGEN_ENV = { BUN_CONFIG_MAX_HTTP_REQUESTS: "8192" };

export async function runLoad<T>(script: string, config: unknown, timeoutMs: number): Promise<T> {
  const r = await run(["bun", join(import.meta.dir, "../load", script), JSON.stringify(config)], { env: LOADGEN_ENV, timeoutMs });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`${script} failed (exit ${r.code}): ${r.stderr.slice(-500) || r.stdout.slice(-500)}`);
  }
}
