// A whole arouter deployment for fault tests: private Redis + ClickHouse, the proxy and usage workers as killable processes.
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { readdirSync } from 'node:fs';
import { uniqueName, waitFor } from './env.ts';
import { startPrivateServices, type PrivateServices } from './faults-services.ts';
import { spawnChild, startProxyProcess, type Child, type ProxyProcess } from './hardening-proc.ts';

export interface StackOptions {
  /** Base URL every provider is pointed at. */
  upstream: string;
  /** Extra worker environment (e.g. a flush interval that holds jobs in hand). */
  workerEnv?: Record<string, string>;
  /** Extra environment of the first proxy (e.g. a batch window that holds every snippet in its open batch). */
  proxyEnv?: Record<string, string>;
}

export interface Stored {
  /** Logical rows (FINAL). */
  count: number;
  /** Distinct request ids (FINAL). */
  uniq: number;
}

export interface FaultStack {
  services: PrivateServices;
  db: string;
  queueName: string;
  keyPrefix: string;
  /** ClickHouse client on the private server; fails while it is down. */
  ch: ClickHouseClient;
  /** BullMQ view of the usage queue on the private Redis. */
  queue: Queue;
  /** The proxy started last. */
  readonly proxy: ProxyProcess;
  workers: Child[];
  /** Every proxy started, the latest last. */
  proxies: ProxyProcess[];
  startProxy(env?: Record<string, string>): Promise<ProxyProcess>;
  startWorker(env?: Record<string, string>): Promise<Child>;
  stored(): Promise<Stored>;
  storedIds(): Promise<Set<string>>;
  /** Physical rows, before FINAL collapses replays. */
  physicalCount(): Promise<number>;
  /** No job waiting, active or delayed, and no outbox file left behind by any proxy. */
  idle(): Promise<boolean>;
  /**
   * Poll until every served request has its row and the pipeline is idle, then return what is stored.
   * Fails fast when more distinct rows than served requests appear.
   */
  settle(served: ReadonlySet<string>, timeoutMs?: number): Promise<Stored & { ids: Set<string>; ms: number }>;
  close(): Promise<void>;
}

/** Worker settings for tests: quick flushes, quick ClickHouse retries, and a dead worker's jobs back within ~2 s. */
export const TEST_WORKER_ENV: Record<string, string> = {
  AROUTER_WORKER_FLUSH_MS: '200',
  AROUTER_WORKER_RETRY_MAX_MS: '1000',
  AROUTER_WORKER_STALLED_MS: '1000',
  AROUTER_WORKER_SHUTDOWN_MS: '2000',
  AROUTER_ROLLUP_INTERVAL_MS: '0',
};

const live = new Set<FaultStack>();
// Child processes outlive a runner that exits without running its hooks; take them down with it.
process.on('exit', () => {
  for (const s of live) for (const c of [...s.workers, ...s.proxies]) c.kill('SIGKILL');
});

/** Every stack still open (a test that timed out leaves its own): close them in afterEach. */
export async function closeAllStacks(): Promise<void> {
  await Promise.all([...live].map((s) => s.close()));
}

