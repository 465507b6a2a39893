// Waits for the machine to calm down between rounds and reports how busy it still was.
import { readFileSync } from "node:fs";

function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

async function busyOver(ms: number): Promise<number> {
  const a = cpuTimes();
  await Bun.sleep(ms);
  const b = cpuTimes();
  const dt = b.total - a.total;
  return dt > 0 ? (b.busy - a.busy) / dt : 0;
}

/**
 * Returns the machine-wide busy fraction (0..1 over all cores) of the last window. Other work on a
 * shared machine may never go quiet, so this is bounded and the figure is kept with each round.
 */
export async function settle(opts: { minMs: number; maxMs: number; below: number; windowMs: number }): Promise<number> {
  const t0 = performance.now();
  await Bun.sleep(Math.max(0, opts.minMs - opts.windowMs));
  let busy = await busyOver(opts.windowMs);
  while (busy > opts.below && performance.now() - t0 < opts.maxMs) busy = await busyOver(opts.windowMs);
  return Math.round(busy * 100) / 100;
}
