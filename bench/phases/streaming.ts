// SSE: first-byte time and per-event delay at a fixed cadence; then 1,000 open streams and proxy RSS.
import { chatRequest, modelSse } from "../mock/fixtures.ts";
import { settle } from "../lib/cpu.ts";
import { runLoad } from "../lib/loadproc.ts";
import { sampleRss } from "../lib/rss.ts";
import { pairedSpread, spread } from "../lib/stats.ts";
import type { RoundBase, Spread } from "../lib/types.ts";
import type { StreamsConfig, StreamsResult } from "../load/streams.ts";
import { interleaved, mib, type PhaseContext } from "./common.ts";

export interface StreamRound extends RoundBase {
  completed: number;
  failed: number;
  short: number;
  ttfbP50: number;
  ttfbP99: number;
  delayP50: number;
  delayP99: number;
  delayMax: number;
  /** The mock's send → the client's read, per event (NaN when not measured). */
  relayP50: number;
  relayP99: number;
  unpaired: number;
}

export interface StreamSummary {
  ttfbP50Ms: Spread;
  addedTtfbP50Ms: Spread;
  delayP50Ms: Spread;
  delayP99Ms: Spread;
  addedDelayP50Ms: Spread;
  addedDelayP99Ms: Spread;
  relayP50Ms: Spread;
  relayP99Ms: Spread;
  addedRelayP50Ms: Spread;
  addedRelayP99Ms: Spread;
  failedOrShort: number;
  unpaired: number;
}

const summarize = (rounds: StreamRound[], names: string[]): Record<string, StreamSummary> => {
  const out: Record<string, StreamSummary> = {};
  for (const name of names) {
    const mine = rounds.filter((r) => r.target === name);
    out[name] = {
      ttfbP50Ms: spread(mine.map((r) => r.ttfbP50)),
      addedTtfbP50Ms: pairedSpread(rounds, name, "direct", (a, b) => a.ttfbP50 - b.ttfbP50),
      delayP50Ms: spread(mine.map((r) => r.delayP50)),
      delayP99Ms: spread(mine.map((r) => r.delayP99)),
      addedDelayP50Ms: pairedSpread(rounds, name, "direct", (a, b) => a.delayP50 - b.delayP50),
      addedDelayP99Ms: pairedSpread(rounds, name, "direct", (a, b) => a.delayP99 - b.delayP99),
      relayP50Ms: spread(mine.map((r) => r.relayP50)),
      relayP99Ms: spread(mine.map((r) => r.relayP99)),
      addedRelayP50Ms: pairedSpread(rounds, name, "direct", (a, b) => a.relayP50 - b.relayP50),
      addedRelayP99Ms: pairedSpread(rounds, name, "direct", (a, b) => a.relayP99 - b.relayP99),
      failedOrShort: mine.reduce((s, r) => s + r.failed + r.short, 0),
      unpaired: mine.reduce((s, r) => s + r.unpaired, 0),
    };
  }
  return out;
};

function toRound(rep: number, target: RoundBase["target"], bgBusy: number, r: StreamsResult): StreamRound {
  return {
    rep, target, bgBusy, completed: r.completed, failed: r.failed, short: r.short,
    ttfbP50: r.ttfbMs.p50, ttfbP99: r.ttfbMs.p99, delayP50: r.eventDelayMs.p50, delayP99: r.eventDelayMs.p99, delayMax: r.eventDelayMs.max,
    relayP50: r.relayDelayMs?.p50 ?? Number.NaN, relayP99: r.relayDelayMs?.p99 ?? Number.NaN, unpaired: r.unpaired,
  };
}

/**
 * Each round first sends short streams of the same shape, unmeasured: a JSON warm-up would leave a proxy's streaming
 * path (its SSE relay and parsers) to be compiled during the measured streams, which then time the JIT rather than
 * the relay. Every target gets the same warm-up, in a run of its own followed by the usual settle.
 */
const WARMUP_SSE = chatRequest(modelSse(5, 0), true);
const WARMUP_STREAMS = 1000;
/**
 * The measuring process's settle after its warm-up round stays under 5 s: a Node-style server closes a connection
 * idle that long (keepAliveTimeout), and the measured streams must reuse the warmed connections, not open new ones.
 */
