// Max requests/s, non-streaming JSON, wrk closed loop with fixed connections; proxy RSS during the run.
import { chatRequest, MODEL_JSON } from "../mock/fixtures.ts";
import { cpuMeter } from "../lib/cputime.ts";
import { sampleRss } from "../lib/rss.ts";
import { pairedSpread, spread } from "../lib/stats.ts";
import type { RoundBase, Spread } from "../lib/types.ts";
import { runWrk, wrkScript } from "../load/wrk.ts";
import { interleaved, mib, type PhaseContext } from "./common.ts";

export interface ThroughputRound extends RoundBase {
  rps: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  rssPeakMiB: number;
  /** CPU ms the proxy's process tree spent per 1,000 requests: its cost, whatever else ran meanwhile. */
  proxyCpuMsPerK: number;
  mockCpuMsPerK: number;
  /** Helpers of the target (arouter: worker, Redis, ClickHouse) during the round only; their drain after it is not counted. */
  sideCpuMsPerK: number;
}

export interface ThroughputSummary {
  rps: Spread;
  vsDirect: Spread;
  vsBareBun: Spread;
  rssPeakMiB: Spread;
  proxyCpuMsPerK: Spread;
  proxyCpuVsBareBun: Spread;
  sideCpuMsPerK: Spread;
  failed: number;
}

export async function throughputPhase(ctx: PhaseContext): Promise<{ rounds: ThroughputRound[]; summary: Record<string, ThroughputSummary> }> {
  const p = ctx.profile.throughput;
  const body = chatRequest(MODEL_JSON, false);
  const scripts = new Map<string, string>(ctx.targets.map((t) => [t.name, wrkScript(ctx.tmpDir, t.name, t.endpoint, body)]));
  const wrk = (name: string, url: string, durationS: number) =>
    runWrk({ script: scripts.get(name) ?? "", url, threads: p.threads, connections: p.connections, durationS });
  for (const t of ctx.targets) {
    ctx.log(`throughput warm-up ${t.name}`);
    await wrk(t.name, t.endpoint.url, p.warmupS);
  }
  const rounds = await interleaved(ctx, ctx.profile.reps, async (t, rep, bgBusy): Promise<ThroughputRound> => {
    const rss = sampleRss(t.pids, 200);
    const cpu = cpuMeter({ proxy: t.pids, mock: [ctx.mockPid], side: Object.values(t.side).flat() });
    const r = await wrk(t.name, t.endpoint.url, p.durationS);
    const used = cpu.stop();
    const trace = rss.stop();
    const perK = (ms: number | undefined): number => (r.requests > 0 ? Math.round(((ms ?? 0) * 10_000) / r.requests) / 10 : Number.NaN);
    const failed = r.errors.status + r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
    ctx.log(`throughput rep ${rep} ${t.name}: ${Math.round(r.rps)} req/s${failed ? `, ${failed} failed` : ""}`);
    return { rep, target: t.name, bgBusy, rps: Math.round(r.rps), failed, p50Ms: r.latencyMs.p50, p99Ms: r.latencyMs.p99, rssPeakMiB: mib(trace.peakKiB), proxyCpuMsPerK: perK(used.proxy), mockCpuMsPerK: perK(used.mock), sideCpuMsPerK: perK(used.side) };
  });
  const summary: Record<string, ThroughputSummary> = {};
  for (const t of ctx.targets) {
    const mine = rounds.filter((r) => r.target === t.name);
    summary[t.name] = {
      rps: spread(mine.map((r) => r.rps)),
      vsDirect: pairedSpread(rounds, t.name, "direct", (a, b) => a.rps / b.rps),
      vsBareBun: pairedSpread(rounds, t.name, "bare-bun", (a, b) => a.rps / b.rps),
      rssPeakMiB: spread(mine.map((r) => r.rssPeakMiB)),
      proxyCpuMsPerK: spread(mine.map((r) => r.proxyCpuMsPerK)),
      proxyCpuVsBareBun: pairedSpread(rounds, t.name, "bare-bun", (a, b) => a.proxyCpuMsPerK / b.proxyCpuMsPerK),
      sideCpuMsPerK: spread(mine.map((r) => r.sideCpuMsPerK)),
      failed: mine.reduce((s, r) => s + r.failed, 0),
    };
  }
  return { rounds, summary };
}
