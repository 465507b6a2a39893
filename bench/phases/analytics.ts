// Runs the 10M-row usage-query benchmark (bench/usage-query.ts, owned separately) when it exists.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { run } from "../lib/proc.ts";
import type { Json, RunningTarget } from "../lib/types.ts";
import type { TargetContext } from "../targets/context.ts";

export type AnalyticsResult = { skipped: string } | { exitCode: number; ms: number; env: Record<string, string>; result: Json | null; outputTail: string };

/** Its stdout is taken as one JSON document (pretty-printed or not), else its last JSON-looking block. */
function parseOutput(stdout: string): Json | null {
  const text = stdout.trim();
  const starts = [0, text.lastIndexOf("\n{") + 1, text.lastIndexOf("{")].filter((i, k) => k === 0 || i > 0);
  for (const s of starts) {
    try {
      return JSON.parse(text.slice(s)) as Json;
    } catch {
      /* try the next candidate */
    }
  }
  return null;
}

/** Its own defaults stand; --quick shrinks it. The full suite times 100 queries per shape, so p99 is not the maximum. */
function sizeEnv(quick: boolean): Record<string, string> {
  const own = (k: string, v: string): Record<string, string> => (process.env[k] ? {} : { [k]: v });
  return quick ? { ...own("BENCH_ROWS", "300000"), ...own("BENCH_WRITER_ROWS", "20000"), ...own("BENCH_ITER", "5") } : own("BENCH_ITER", "100");
}

export async function analyticsPhase(ctx: TargetContext, arouter: RunningTarget | undefined, timeoutS: number, quick: boolean): Promise<AnalyticsResult> {
  const script = join(ctx.root, "bench/usage-query.ts");
  if (!existsSync(script)) return { skipped: "bench/usage-query.ts not present yet" };
  if (!ctx.services) return { skipped: "no bench ClickHouse (services off or failed)" };
  const env: Record<string, string> = { ...sizeEnv(quick), CLICKHOUSE_URL: ctx.services.clickhouseUrl, REDIS_URL: ctx.services.redisUrl };
  if (arouter?.usage) {
    env.AROUTER_URL = arouter.usage.baseUrl;
    env.AROUTER_KEY = arouter.usage.key;
  }
  const t0 = performance.now();
  const r = await run(["bun", "run", script], { cwd: ctx.root, env, timeoutMs: timeoutS * 1000 });
  const ms = Math.round(performance.now() - t0);
  const shown = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("BENCH_") || k === "CLICKHOUSE_URL"));
  return { exitCode: r.code, ms, env: shown, result: parseOutput(r.stdout), outputTail: (r.stdout + r.stderr).slice(-1500) };
}