const MEASURER_SETTLE_MAX_MS = 3_500;

export async function streamPhase(ctx: PhaseContext) {
  const p = ctx.profile.stream;
  const body = chatRequest(modelSse(p.events, p.cadenceMs), true);
  // The measuring process's own settle (at most its maxMs and one more window) comes on top of the streams.
  const afterWarmup = { ...ctx.profile.settle, maxMs: Math.min(ctx.profile.settle.maxMs, MEASURER_SETTLE_MAX_MS) };
  const budget = (p.streams / p.concurrency) * (p.events * p.cadenceMs + 2000) + afterWarmup.maxMs + afterWarmup.windowMs + 20_000;
  const rounds = await interleaved(ctx, ctx.profile.reps, async (t, rep, bgBusy) => {
    const cfg: StreamsConfig = { endpoint: t.endpoint, body, streams: p.streams, concurrency: p.concurrency, rampMs: p.cadenceMs, events: p.events, cadenceMs: p.cadenceMs, timeoutMs: 30_000, warmupBody: WARMUP_SSE, emittedUrl: `${ctx.mockUrl}/emitted` };
    // Warm up in a run of its own, then let the machine settle again: the warm-up's own aftermath (arouter's usage
    // rows being written, a proxy's garbage collection) must not land on the measured streams.
    await runLoad<StreamsResult>("streams.ts", { ...cfg, streams: 0, warmupRounds: Math.ceil(WARMUP_STREAMS / p.concurrency) }, budget);
    await settle(ctx.profile.settle);
    // The measuring process warms its own connections and client code with one short round, then waits for the
    // machine to settle again before it times anything.
    const r = await runLoad<StreamsResult>("streams.ts", { ...cfg, warmupRounds: 1, settleAfterWarmup: afterWarmup }, budget);
    ctx.log(`stream rep ${rep} ${t.name}: ttfb p50 ${r.ttfbMs.p50.toFixed(2)} ms, event delay p50 ${r.eventDelayMs.p50.toFixed(2)} p99 ${r.eventDelayMs.p99.toFixed(2)} ms, relay p50 ${r.relayDelayMs?.p50.toFixed(2)} p99 ${r.relayDelayMs?.p99.toFixed(2)} ms`);
    return toRound(rep, t.name, bgBusy, r);
  });
  return { events: p.events, cadenceMs: p.cadenceMs, rounds, summary: summarize(rounds, ctx.targets.map((t) => t.name)) };
}

export interface ManyRound extends StreamRound {
  maxOpen: number;
  idleRssMiB: number;
  peakRssMiB: number;
  wallMs: number;
}

export async function manyStreamsPhase(ctx: PhaseContext) {
  const p = ctx.profile.manyStreams;
  const body = chatRequest(modelSse(p.events, p.cadenceMs), true);
  const budget = p.events * p.cadenceMs + p.rampMs + 60_000;
  const rounds = await interleaved(ctx, p.reps, async (t, rep, bgBusy): Promise<ManyRound> => {
    const cfg: StreamsConfig = { endpoint: t.endpoint, body, streams: p.streams, concurrency: p.streams, rampMs: p.rampMs, events: p.events, cadenceMs: p.cadenceMs, timeoutMs: budget - 10_000, emittedUrl: `${ctx.mockUrl}/emitted` };
    const rss = sampleRss(t.pids, 100);
    const r = await runLoad<StreamsResult>("streams.ts", cfg, budget);
    const trace = rss.stop();
    ctx.log(`${p.streams} streams ${t.name}: ${r.completed} ok, ${r.failed} failed, max open ${r.maxOpen}, RSS ${mib(trace.startKiB)} -> peak ${mib(trace.peakKiB)} MiB`);
    return { ...toRound(rep, t.name, bgBusy, r), maxOpen: r.maxOpen, idleRssMiB: mib(trace.startKiB), peakRssMiB: mib(trace.peakKiB), wallMs: r.wallMs };
  });
  return { streams: p.streams, events: p.events, cadenceMs: p.cadenceMs, rounds, summary: summarize(rounds, ctx.targets.map((t) => t.name)) };
}
