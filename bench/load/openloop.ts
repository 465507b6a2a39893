// Fixed-rate load generator (own process): per-request latency at a rate well below saturation.
import { latencyPercentiles } from "../lib/stats.ts";
import type { Endpoint, LatencyPercentiles } from "../lib/types.ts";
import { fixedRate, readConfig } from "./schedule.ts";

export interface OpenLoopConfig {
  endpoint: Endpoint;
  body: string;
  rate: number;
  durationS: number;
  warmupS: number;
  timeoutMs: number;
}

export interface OpenLoopResult {
  sent: number;
  ok: number;
  errors: number;
  statuses: Record<string, number>;
  /** Send to last body byte, measured on the client with performance.now(). */
  latencyMs: LatencyPercentiles;
  /** Due time to last body byte: includes any dispatch delay of the generator itself. */
  latencyFromDueMs: LatencyPercentiles;
  dispatchLagMs: LatencyPercentiles;
}

const cfg = readConfig<OpenLoopConfig>();
const warm = Math.round(cfg.rate * cfg.warmupS);
const total = warm + Math.round(cfg.rate * cfg.durationS);
const lat = new Float64Array(total).fill(Number.NaN);
const latDue = new Float64Array(total).fill(Number.NaN);
const statuses: Record<string, number> = {};
let errors = 0;

const paced = await fixedRate(cfg.rate, total, async (i, due) => {
  const sent = performance.now();
  try {
    const res = await fetch(cfg.endpoint.url, {
      method: "POST",
      headers: cfg.endpoint.headers,
      body: cfg.body,
      signal: AbortSignal.timeout(cfg.timeoutMs),
    });
    await res.arrayBuffer();
    const end = performance.now();
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    if (res.status === 200) {
      lat[i] = end - sent;
      latDue[i] = end - due;
    }
  } catch {
    errors++;
  }
});

const measured = (a: Float64Array): Float64Array => a.subarray(warm).filter((x) => !Number.isNaN(x));
const result: OpenLoopResult = {
  sent: total - warm,
  ok: measured(lat).length,
  errors,
  statuses,
  latencyMs: latencyPercentiles(measured(lat)),
  latencyFromDueMs: latencyPercentiles(measured(latDue)),
  dispatchLagMs: latencyPercentiles(paced.dispatchLagMs.subarray(warm)),
};
console.log(JSON.stringify(result));
