// What every target starter needs to know about this run.
export interface TargetContext {
  root: string;
  logDir: string;
  tmpDir: string;
  mockPort: number;
  /** Raises Bun's fetch cap (256 concurrent by default) in every Bun-based proxy alike; 0 leaves Bun's default. */
  bunMaxRequests: number;
  /** Bun's allocator setting, given to every Bun-based proxy alike ("" leaves Bun's default). */
  bunPurgeDelay: string;
  arouterMode: "real" | "standin";
  services: ServicesInfo | null;
}

export interface ServicesInfo {
  redisUrl: string;
  clickhouseUrl: string;
  /** Daemon pids by name, for CPU accounting of the usage pipeline. */
  pids: Record<string, number>;
}

export function bunEnv(ctx: TargetContext): Record<string, string> {
  const env: Record<string, string> = {};
  if (ctx.bunMaxRequests > 0) env.BUN_CONFIG_MAX_HTTP_REQUESTS = String(ctx.bunMaxRequests);
  if (ctx.bunPurgeDelay !== "") env.MIMALLOC_PURGE_DELAY = ctx.bunPurgeDelay;
  return env;
}