/** Reject after `ms` so a poll never hangs on a frozen or reconnecting server. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(t),
  );
}

export async function startStack(o: StackOptions): Promise<FaultStack> {
  const services = await startPrivateServices();
  const db = uniqueName('faults');
  const queueName = uniqueName('fq');
  const keyPrefix = uniqueName('fk');
  const ch = createClient({ url: services.clickhouseUrl, request_timeout: 5_000 });
  // Fail fast while Redis is away (the poller retries); BullMQ only insists on a blocking-safe connection for workers.
  const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 100 });
  redis.on('error', () => undefined);
  const queue = new Queue(queueName, { connection: redis });
  queue.on('error', () => undefined);
  const workers: Child[] = [];
  const proxies: ProxyProcess[] = [];

  const baseEnv = { REDIS_URL: services.redisUrl, CLICKHOUSE_URL: services.clickhouseUrl, CLICKHOUSE_DB: db, AROUTER_USAGE_QUEUE: queueName };
  const startWorker = async (env: Record<string, string> = {}): Promise<Child> => {
    const w = spawnChild(['bun', 'run', 'workers/main.ts'], { ...baseEnv, ...TEST_WORKER_ENV, ...o.workerEnv, ...env });
    workers.push(w);
    await w.waitForLine((l) => l.includes('"usage worker started"'), 20_000, 'the worker to start').catch((e: unknown) => {
      throw new Error(`${String(e)}\n${w.lines.slice(-20).join('\n')}`);
    });
    return w;
  };
  const startProxy = async (env: Record<string, string> = {}): Promise<ProxyProcess> => {
    const p = await startProxyProcess({ upstream: o.upstream, env: { ...baseEnv, AROUTER_KEY_PREFIX: keyPrefix, ...env } });
    proxies.push(p);
    return p;
  };
  const rows = async <T>(query: string): Promise<T[]> => (await ch.query({ query, format: 'JSONEachRow' })).json<T>();
  const stored = async (): Promise<Stored> => {
    const [r] = await rows<{ c: string; u: string }>(`SELECT count() AS c, uniqExact(request_id) AS u FROM ${db}.usage_events FINAL`);
    return { count: Number(r?.c ?? 0), uniq: Number(r?.u ?? 0) };
  };
  const outboxFiles = (): number =>
    proxies.reduce((n, p) => {
      try {
        return n + readdirSync(p.outboxDir).filter((f) => f.includes('.batch') || f.includes('.claim-')).length;
      } catch {
        return n;
      }
    }, 0);

  let closed = false;
  const stack: FaultStack = {
    services,
    db,
    queueName,
    keyPrefix,
    ch,
    queue,
    get proxy(): ProxyProcess {
      const p = proxies[proxies.length - 1];
      if (!p) throw new Error('no proxy started');
      return p;
    },
    workers,
    proxies,
    startProxy,
    startWorker,
    stored,
    async storedIds() {
      return new Set((await rows<{ request_id: string }>(`SELECT request_id FROM ${db}.usage_events FINAL`)).map((r) => r.request_id));
    },
    async physicalCount() {
      const [r] = await rows<{ c: string }>(`SELECT count() AS c FROM ${db}.usage_events`);
      return Number(r?.c ?? 0);
    },
    async idle() {
      const c = await within(queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children'), 2_000, 'job counts');
      return Object.values(c).every((n) => n === 0) && outboxFiles() === 0;
    },
    async settle(served, timeoutMs = 30_000) {
      const t0 = Date.now();
      // More rows than requests can only grow: it ends the wait at once (waitFor retries on a throw, so it is returned).
      const s = await waitFor(
        async () => {
          const now = await within(stored(), 3_000, 'stored rows');
          if (now.uniq > served.size) return now;
          return now.uniq === served.size && (await stack.idle()) ? now : null;
        },
        timeoutMs,
        `${served.size} rows in ClickHouse and an idle pipeline`,
      );
      if (s.uniq > served.size) throw new Error(`more rows than served requests: ${s.uniq} > ${served.size}`);
      return { ...s, ids: await stack.storedIds(), ms: Date.now() - t0 };
    },
    async close() {
      if (closed) return;
      closed = true;
      live.delete(stack);
      for (const p of proxies) await p.stop();
      for (const w of workers) {
        w.kill('SIGKILL');
        await w.exited;
      }
      await queue.close().catch(() => undefined);
      redis.disconnect();
      await ch.close();
      await services.stop();
    },
  };
  live.add(stack);
  try {
    await startWorker();
    await startProxy(o.proxyEnv);
  } catch (e) {
    await stack.close();
    throw e;
  }
  return stack;
}

/** Why a worker or proxy log line says what it says: for failure messages. */
export function tail(c: Child, n = 30): string {
  return c.lines.slice(-n).join('\n');
}
