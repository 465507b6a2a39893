// Open-loop pacing: request i is due at t0 + i/rate whatever happened to earlier requests.
export interface Paced {
  /** Milliseconds each request was dispatched after its due time: the generator's own jitter. */
  dispatchLagMs: Float64Array;
}

/**
 * Calls `send(i, dueAt)` at a fixed rate without waiting for earlier calls, so a slow target cannot
 * slow the offered load (no coordinated omission); resolves when every call has settled.
 */
export async function fixedRate(rate: number, count: number, send: (i: number, dueAt: number) => Promise<void>): Promise<Paced> {
  const interval = 1000 / rate;
  const lag = new Float64Array(count);
  const pending: Promise<void>[] = [];
  const t0 = performance.now() + 20;
  let i = 0;
  while (i < count) {
    const now = performance.now();
    while (i < count && t0 + i * interval <= now) {
      const due = t0 + i * interval;
      lag[i] = now - due;
      pending.push(send(i, due));
      i++;
    }
    const wait = t0 + i * interval - performance.now();
    // Timers are ~1 ms coarse; sleeping less than that only spins, so we yield and catch up in batches.
    await Bun.sleep(wait > 1 ? wait - 0.5 : 0);
  }
  await Promise.allSettled(pending);
  return { dispatchLagMs: lag };
}

export function readConfig<T>(): T {
  const raw = process.argv[2];
  if (!raw) throw new Error("expects its config as one JSON argument");
  return JSON.parse(raw) as T;
}
