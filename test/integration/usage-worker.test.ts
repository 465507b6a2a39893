// Usage worker end to end on real Redis (BullMQ) and ClickHouse 18.16, through the real normalizer and price table.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { queryUsage } from '../../src/api/usage-query.ts';
import { runCli } from '../../src/cli.ts';
import { USAGE_JOB_NAME } from '../../src/usage/producer-options.ts';
import { USAGE_TABLE } from '../../workers/migrations.ts';
import { readWorkerSettings, type WorkerSettings } from '../../workers/settings.ts';
import { startUsageWorker, type UsageWorkerHandle, type WorkerLogger } from '../../workers/usage-worker.ts';
import { TEST_CLICKHOUSE_URL, TEST_REDIS_URL, uniqueName, waitFor } from '../helpers/env.ts';
import { clickhouseRelay, freePort, freshUsageDb, scalar, selectRows, type UsageDb } from '../helpers/usage-db.ts';
import { ANTHROPIC_MESSAGES, fixtureSnippet, MISTRAL_CHAT, OPENAI_CHAT } from '../helpers/usage-snippets.ts';

const quiet: WorkerLogger = () => {};
let u: UsageDb;
let queueName: string;
let settings: WorkerSettings;
let worker: UsageWorkerHandle;
let redis: Redis;
let queue: Queue;
const extraQueues: Queue[] = [];

function settingsFor(q: string, env: Record<string, string> = {}): WorkerSettings {
  return readWorkerSettings({
    REDIS_URL: TEST_REDIS_URL, CLICKHOUSE_URL: TEST_CLICKHOUSE_URL, CLICKHOUSE_DB: u.db, AROUTER_USAGE_QUEUE: q,
    AROUTER_WORKER_FLUSH_MS: '50', AROUTER_ROLLUP_INTERVAL_MS: '0', ...env,
  });
}

beforeAll(async () => {
  u = await freshUsageDb('t_worker');
  queueName = uniqueName('t_usage');
  settings = settingsFor(queueName);
  worker = await startUsageWorker(settings, { log: quiet });
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue(queueName, { connection: redis });
});

afterAll(async () => {
  await worker.close();
  for (const q of [queue, ...extraQueues]) {
    await q.obliterate({ force: true });
    await q.close();
  }
  redis.disconnect();
  await u.drop();
});

async function finished(q: Queue, id: string, state: 'completed' | 'failed' = 'completed'): Promise<Job> {
  await waitFor(async () => (await q.getJobState(id)) === state, 20_000, `job ${id} ${state}`);
  const job = await q.getJob(id);
  if (!job) throw new Error(`job ${id} vanished`);
  return job;
}

interface StoredRow { request_id: string; model: string; input_tokens: string; output_tokens: string; cost_micro_usd: string; price_known: number; usage_status: string; error: string; raw_usage: string }
const rowsOf = (account: string) =>
  selectRows<StoredRow>(u.ch, `SELECT request_id, model, input_tokens, output_tokens, cost_micro_usd, price_known, usage_status, error, raw_usage FROM ${u.db}.${USAGE_TABLE} FINAL WHERE account_id = '${account}' ORDER BY request_id`);

