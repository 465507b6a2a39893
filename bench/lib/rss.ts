// Resident memory of whole process trees, read from /proc, and a background sampler.
import { readFileSync, readdirSync } from "node:fs";

function readRssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Children via every thread's children file: nginx workers and any helper a proxy forks count too. */
function descendants(pid: number, acc: Set<number>): void {
  if (acc.has(pid)) return;
  acc.add(pid);
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim().split(/\s+/)) {
        if (c) descendants(Number(c), acc);
      }
    } catch {
      /* thread ended meanwhile */
    }
  }
}

export function treePids(roots: number[]): Set<number> {
  const all = new Set<number>();
  for (const r of roots) descendants(r, all);
  return all;
}

export function treeRssKiB(roots: number[]): number {
  let sum = 0;
  for (const p of treePids(roots)) sum += readRssKiB(p);
  return sum;
}

export interface RssTrace {
  startKiB: number;
  peakKiB: number;
  endKiB: number;
  samples: Array<[number, number]>;
}

/** Samples on a timer; cheap enough (a few /proc reads) not to disturb the measured processes. */
export function sampleRss(roots: number[], intervalMs: number): { stop: () => RssTrace } {
  const t0 = performance.now();
  const samples: Array<[number, number]> = [];
  const take = (): void => {
    samples.push([Math.round(performance.now() - t0), treeRssKiB(roots)]);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      const values = samples.map((s) => s[1]);
      return {
        startKiB: values[0] ?? 0,
        peakKiB: Math.max(...values),
        endKiB: values[values.length - 1] ?? 0,
        samples,
      };
    },
  };
}
