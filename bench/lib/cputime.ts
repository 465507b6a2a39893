// CPU time (user + system) of process trees from /proc: cost per request holds up on a busy machine where req/s does not.
import { readFileSync } from "node:fs";
import { treePids } from "./rss.ts";

// Linux reports these fields in clock ticks; USER_HZ is 100 on every mainstream build.
const TICK_MS = 10;

function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may contain spaces and parentheses: fields are counted after its closing one.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

export function treeCpuMs(roots: number[]): number {
  let sum = 0;
  for (const p of treePids(roots)) sum += cpuMs(p);
  return sum;
}

/** Starts a meter over named groups of process trees; `stop` gives each group's CPU ms since. */
export function cpuMeter(groups: Record<string, number[]>): { stop: () => Record<string, number> } {
  const before = Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, treeCpuMs(pids)]));
  return {
    stop: () => Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, treeCpuMs(pids) - (before[k] ?? 0)])),
  };
}