describe('usage worker', () => {
  test('a batch of real snippets becomes priced rows, and the job completes only once they are stored', async () => {
    const account = uniqueName('acct');
    const snippets = [
      fixtureSnippet(OPENAI_CHAT, { requestId: 'r1_openai', accountId: account }),
      fixtureSnippet(ANTHROPIC_MESSAGES, { requestId: 'r2_anthropic', accountId: account }),
      fixtureSnippet(MISTRAL_CHAT, { requestId: 'r3_mistral', accountId: account }),
    ];
    await queue.add(USAGE_JOB_NAME, { snippets }, { jobId: 'batch-1' });
    const job = await finished(queue, 'batch-1');
    expect(job.returnvalue).toEqual({ written: 3, rejected: 0 });
    // No waiting here: completion itself promises the rows are in.
    const rows = await rowsOf(account);
    expect(rows.map((r) => [r.request_id, r.model, Number(r.input_tokens), Number(r.output_tokens), Number(r.cost_micro_usd), r.price_known])).toEqual([
      ['r1_openai', 'gpt-4.1-nano-2025-04-14', 16, 363, 147, 1], // 16 * 0.10 + 363 * 0.40 = 146.8 micro-dollars
      ['r2_anthropic', 'claude-sonnet-4-5-20250929', 12, 29, 471, 1], // 12 * 3 + 29 * 15
      ['r3_mistral', 'mistral-small-latest', 13, 434, 0, 0], // no agreed price: recorded, not guessed
    ]);
  });

  test('a snippet replayed in a second job is one row under FINAL and counted once by queryUsage', async () => {
    const account = uniqueName('acct');
    const s = fixtureSnippet(OPENAI_CHAT, { requestId: 'replayed', accountId: account });
    await queue.add(USAGE_JOB_NAME, { snippets: [s] }, { jobId: 'replay-a' });
    await finished(queue, 'replay-a');
    await queue.add(USAGE_JOB_NAME, { snippets: [s, fixtureSnippet(ANTHROPIC_MESSAGES, { requestId: 'other', accountId: account })] }, { jobId: 'replay-b' });
    await finished(queue, 'replay-b');
    expect(await scalar(u.ch, `SELECT count() FROM ${u.db}.${USAGE_TABLE} FINAL WHERE request_id = 'replayed' AND account_id = '${account}'`)).toBe(1);
    const report = await queryUsage(u.ch, u.db, { accountId: account, from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000) });
    expect(report.totals.requests).toBe(2);
    expect(report.totals.input_tokens).toBe(16 + 12);
    expect(report.totals.output_tokens).toBe(363 + 29);
    expect(report.totals.cost_micro_usd).toBe(147 + 471);
  });

  test('malformed snippets land in the failed set with their reason; the rest of the batch is written', async () => {
    const account = uniqueName('acct');
    const good1 = fixtureSnippet(OPENAI_CHAT, { requestId: 'ok_1', accountId: account });
    const good2 = fixtureSnippet(ANTHROPIC_MESSAGES, { requestId: 'ok_2', accountId: account });
    const notASnippet = { hello: 'world', requestId: 'junk_1' };
    const unknownFormat = { ...fixtureSnippet(OPENAI_CHAT, { requestId: 'unknown_format', accountId: account }), format: 'no-such-format' };
    await queue.add(USAGE_JOB_NAME, { snippets: [good1, notASnippet, unknownFormat, good2] }, { jobId: 'mixed-1', attempts: 3 });
    const job = await finished(queue, 'mixed-1');
    expect(job.returnvalue).toEqual({ written: 3, rejected: 1 });
    expect((await rowsOf(account)).map((r) => r.request_id)).toEqual(['ok_1', 'ok_2', 'unknown_format']);

    const bad1 = await finished(queue, 'mixed-1-bad-1', 'failed');
    expect(bad1.failedReason).toContain('malformed usage snippet (request junk_1)');
    // Unrecoverable: failed on the first attempt, not retried.
    expect(bad1.attemptsMade).toBe(1);
    expect(await queue.getJob('mixed-1-bad-2')).toBeUndefined();
  });

  test('a format this worker does not know (a newer proxy mid-deploy) is still a row: missing usage, the reason, the raw capture', async () => {
    const account = uniqueName('acct');
    const unknownFormat = { ...fixtureSnippet(OPENAI_CHAT, { requestId: 'newer_format', accountId: account }), format: 'no-such-format' };
    await queue.add(USAGE_JOB_NAME, { snippets: [unknownFormat] }, { jobId: 'unknown-format-1' });
    const job = await finished(queue, 'unknown-format-1');
    expect(job.returnvalue).toEqual({ written: 1, rejected: 0 });
    const [row] = await rowsOf(account);
    expect(row?.request_id).toBe('newer_format');
    expect(row?.usage_status).toBe('missing');
    expect(row?.error).toContain("usage not normalized: unknown usage format id 'no-such-format'");
    expect(JSON.parse(String(row?.raw_usage))).toEqual({ capture: unknownFormat.capture });
  });

  test('a payload that is not { snippets: [...] } fails for good without retries', async () => {
    await queue.add(USAGE_JOB_NAME, { snippet: 'nope' }, { jobId: 'shape-1', attempts: 5 });
    const job = await finished(queue, 'shape-1', 'failed');
    expect(job.failedReason).toContain('{ snippets: UsageSnippet[] }');
    expect(job.attemptsMade).toBe(1);
  });

  test('failed jobs are listed by the CLI and, retried with it, written by a worker that can read them', async () => {
    const account = uniqueName('acct');
    const qName = uniqueName('t_usage_failed');
    const q = new Queue(qName, { connection: redis });
    extraQueues.push(q);
    // An older worker that cannot read these snippets fails the job for good, as the README's upgrade note describes.
    const old = new Worker(qName, async () => { throw new UnrecoverableError('snippet shape unknown to this worker'); }, { connection: { url: TEST_REDIS_URL } });
    const snippets = [fixtureSnippet(OPENAI_CHAT, { requestId: 'retried_1', accountId: account }), fixtureSnippet(MISTRAL_CHAT, { requestId: 'retried_2', accountId: account })];
    await q.add(USAGE_JOB_NAME, { snippets }, { jobId: 'old-worker-1' });
    await finished(q, 'old-worker-1', 'failed');
    await old.close();

    const out: string[] = [];
    const cli = (args: string[]) => runCli(['usage', ...args, '--queue', qName], (s) => void out.push(s));
    expect(await cli(['failed'])).toBe(0);
    expect(JSON.parse(out.at(-1)!)).toMatchObject({ queue: qName, failed: 1, jobs: [{ id: 'old-worker-1', reason: 'snippet shape unknown to this worker', snippets: 2 }] });
    expect(await cli(['retry'])).toBe(1); // neither --all nor ids: an error, nothing retried
    expect(out.at(-1)).toContain('--all or job ids');
    expect(await cli(['retry', 'no-such-job'])).toBe(1);
    expect(JSON.parse(out.at(-1)!)).toEqual({ queue: qName, retried: [], notFailed: ['no-such-job'] });

    // As if it had also stalled as often as the worker allows: a retry starts its stall count afresh too.
    await redis.hset(q.toKey('old-worker-1'), 'stc', '11');
    const upgraded = await startUsageWorker(settingsFor(qName), { log: quiet });
    try {
      expect(await cli(['retry', '--all'])).toBe(0);
      expect(await redis.hexists(q.toKey('old-worker-1'), 'stc')).toBe(0);
      expect(JSON.parse(out.at(-1)!)).toEqual({ queue: qName, retried: ['old-worker-1'], notFailed: [] });
      const job = await finished(q, 'old-worker-1');
      expect(job.returnvalue).toEqual({ written: 2, rejected: 0 });
      expect((await rowsOf(account)).map((r) => r.request_id)).toEqual(['retried_1', 'retried_2']);
      expect(await cli(['failed'])).toBe(0);
      expect(JSON.parse(out.at(-1)!)).toMatchObject({ failed: 0, jobs: [] });
    } finally {
      await upgraded.close();
    }
  });

  test('several workers on one queue store every event exactly once', async () => {
    const account = uniqueName('acct');
    const second = await startUsageWorker(settings, { log: quiet });
    try {
      const ids = Array.from({ length: 20 }, (_, j) => `multi-${j}`);
      await queue.addBulk(ids.map((id, j) => ({
        name: USAGE_JOB_NAME,
        data: { snippets: Array.from({ length: 5 }, (_, k) => fixtureSnippet(OPENAI_CHAT, { requestId: `m_${j}_${k}`, accountId: account })) },
        opts: { jobId: id },
      })));
      for (const id of ids) await finished(queue, id);
    } finally {
      await second.close();
    }
    expect(await scalar(u.ch, `SELECT count() FROM ${u.db}.${USAGE_TABLE} FINAL WHERE account_id = '${account}'`)).toBe(100);
    expect(await scalar(u.ch, `SELECT uniqExact(request_id) FROM ${u.db}.${USAGE_TABLE} WHERE account_id = '${account}'`)).toBe(100);
  });

  test('shutting down while ClickHouse is away hands the job back (delayed), and it is written later', async () => {
    const account = uniqueName('acct');
    const q2Name = uniqueName('t_usage_down');
    const q2 = new Queue(q2Name, { connection: redis });
    extraQueues.push(q2);
    const port = freePort();
    let relay = clickhouseRelay(port);
    const downWorker = await startUsageWorker(
      settingsFor(q2Name, { CLICKHOUSE_URL: `http://127.0.0.1:${port}`, AROUTER_WORKER_SHUTDOWN_MS: '300', AROUTER_WORKER_RETRY_MAX_MS: '50' }),
      { log: quiet },
    );
    relay.stop();
    await q2.add(USAGE_JOB_NAME, { snippets: [fixtureSnippet(OPENAI_CHAT, { requestId: 'survivor', accountId: account })] }, { jobId: 'down-1', attempts: 1 });
    await waitFor(async () => (await q2.getJobState('down-1')) === 'active', 10_000, 'job active');
    await downWorker.close();
    const job = await q2.getJob('down-1');
    expect(await job!.getState()).toBe('delayed');
    expect(await q2.getFailedCount()).toBe(0);

    relay = clickhouseRelay(port);
    const upWorker = await startUsageWorker(settingsFor(q2Name), { log: quiet });
    try {
      await finished(q2, 'down-1');
    } finally {
      await upWorker.close();
      relay.stop();
    }
    expect((await rowsOf(account)).map((r) => r.request_id)).toEqual(['survivor']);
  }, 30_000);
});
