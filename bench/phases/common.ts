// What every phase gets, and the interleaving loop that keeps rounds of all targets side by side.
import { settle } from "../lib/cpu.ts";
import type { Profile } from "../lib/profile.ts";
import type { RunningTarget } from "../lib/types.ts";

export interface PhaseContext {
  targets: RunningTarget[];
  profile: Profile;
  tmpDir: string;
  mockPid: number;
  /** The mock upstream's base URL (its GET /emitted gives tagged streams' send times). */
  mockUrl: string;
  log: (msg: string) => void;
  errors: Record<string, string>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Rep r starts at a different target and odd reps run the other way round, so no target always follows the same one
 * (arouter's pipeline keeps working after its round) nor always runs first after a quiet pause; each round waits for
 * the machine to settle and records how busy it was.
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
      const t = ctx.targets[rep % 2 === 0 ? (k + rep) % n : (rep - k + n) % n] as RunningTarget;
      if (!alive(ctx.mockPid)) throw new Error("the mock upstream exited");
      // A proxy killed from outside (a shared machine) must show up as missing rounds, not as 100% errors.
      const gone = t.pids.find((p) => !alive(p));
      if (gone !== undefined) {
        const key = `target ${t.name}`;
        if (!ctx.errors[key]) ctx.log(`${t.name}: its process ${gone} has exited; its remaining rounds are skipped`);
        ctx.errors[key] = `process ${gone} exited during the run (see its log); rounds after that were skipped`;
        continue;
      }
      const bg = await settle(ctx.profile.settle);
      out.push(await round(t, rep, bg));
    }
  }
  return out;
}

export const names = (ctx: PhaseContext): string[] => ctx.targets.map((t) => t.name);
export const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;
