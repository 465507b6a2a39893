// One huge SSE response to a reader capped below the proxy's speed: proxy RSS must stay flat.
import { chatRequest, modelBytes } from "../mock/fixtures.ts";
import { runLoad } from "../lib/loadproc.ts";
import { sampleRss } from "../lib/rss.ts";
import type { RoundBase } from "../lib/types.ts";
import type { SlowReaderConfig, SlowReaderResult } from "../load/slow-reader.ts";
import { interleaved, mib, type PhaseContext } from "./common.ts";

/** Growth above this during the transfer means the proxy buffers instead of applying backpressure. */
export const FLAT_LIMIT_MIB = 64;

export interface BigRound extends RoundBase {
  ok: boolean;
  bytes: number;
  MiBps: number;
  rssStartMiB: number;
  rssPeakMiB: number;
  rssEndMiB: number;
  growthMiB: number;
  flat: boolean;
  mockPeakMiB: number;
  /** [ms since start, MiB] pairs, thinned, for a look at the curve. */
  trace: Array<[number, number]>;
}

export async function bigStreamPhase(ctx: PhaseContext) {
  const p = ctx.profile.bigStream;
  const body = chatRequest(modelBytes(p.mib), true);
  // A target far slower than the reader is cut off rather than allowed to stretch the suite; bytes read are kept.
  const timeoutMs = Math.min(Math.ceil((p.mib / p.rateMiBps) * 4000) + 20_000, 40_000);
  const rounds = await interleaved(ctx, 1, async (t, rep, bgBusy): Promise<BigRound> => {
    const cfg: SlowReaderConfig = { endpoint: t.endpoint, body, rateMiBps: p.rateMiBps, timeoutMs };
    const proxy = sampleRss(t.pids, 100);
    const mock = sampleRss([ctx.mockPid], 250);
    const r = await runLoad<SlowReaderResult>("slow-reader.ts", cfg, timeoutMs + 10_000);
    const trace = proxy.stop();
    const m = mock.stop();
    const growth = mib(trace.peakKiB - trace.startKiB);
    const ok = r.status === 200 && r.sawDone && r.bytes >= p.mib * 1024 * 1024;
    ctx.log(`${p.mib} MiB slow read ${t.name}: ${ok ? "ok" : "INCOMPLETE"} at ${r.MiBps} MiB/s, RSS ${mib(trace.startKiB)} -> peak ${mib(trace.peakKiB)} MiB`);
    const step = Math.max(1, Math.floor(trace.samples.length / 60));
    return {
      rep, target: t.name, bgBusy, ok, bytes: r.bytes, MiBps: r.MiBps,
      rssStartMiB: mib(trace.startKiB), rssPeakMiB: mib(trace.peakKiB), rssEndMiB: mib(trace.endKiB),
      growthMiB: growth, flat: t.pids.length === 0 || growth < FLAT_LIMIT_MIB, mockPeakMiB: mib(m.peakKiB),
      trace: trace.samples.filter((_, i) => i % step === 0).map(([ms, kib]) => [ms, mib(kib)]),
    };
  });
  return { mib: p.mib, readerMiBps: p.rateMiBps, flatLimitMiB: FLAT_LIMIT_MIB, rounds };
}
