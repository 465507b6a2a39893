// One huge SSE response to a reader capped below the proxy's speed: proxy RSS must stay flat.
import { chatRequest, modelBytes } from "../mock/fixtures.ts";
import { runLoad } from "../lib/loadproc.ts";
import { sampleRss } from "../lib/rss.ts";
import type { RoundBase } from "../lib/types.ts";
import type { SlowReaderConfig, SlowReaderResult } from "../load/slow-reader.ts";
import { interleaved, mib, type PhaseContext } from "./common.ts";

/** The bound on growth during the transfer, 50 MB, in MiB: above it the proxy buffers instead of applying backpressure. */
export const FLAT_LIMIT_MIB = 50e6 / 2 ** 20;

/**
 * A round only shows backpressure when the reader, not the proxy, set the pace: it must have held its socket paused
 * and read at nearly its cap. A proxy slower than the cap is never pushed back on, so its flat RSS would prove nothing.
 */
const PACED_SHARE = 0.9;

export interface BigRound extends RoundBase {
  ok: boolean;
  bytes: number;
  MiBps: number;
  rssStartMiB: number;
  rssPeakMiB: number;
  rssEndMiB: number;
  growthMiB: number;
  flat: boolean;
  /** The reader held the socket paused and read at nearly its cap (see PACED_SHARE). */
  paced: boolean;
  pausedMs: number;
  mockPeakMiB: number;
  /** [ms since start, MiB] pairs, thinned, for a look at the curve. */
  trace: Array<[number, number]>;
}

export async function bigStreamPhase(ctx: PhaseContext) {
  const p = ctx.profile.bigStream;
  const body = chatRequest(modelBytes(p.mib), true);
  // A target far slower than the reader is cut off rather than allowed to stretch the suite; bytes read are kept.
  const timeoutMs = Math.ceil((p.mib / p.rateMiBps) * 2000) + 20_000;
  const rounds = await interleaved(ctx, p.reps, async (t, rep, bgBusy): Promise<BigRound> => {
    const cfg: SlowReaderConfig = { endpoint: t.endpoint, body, rateMiBps: p.rateMiBps, timeoutMs };
    const proxy = sampleRss(t.pids, 100);
    const mock = sampleRss([ctx.mockPid], 250);
    const r = await runLoad<SlowReaderResult>("slow-reader.ts", cfg, timeoutMs + 10_000);
    const trace = proxy.stop();
    const m = mock.stop();
    const growth = mib(trace.peakKiB - trace.startKiB);
    const ok = r.status === 200 && r.sawDone && r.bytes >= p.mib * 1024 * 1024;
    const paced = r.pausedMs > 0 && r.MiBps >= p.rateMiBps * PACED_SHARE;
    ctx.log(`${p.mib} MiB slow read rep ${rep} ${t.name}: ${ok ? "ok" : "INCOMPLETE"} at ${r.MiBps} MiB/s${paced ? "" : " (NOT PACED by the reader)"}, RSS ${mib(trace.startKiB)} -> peak ${mib(trace.peakKiB)} MiB`);
    const step = Math.max(1, Math.floor(trace.samples.length / 60));
    return {
      rep, target: t.name, bgBusy, ok, bytes: r.bytes, MiBps: r.MiBps,
      rssStartMiB: mib(trace.startKiB), rssPeakMiB: mib(trace.peakKiB), rssEndMiB: mib(trace.endKiB),
      growthMiB: growth, flat: t.pids.length === 0 || growth < FLAT_LIMIT_MIB, paced, pausedMs: r.pausedMs, mockPeakMiB: mib(m.peakKiB),
      trace: trace.samples.filter((_, i) => i % step === 0).map(([ms, kib]) => [ms, mib(kib)]),
    };
  });
  return { mib: p.mib, readerMiBps: p.rateMiBps, flatLimitMiB: FLAT_LIMIT_MIB, rounds };
}
