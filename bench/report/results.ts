// The shape of bench/results/<date>.json, built from what each phase returns.
import type { Profile } from "../lib/profile.ts";
import type { AnalyticsResult } from "../phases/analytics.ts";
import type { bigStreamPhase } from "../phases/memory.ts";
import type { latencyPhase } from "../phases/latency.ts";
import type { Fidelity } from "../phases/preflight.ts";
import type { manyStreamsPhase, streamPhase } from "../phases/streaming.ts";
import type { throughputPhase } from "../phases/throughput.ts";
import type { UsageResult } from "../phases/usage.ts";

export interface Meta {
  date: string;
  mode: "full" | "quick";
  arouterMode: "real" | "standin";
  machine: { cpus: number; memGiB: number; kernel: string; loadavgAtStart: number[] };
  versions: Record<string, string>;
  bunMaxRequests: number;
  /** MIMALLOC_PURGE_DELAY given to the Bun proxies ("": Bun's default; absent in runs before it was set). */
  bunPurgeDelay?: string;
  profile: Profile;
  wallS: number;
  /** Median machine-wide busy fraction seen just before rounds: high means the numbers are noisy. */
  bgBusyMedian: number;
}

export interface TargetInfo {
  label: string;
  notes: string[];
  startMs: number;
  idleRssMiB: number;
  fidelity: Fidelity;
}

export interface BenchResults {
  meta: Meta;
  targets: Record<string, TargetInfo>;
  throughput?: Awaited<ReturnType<typeof throughputPhase>>;
  latency?: Awaited<ReturnType<typeof latencyPhase>>;
  stream?: Awaited<ReturnType<typeof streamPhase>>;
  many?: Awaited<ReturnType<typeof manyStreamsPhase>>;
  big?: Awaited<ReturnType<typeof bigStreamPhase>>;
  usage?: UsageResult;
  analytics?: AnalyticsResult;
  errors: Record<string, string>;
}
