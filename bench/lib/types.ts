// Shared shapes for the benchmark harness: targets, per-round records and the results file.

export type TargetName = "direct" | "bare-bun" | "nginx" | "portkey" | "arouter";

/** How a load generator reaches one target: everything but the body. */
export interface Endpoint {
  url: string;
  headers: Record<string, string>;
}

/** A started target; `pids` are the roots of the process trees whose RSS counts as "the proxy". */
export interface RunningTarget {
  name: TargetName;
  label: string;
  endpoint: Endpoint;
  pids: number[];
  notes: string[];
  /** Processes that work for this target besides the proxy (arouter: worker, Redis, ClickHouse), by name. */
  side: Record<string, number[]>;
  /** Set for arouter only: what the usage phase needs. */
  usage?: UsageAccess;
}

export interface UsageAccess {
  clickhouseUrl: string;
  database: string;
  baseUrl: string;
  key: string;
  adminToken: string;
}

export interface Spread {
  min: number;
  median: number;
  max: number;
  n: number;
}

export interface LatencyPercentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Every measured round carries the background CPU seen just before it, to judge noise later. */
export interface RoundBase {
  rep: number;
  target: TargetName;
  bgBusy: number;
}

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
