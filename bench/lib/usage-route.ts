// Times GET /v1/usage over HTTP: a real arouter process pointed at the bench's analytics database, asked with a key of
// the seeded account, each query timed by the client from send to the last byte of the answer.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import Redis from "ioredis";

export interface RouteTiming {
  group_by: string | null;
  p50_ms: number;
  p99_ms: number;
  requests: number;
}

export interface UsageRouteOptions {
  root: string;
  clickhouseUrl: string;
  redisUrl: string;
  db: string;
  account: string;
  from: Date;
  to: Date;
  groupings: ReadonlyArray<string | undefined>;
  iterations: number;
  pct(sorted: number[], p: number): number;
}

/** Starts arouter on port 0 and reads its port from the "arouter listening" line (bounded). */
async function startArouter(o: UsageRouteOptions, adminToken: string, outbox: string, tag: string) {
  const child = Bun.spawn(["bun", "run", "src/server.ts"], {
    cwd: o.root,
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      REDIS_URL: o.redisUrl,
      CLICKHOUSE_URL: o.clickhouseUrl,
      CLICKHOUSE_DB: o.db,
      AROUTER_ADMIN_TOKEN: adminToken,
      AROUTER_KEY_PREFIX: tag,
      AROUTER_USAGE_QUEUE: tag,
      AROUTER_OUTBOX_DIR: outbox,
      AROUTER_LOG_LEVEL: "info",
      // As arouter's launchers start it (package.json "proxy").
      BUN_CONFIG_MAX_HTTP_REQUESTS: "65535",
      MIMALLOC_PURGE_DELAY: "-1",
    },
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  const deadline = Date.now() + 20_000;
  try {
    while (Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), Math.max(1, deadline - Date.now()))));
      const chunk = await Promise.race([reader.read(), timeout]);
      clearTimeout(timer);
      if (chunk === null || chunk.done) break;
      seen += decoder.decode(chunk.value, { stream: true });
      // Whole lines only: a line still arriving is read on the next pass.
      const line = seen.slice(0, seen.lastIndexOf("\n") + 1).split("\n").find((l) => l.includes('"arouter listening"'));
      if (line) {
        // Keep draining its stdout so the pipe never fills and stalls it.
        void (async () => {
          for (;;) if ((await reader.read()).done) return;
        })().catch(() => {});
        return { child, url: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` };
      }
    }
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  child.kill("SIGKILL");
  throw new Error(`arouter did not start for the usage route timing: ${seen.slice(-500)}`);
}

/** The key store and queue state its arouter left in Redis (revoking a key keeps its record). */
async function dropRedisState(redisUrl: string, tag: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    for (const pattern of [`${tag}:*`, `bull:${tag}:*`]) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 500);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== "0");
    }
  } finally {
    redis.disconnect();
  }
}

export async function timeUsageRoute(o: UsageRouteOptions): Promise<RouteTiming[]> {
  const adminToken = `bench-admin-${crypto.randomUUID()}`;
  const tag = `ubench${Date.now().toString(36)}`;
  const outbox = mkdtempSync(join(tmpdir(), "arouter-usage-bench-"));
  let child: Subprocess | undefined;
  try {
    const started = await startArouter(o, adminToken, outbox, tag);
    child = started.child;
    const url = started.url;
    const created = await fetch(`${url}/admin/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ account: o.account, name: "usage bench" }),
    });
    if (created.status !== 201) throw new Error(`creating the bench key failed: ${created.status}`);
    const { key } = (await created.json()) as { key: string };
    const out: RouteTiming[] = [];
    for (const g of o.groupings) {
      const q = new URLSearchParams({ from: o.from.toISOString(), to: o.to.toISOString(), ...(g ? { group_by: g } : {}) });
      const get = async () => {
        const res = await fetch(`${url}/v1/usage?${q}`, { headers: { authorization: `Bearer ${key}` } });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`GET /v1/usage answered ${res.status}: ${text.slice(0, 200)}`);
        return text;
      };
      for (let i = 0; i < 2; i++) await get(); // warm caches, as the in-process timing does
      const ms: number[] = [];
      let requests = 0;
      for (let i = 0; i < o.iterations; i++) {
        const t0 = performance.now();
        const text = await get();
        ms.push(performance.now() - t0);
        requests = (JSON.parse(text) as { totals: { requests: number } }).totals.requests;
      }
      ms.sort((a, b) => a - b);
      out.push({ group_by: g ?? null, p50_ms: o.pct(ms, 50), p99_ms: o.pct(ms, 99), requests });
    }
    return out;
  } finally {
    if (child) await stop(child);
    rmSync(outbox, { recursive: true, force: true });
    await dropRedisState(o.redisUrl, tag).catch(() => {});
  }
}

async function stop(child: Subprocess): Promise<void> {
  child.kill("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([child.exited.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), 10_000)))]);
  clearTimeout(timer);
  if (!exited) child.kill("SIGKILL");
}
