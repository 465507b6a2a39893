// Command-line flags and the two run profiles: the full suite (~10 min) and --quick (~2 min).
import type { TargetName } from "./types.ts";

export interface Profile {
  reps: number;
  /** windowMs: each busy reading's span; longer than the usage worker's 1 s flush, so its inserts and ClickHouse's
   *  work after arouter's round show up in it instead of falling between two readings. */
  settle: { minMs: number; maxMs: number; below: number; windowMs: number };
  throughput: { durationS: number; warmupS: number; connections: number; threads: number };
  /** rate is a ceiling: the run lowers it to a share of the slowest target's max rate (see latencyRate). */
  latency: { rate: number; durationS: number; warmupS: number; shareOfSlowest: number };
  stream: { streams: number; concurrency: number; events: number; cadenceMs: number };
  manyStreams: { streams: number; events: number; cadenceMs: number; rampMs: number; reps: number };
  /** rateMiBps sits well below every target's own relay speed (arouter's is 150-200 MiB/s here), so the reader sets the pace. */
  bigStream: { mib: number; rateMiBps: number; reps: number };
  usage: { durationS: number; probeRate: number; drainS: number };
  analyticsTimeoutS: number;
}

const FULL: Profile = {
  reps: 3,
  settle: { minMs: 1500, maxMs: 6000, below: 0.25, windowMs: 1200 },
  throughput: { durationS: 5, warmupS: 1, connections: 64, threads: 1 },
  latency: { rate: 500, durationS: 8, warmupS: 1, shareOfSlowest: 0.3 },
  stream: { streams: 30, concurrency: 10, events: 100, cadenceMs: 10 },
  manyStreams: { streams: 1000, events: 20, cadenceMs: 200, rampMs: 1000, reps: 3 },
  bigStream: { mib: 1024, rateMiBps: 64, reps: 3 },
  usage: { durationS: 8, probeRate: 20, drainS: 30 },
  analyticsTimeoutS: 600,
};

const QUICK: Profile = {
  reps: 2,
  settle: { minMs: 300, maxMs: 700, below: 0.25, windowMs: 300 },
  throughput: { durationS: 2, warmupS: 1, connections: 64, threads: 1 },
  latency: { rate: 500, durationS: 2, warmupS: 0.5, shareOfSlowest: 0.3 },
  stream: { streams: 10, concurrency: 10, events: 100, cadenceMs: 10 },
  manyStreams: { streams: 200, events: 10, cadenceMs: 200, rampMs: 200, reps: 1 },
  bigStream: { mib: 64, rateMiBps: 64, reps: 1 },
  usage: { durationS: 4, probeRate: 20, drainS: 15 },
  analyticsTimeoutS: 120,
};

export type Phase = "throughput" | "latency" | "stream" | "many" | "big" | "usage" | "analytics";
export const ALL_PHASES: Phase[] = ["throughput", "latency", "stream", "many", "big", "usage", "analytics"];

export interface Options {
  quick: boolean;
  profile: Profile;
  arouter: "auto" | "real" | "standin";
  targets: TargetName[] | null;
  phases: Phase[];
  services: boolean;
  bunMaxRequests: number;
  /** MIMALLOC_PURGE_DELAY for every Bun process of a proxy target ("" leaves Bun's default). */
  bunPurgeDelay: string;
  redisPort: number;
  chHttpPort: number;
  outDir: string | null;
  latencyRate: number | null;
}

export const USAGE = `usage: bun run bench/run.ts [--quick] [--arouter=auto|real|standin] [--targets=a,b] [--phases=a,b]
                          [--no-services] [--bun-max-requests=N] [--bun-purge-delay=N] [--redis-port=N] [--ch-port=N] [--out=DIR]
                          [--latency-rate=N]
  --arouter      auto (default): the real proxy when src/server.ts exists, else the stand-in
  --targets      subset of: direct,bare-bun,nginx,portkey,arouter (direct is always kept: ratios need it)
  --phases       subset of: ${ALL_PHASES.join(",")}
  --latency-rate  pin the open-loop rate (default: 500 req/s, or 30% of the slowest target's max if lower)
  --bun-max-requests  BUN_CONFIG_MAX_HTTP_REQUESTS for every Bun-based proxy (default 4096; 0 = Bun's 256)
  --bun-purge-delay   MIMALLOC_PURGE_DELAY for every Bun process of a proxy target, arouter's worker included
                      (default -1, as arouter's launchers set it; empty = Bun's default)`;

export function parseArgs(argv: string[]): Options {
  const flags = new Map<string, string>();
  for (const a of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !m[1]) throw new Error(`unknown argument ${a}\n${USAGE}`);
    flags.set(m[1], m[2] ?? "true");
  }
  const known = ["quick", "arouter", "targets", "phases", "no-services", "bun-max-requests", "bun-purge-delay", "redis-port", "ch-port", "out", "latency-rate", "help"];
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown flag --${k}\n${USAGE}`);
  const quick = flags.has("quick");
  const arouter = flags.get("arouter") ?? "auto";
  if (arouter !== "auto" && arouter !== "real" && arouter !== "standin") throw new Error(`--arouter=${arouter}?\n${USAGE}`);
  const list = (k: string): string[] | null => flags.get(k)?.split(",").filter(Boolean) ?? null;
  const targets = list("targets") as TargetName[] | null;
  const phases = (list("phases") ?? ALL_PHASES) as Phase[];
  for (const p of phases) if (!ALL_PHASES.includes(p)) throw new Error(`unknown phase ${p}\n${USAGE}`);
  return {
    quick,
    profile: quick ? QUICK : FULL,
    arouter,
    targets: targets && !targets.includes("direct") ? ["direct", ...targets] : targets,
    phases,
    services: !flags.has("no-services"),
    bunMaxRequests: Number(flags.get("bun-max-requests") ?? 4096),
    bunPurgeDelay: flags.get("bun-purge-delay") ?? "-1",
    redisPort: Number(flags.get("redis-port") ?? 26379),
    chHttpPort: Number(flags.get("ch-port") ?? 28123),
    outDir: flags.get("out") ?? null,
    latencyRate: flags.has("latency-rate") ? Number(flags.get("latency-rate")) : null,
  };
}
