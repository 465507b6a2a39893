// In-process timing for the microbenchmarks: microseconds per call, the median of five timed rounds after a warm-up.
import { spread } from "../lib/stats.ts";

export function timePerCall(f: () => unknown, n: number): number {
  for (let i = 0; i < n; i++) f();
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f();
    rounds.push(((performance.now() - t0) * 1000) / n);
  }
  return spread(rounds).median;
}
