// What every phase gets, and the interleaving loop that keeps rounds of all targets side by side.
import { settle } from "../lib/cpu.ts";
import type { Profile } from "../lib/profile.ts";
import type { RunningTarget } from "../lib/types.ts";

export interface PhaseContext {
  targets: RunningTarget[];
  profile: Profile;
  tmpDir: string;
  mockPid: number;
  log: (msg: string) => void;
}

/**
 * Rep r starts at a different target (rotation), so no target always runs first after a quiet
 * pause or last after a hot one; each round waits for the machine to settle and records how busy it was.
 */
export async function interleaved<R>(
  ctx: PhaseContext,
  reps: number,
  round: (t: RunningTarget, rep: number, bgBusy: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  const n = ctx.targets.length;
  for (let rep = 0; rep < reps; rep++) {
    for (let k = 0; k < n; k++) {
      const t = ctx.targets[(k + rep) % n] as RunningTarget;
      const bg = await settle(ctx.profile.settle);
      out.push(await round(t, rep, bg));
    }
  }
  return out;
}

export const names = (ctx: PhaseContext): string[] => ctx.targets.map((t) => t.name);
export const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;
