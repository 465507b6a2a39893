// Added latency at a fixed moderate rate (open loop): p50/p99/p99.9 minus direct's in the same rep.
import { chatRequest, MODEL_JSON } from "../mock/fixtures.ts";
import { runLoad } from "../lib/loadproc.ts";
import { pairedSpread, spread } from "../lib/stats.ts";
import type { RoundBase, Spread } from "../lib/types.ts";
import type { OpenLoopConfig, OpenLoopResult } from "../load/openloop.ts";
import { interleaved, type PhaseContext } from "./common.ts";

export interface LatencyRound extends RoundBase {
  ok: number;
  failed: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** The same percentiles timed from each request's due time rather than its actual send: a generator that fell
   *  behind (it shares the cores) cannot hide the wait, as a clock started at the late send would. */
  due: Record<Pct, number>;
  dispatchLagP99: number;
}

type Pct = "p50" | "p99" | "p999";
export interface LatencySummary {
  ms: Record<Pct, Spread>;
  addedVsDirectMs: Record<Pct, Spread>;
  addedVsBareBunMs: Record<Pct, Spread>;
  /** Added latency from due times: the figure the targets are judged on (no coordinated omission). */
  addedFromDueVsDirectMs: Record<Pct, Spread>;
  failed: number;
}

export async function latencyPhase(ctx: PhaseContext, rate: number, rateWhy: string): Promise<{ rate: number; rateWhy: string; rounds: LatencyRound[]; summary: Record<string, LatencySummary> }> {
  const p = { ...ctx.profile.latency, rate };
  const body = chatRequest(MODEL_JSON, false);
  const cfg = (t: { endpoint: OpenLoopConfig["endpoint"] }): OpenLoopConfig => ({ endpoint: t.endpoint, body, rate: p.rate, durationS: p.durationS, warmupS: p.warmupS, timeoutMs: 5000 });
  const budget = (p.durationS + p.warmupS + 20) * 1000;
  const rounds = await interleaved(ctx, ctx.profile.reps, async (t, rep, bgBusy): Promise<LatencyRound> => {
    const r = await runLoad<OpenLoopResult>("openloop.ts", cfg(t), budget);
    const l = r.latencyMs;
    const d = r.latencyFromDueMs;
    ctx.log(`latency rep ${rep} ${t.name}: p50 ${l.p50.toFixed(3)} p99 ${l.p99.toFixed(3)} p99.9 ${l.p999.toFixed(3)} ms (from due: p99 ${d.p99.toFixed(3)})`);
    const due = { p50: d.p50, p99: d.p99, p999: d.p999 };
    return { rep, target: t.name, bgBusy, ok: r.ok, failed: r.sent - r.ok, p50: l.p50, p99: l.p99, p999: l.p999, max: l.max, due, dispatchLagP99: r.dispatchLagMs.p99 };
  });
  const per = <T>(f: (k: Pct) => T): Record<Pct, T> => ({ p50: f("p50"), p99: f("p99"), p999: f("p999") });
  const summary: Record<string, LatencySummary> = {};
  for (const t of ctx.targets) {
    const mine = rounds.filter((r) => r.target === t.name);
    summary[t.name] = {
      ms: per((k) => spread(mine.map((r) => r[k]))),
      addedVsDirectMs: per((k) => pairedSpread(rounds, t.name, "direct", (a, b) => a[k] - b[k])),
      addedVsBareBunMs: per((k) => pairedSpread(rounds, t.name, "bare-bun", (a, b) => a[k] - b[k])),
      addedFromDueVsDirectMs: per((k) => pairedSpread(rounds, t.name, "direct", (a, b) => a.due[k] - b.due[k])),
      failed: mine.reduce((s, r) => s + r.failed, 0),
    };
  }
  return { rate, rateWhy, rounds, summary };
}

/**
 * "Well below saturation" must hold for the slowest target too, or its queue, not its overhead, is
 * measured; so the rate is the profile's ceiling or a share of the slowest median max rate, if lower.
 */
export function latencyRate(ceiling: number, share: number, maxRps: number[]): { rate: number; why: string } {
  const slowest = Math.min(...maxRps.filter((x) => x > 0));
  if (!Number.isFinite(slowest)) return { rate: ceiling, why: "profile ceiling (no throughput figures)" };
  const scaled = Math.max(50, Math.floor((slowest * share) / 50) * 50);
  return scaled < ceiling
    ? { rate: scaled, why: `${Math.round(share * 100)}% of the slowest target's median max (${Math.round(slowest)} req/s)` }
    : { rate: ceiling, why: "profile ceiling (below every target's saturation)" };
}
