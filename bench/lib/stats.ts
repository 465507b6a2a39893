// Percentiles and min/median/max spreads over repeated rounds.
import type { LatencyPercentiles, Spread } from "./types.ts";

/** Nearest-rank percentile of an ascending array; q in [0, 1]. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function latencyPercentiles(samples: Float64Array): LatencyPercentiles {
  const s = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of s) sum += v;
  return {
    p50: percentile(s, 0.5),
    p90: percentile(s, 0.9),
    p99: percentile(s, 0.99),
    p999: percentile(s, 0.999),
    max: s.length ? (s[s.length - 1] ?? Number.NaN) : Number.NaN,
    mean: s.length ? sum / s.length : Number.NaN,
  };
}

export function spread(values: number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { min: Number.NaN, median: Number.NaN, max: Number.NaN, n: 0 };
  const mid = v.length >> 1;
  const median = v.length % 2 ? (v[mid] ?? Number.NaN) : ((v[mid - 1] ?? 0) + (v[mid] ?? 0)) / 2;
  return { min: v[0] ?? Number.NaN, median, max: v[v.length - 1] ?? Number.NaN, n: v.length };
}

/** Pairs each round of `target` with the same rep's round of `base`, so ratios never mix runs. */
export function pairedSpread<R extends { rep: number; target: string }>(
  rounds: R[],
  target: string,
  base: string,
  combine: (t: R, b: R) => number,
): Spread {
  const values: number[] = [];
  for (const t of rounds.filter((r) => r.target === target)) {
    const b = rounds.find((r) => r.target === base && r.rep === t.rep);
    if (b) values.push(combine(t, b));
  }
  return spread(values);
}

export const round = (x: number, digits = 2): number =>
  Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : Number.NaN;
