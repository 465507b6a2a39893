// workers/main.ts as a process: SIGTERM stops taking jobs, flushes the batch in hand, completes its jobs and exits 0.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { USAGE_JOB_NAME } from '../../src/usage/producer-options.ts';
import { USAGE_TABLE } from '../../workers/migrations.ts';
import { TEST_CLICKHOUSE_URL, TEST_REDIS_URL, uniqueName, waitFor } from '../helpers/env.ts';
import { startPrivateRedis } from '../helpers/hardening-proc.ts';
import { freshUsageDb, scalar, type UsageDb } from '../helpers/usage-db.ts';
import { fixtureSnippet, OPENAI_CHAT } from '../helpers/usage-snippets.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let u: UsageDb;
let redis: Redis;
let queue: Queue;

beforeAll(async () => {
  u = await freshUsageDb('t_main');
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue(uniqueName('t_main_q'), { connection: redis });
});

afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  redis.disconnect();
  await u.drop();
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal}: the buffered batch is written, its job completed, exit code 0`, async () => {
    const account = uniqueName('acct');
    const proc = Bun.spawn(['bun', 'run', 'workers/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env, REDIS_URL: TEST_REDIS_URL, CLICKHOUSE_URL: TEST_CLICKHOUSE_URL, CLICKHOUSE_DB: u.db,
        // An interval far longer than the test: only the shutdown drain can write these rows.
        AROUTER_USAGE_QUEUE: queue.name, AROUTER_WORKER_FLUSH_MS: '600000', AROUTER_ROLLUP_INTERVAL_MS: '0',
      },
      stdout: 'ignore',
      stderr: 'pipe',
    });
    try {
      const jobId = `${signal}-job`;
      await queue.add(USAGE_JOB_NAME, { snippets: [0, 1, 2].map((i) => fixtureSnippet(OPENAI_CHAT, { requestId: `${signal}_${i}`, accountId: account })) }, { jobId });
      await waitFor(async () => (await queue.getJobState(jobId)) === 'active', 20_000, 'the worker took the job');
      expect(await scalar(u.ch, `SELECT count() FROM ${u.db}.${USAGE_TABLE} WHERE account_id = '${account}'`)).toBe(0);

      proc.kill(signal);
      const code = await proc.exited;
      if (code !== 0) console.error(await new Response(proc.stderr).text());
      expect(code).toBe(0);
      expect(await queue.getJobState(jobId)).toBe('completed');
      expect(await scalar(u.ch, `SELECT count() FROM ${u.db}.${USAGE_TABLE} FINAL WHERE account_id = '${account}'`)).toBe(3);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  }, 60_000);
}

test('SIGTERM with Redis gone: the worker exits at its shutdown deadline instead of waiting forever', async () => {
  // A Redis of its own, killed while the worker holds a job.
  const redisServer = await startPrivateRedis();
  const own = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  const queue = new Queue(uniqueName('t_main_gone'), { connection: own });
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  try {
    proc = Bun.spawn(['bun', 'run', 'workers/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env, REDIS_URL: redisServer.url, CLICKHOUSE_URL: TEST_CLICKHOUSE_URL, CLICKHOUSE_DB: u.db, AROUTER_USAGE_QUEUE: queue.name,
        AROUTER_WORKER_FLUSH_MS: '600000', AROUTER_ROLLUP_INTERVAL_MS: '0', AROUTER_WORKER_SHUTDOWN_MS: '300',
      },
      stdout: 'ignore',
      stderr: 'pipe',
    });
    await queue.add(USAGE_JOB_NAME, { snippets: [fixtureSnippet(OPENAI_CHAT, { requestId: 'gone_0', accountId: uniqueName('acct') })] }, { jobId: 'gone-job' });
    await waitFor(async () => (await queue.getJobState('gone-job')) === 'active', 20_000, 'the worker took the job');
    own.disconnect();
    redisServer.child.kill('SIGKILL');
    await redisServer.child.exited;
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(1);
    expect(await new Response(proc.stderr as ReadableStream<Uint8Array>).text()).toContain('did not stop within its shutdown deadline');
  } finally {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    redisServer.child.kill('SIGKILL');
    await queue.close().catch(() => {});
    own.disconnect();
  }
}, 60_000);
