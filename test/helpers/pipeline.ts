// The whole usage pipeline in one test process: the real runtime (producer → Redis), a real worker, real ClickHouse.
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { envName, PROVIDERS } from '../../src/providers/index.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { readWorkerSettings } from '../../workers/settings.ts';
import { startUsageWorker, type UsageWorkerHandle } from '../../workers/usage-worker.ts';
import { TEST_CLICKHOUSE_URL, TEST_REDIS_URL, uniqueName } from './env.ts';
import { ADMIN_TOKEN, PROVIDER_SECRET } from './proxy-harness.ts';

export interface Pipeline {
  runtime: Runtime;
  worker: UsageWorkerHandle;
  ch: ClickHouseClient;
  db: string;
  env: Record<string, string>;
  createKey(account: string): Promise<string>;
  /** Rows in usage_events read with FINAL. */
  rows<T = Record<string, unknown>>(where?: string): Promise<T[]>;
  /** The runtime on a real socket (port 0), for SDK clients; closed with the pipeline. */
  listen(): string;
  /** `GET /v1/usage` totals for a key's account, from yesterday to the day after tomorrow. */
  usageTotals(key: string): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export async function startPipeline(upstream: string, extraEnv: Record<string, string> = {}): Promise<Pipeline> {
  const db = uniqueName('pipe');
  const outbox = mkdtempSync(join(tmpdir(), 'arouter-outbox-'));
  const env: Record<string, string> = {
    REDIS_URL: TEST_REDIS_URL,
    CLICKHOUSE_URL: TEST_CLICKHOUSE_URL,
    CLICKHOUSE_DB: db,
    AROUTER_USAGE_QUEUE: uniqueName('q'),
    AROUTER_OUTBOX_DIR: outbox,
    AROUTER_ADMIN_TOKEN: ADMIN_TOKEN,
    AROUTER_KEY_PREFIX: uniqueName('k'),
    AROUTER_WORKER_FLUSH_MS: '200',
    AROUTER_ROLLUP_INTERVAL_MS: '0',
  };
  for (const p of PROVIDERS) {
    env[`${envName(p.slug)}_API_KEY`] = PROVIDER_SECRET(p.slug);
    env[`AROUTER_UPSTREAM_${envName(p.slug)}`] = upstream;
  }
  Object.assign(env, extraEnv);
  const worker = await startUsageWorker(readWorkerSettings(env), { log: () => {} });
  const runtime = await createRuntime(loadSettings(env), silentLogger);
  const ch = createClient({ url: TEST_CLICKHOUSE_URL });
  let server: ReturnType<typeof Bun.serve> | undefined;
  return {
    runtime,
    worker,
    ch,
    db,
    env,
    async createKey(account) {
      const res = await runtime.app.handle(
        new Request('http://arouter.test/admin/keys', {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ account, name: 'pipeline' }),
        }),
      );
      return ((await res.json()) as { key: string }).key;
    },
    async rows<T>(where = '1') {
      const rs = await ch.query({ query: `SELECT * FROM ${db}.usage_events FINAL WHERE ${where} ORDER BY ts, request_id`, format: 'JSONEachRow' });
      return rs.json<T>();
    },
    listen() {
      server ??= Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: runtime.fetch });
      runtime.setServer(server);
      return `http://127.0.0.1:${server.port}`;
    },
    async usageTotals(key) {
      const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
      const res = await runtime.app.handle(new Request(`http://arouter.test/v1/usage?from=${day(-1)}&to=${day(2)}`, { headers: { authorization: `Bearer ${key}` } }));
      return ((await res.json()) as { totals: Record<string, number> }).totals;
    },
    async close() {
      server?.stop(true);
      await runtime.drain(0);
      await worker.close();
      await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
      await ch.close();
      rmSync(outbox, { recursive: true, force: true });
    },
  };
}
