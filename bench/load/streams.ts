// SSE client (own process): time to first byte and each event's delay against the mock's fixed cadence.
import { settle } from "../lib/cpu.ts";
import { pairRelays } from "../lib/relay-pairing.ts";
import { latencyPercentiles } from "../lib/stats.ts";
import type { Endpoint, LatencyPercentiles } from "../lib/types.ts";
import { readConfig } from "./schedule.ts";

export interface StreamsConfig {
  endpoint: Endpoint;
  body: string;
  streams: number;
  concurrency: number;
  /** Spreads the opening of the first `concurrency` streams, so 1,000 connects are not one burst. */
  rampMs: number;
  events: number;
  cadenceMs: number;
  timeoutMs: number;
  /** Sent `concurrency` at a time first, unmeasured, so connection setup and JIT stay out of the figures. */
  warmupBody?: string;
  /** How many times `concurrency` warm-up requests are sent (default 3). */
  warmupRounds?: number;
  /** After the warm-up, wait for the machine to settle (as between rounds) before anything is timed: the warm-up's
   *  aftermath (a proxy's usage records, its garbage collection) must not land on the measured streams. */
  settleAfterWarmup?: { minMs: number; maxMs: number; below: number; windowMs: number };
  /**
   * The mock's GET /emitted URL. When set, each stream's model gets a unique "#tag", the mock notes when it sent
   * each event, and every event's relay delay (sent by the mock → read here, one shared clock) is measured too.
   */
  emittedUrl?: string;
}

export interface StreamsResult {
  streams: number;
  completed: number;
  failed: number;
  /** Streams that delivered fewer events than sent (a proxy that drops or merges events shows here). */
  short: number;
  maxOpen: number;
  ttfbMs: LatencyPercentiles;
  /** Arrival of event i minus (send time + i * cadence): 0 would be a zero-cost wire. */
  eventDelayMs: LatencyPercentiles;
  /**
   * Arrival of each event minus the moment the mock sent it: the relay alone, without the request's own way to the
   * mock, which eventDelayMs counts into every event. Null without emittedUrl.
   */
  relayDelayMs: LatencyPercentiles | null;
  /** Streams whose events could not be paired with the mock's (counts differ by more than one dropped event). */
  unpaired: number;
  wallMs: number;
}

const cfg = readConfig<StreamsConfig>();
const ttfb: number[] = [];
const delays: number[] = [];
const relays: number[] = [];
let unpaired = 0;
const runTag = `${process.pid}-${Date.now().toString(36)}`;
let tagSeq = 0;
const SSE_MODEL = /"bench-sse-(\d+)x(\d+)"/;

let completed = 0;
let failed = 0;
let short = 0;
let open = 0;
let maxOpen = 0;
let next = 0;

async function one(): Promise<void> {
  const t0 = performance.now();
  let opened = false;
  const tag = cfg.emittedUrl ? `${runTag}-${++tagSeq}` : null;
  const arrivals: number[] = [];
  try {
    const res = await fetch(cfg.endpoint.url, {
      method: "POST",
      headers: cfg.endpoint.headers,
      body: tag ? cfg.body.replace(SSE_MODEL, `"bench-sse-$1x$2#${tag}"`) : cfg.body,
      signal: AbortSignal.timeout(cfg.timeoutMs),
    });
    if (res.status !== 200 || !res.body) throw new Error(`status ${res.status}`);
    opened = true;
    maxOpen = Math.max(maxOpen, ++open);
    let events = 0;
    let prevLf = false;
    let first = true;
    for await (const chunk of res.body) {
      const t = performance.now();
      if (first) ttfb.push(t - t0);
      first = false;
      // An SSE event ends at a blank line (LF, optional CR, LF); indexOf keeps 1,000 streams cheap to parse.
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
        const j = i > 0 && chunk[i - 1] === 13 ? i - 2 : i - 1;
        if (j < 0 ? prevLf : chunk[j] === 10) {
          delays.push(t - t0 - events++ * cfg.cadenceMs);
          if (tag) arrivals.push(performance.timeOrigin + t);
        }
      }
      const n = chunk.length;
      prevLf = chunk[n - 1] === 10 || (chunk[n - 1] === 13 && chunk[n - 2] === 10);
    }
    if (events < cfg.events) short++;
    completed++;
    if (tag && cfg.emittedUrl) await collectRelays(cfg.emittedUrl, tag, arrivals);
  } catch {
    failed++;
  } finally {
    if (opened) open--;
  }
}

async function collectRelays(emittedUrl: string, tag: string, arrivals: number[]): Promise<void> {
  try {
    const r = await fetch(`${emittedUrl}?tag=${encodeURIComponent(tag)}`);
    if (!r.ok) throw new Error(`status ${r.status}`);
    const paired = pairRelays(arrivals, (await r.json()) as number[]);
    if (paired === null) unpaired++;
    else for (const d of paired) relays.push(d);
  } catch {
    unpaired++;
  }
}

async function worker(w: number): Promise<void> {
  await Bun.sleep((w * cfg.rampMs) / Math.max(1, cfg.concurrency));
  while (next < cfg.streams) {
    next++;
    await one();
  }
}

if (cfg.warmupBody) {
  const init = { method: "POST", headers: cfg.endpoint.headers, body: cfg.warmupBody, signal: AbortSignal.timeout(cfg.timeoutMs) };
  for (let round = 0; round < (cfg.warmupRounds ?? 3); round++) {
    await Promise.allSettled(Array.from({ length: cfg.concurrency }, () => fetch(cfg.endpoint.url, init).then((r) => r.arrayBuffer())));
  }
  if (cfg.settleAfterWarmup) await settle(cfg.settleAfterWarmup);
}
const t0 = performance.now();
await Promise.all(Array.from({ length: Math.min(cfg.concurrency, cfg.streams) }, (_, w) => worker(w)));
const result: StreamsResult = {
  streams: cfg.streams,
  completed,
  failed,
  short,
  maxOpen,
  ttfbMs: latencyPercentiles(Float64Array.from(ttfb)),
  eventDelayMs: latencyPercentiles(Float64Array.from(delays)),
  relayDelayMs: cfg.emittedUrl ? latencyPercentiles(Float64Array.from(relays)) : null,
  unpaired,
  wallMs: Math.round(performance.now() - t0),
};
console.log(JSON.stringify(result));
