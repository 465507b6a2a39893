// Fault tests: a usage worker SIGKILLed with a batch in hand, a proxy SIGKILLed with its open batch, and the same usage
// delivered twice (job replay, outbox replay).
import { expect, test } from 'bun:test';
import type { Job } from 'bullmq';
import { defaultUsageLogger, USAGE_JOB_NAME } from '../../src/usage/producer-options.ts';
import { Outbox } from '../../src/usage/outbox.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';
import { waitFor } from '../helpers/env.ts';
import { startStack, within, type FaultStack } from '../helpers/faults-stack.ts';
import type { Traffic } from '../helpers/faults-traffic.ts';
import { expectExactlyServed, faultSuite } from '../helpers/faults-suite.ts';
import { jobSnippets } from '../helpers/jobs.ts';

const suite = faultSuite();
const trafficOn = (s: FaultStack): Traffic => suite.trafficOn(s);

const usageJobs = async (s: FaultStack): Promise<Job[]> => (await within(s.queue.getJobs(['completed'], 0, -1), 5_000, 'completed jobs')).filter((j) => j.name === USAGE_JOB_NAME);

test('worker SIGKILLed mid-batch: another worker takes over its stalled jobs and every row lands exactly once', async () => {
  // The first worker's flush is out of reach, so whatever it holds is always a batch in hand, never written.
  const s = await startStack({ upstream: suite.mock().url, workerEnv: { AROUTER_WORKER_FLUSH_MS: '600000', AROUTER_WORKER_BATCH_ROWS: '1000000' } });
  const t = trafficOn(s);
  await t.waitServed(100);
  const held = await waitFor(async () => (await within(s.queue.getActiveCount(), 2_000, 'active count')) || null, 10_000, 'jobs in the worker’s hands');
  expect((await s.stored()).count).toBe(0);

  const first = s.workers[0]!;
  first.kill('SIGKILL');
  await first.exited;
  const killedAt = Date.now();
  // Traffic goes on with no worker at all: jobs wait in Redis.
  await t.waitServed(t.served.size + 100);

  await s.startWorker({ AROUTER_WORKER_FLUSH_MS: '200', AROUTER_WORKER_BATCH_ROWS: '1000' });
  await t.waitServed(t.served.size + 100);
  await t.stop();
  expect(t.failures).toEqual([]);
  const { ms, physical } = await expectExactlyServed(s, t.served);
  // The jobs the dead worker held came back through BullMQ's stalled-job check, not by luck.
  const recovered = (await usageJobs(s)).filter((j) => j.stalledCounter > 0).length;
  expect(recovered).toBeGreaterThan(0);
  console.info(`worker kill: held_active_jobs=${held} recovered_stalled_jobs=${recovered} served=${t.served.size} stored=${t.served.size} physical=${physical} rows_complete_after_kill_ms=${Date.now() - killedAt} settle_ms=${ms}`);
}, 60_000);

test('proxy SIGKILLed (as by the OOM killer) with its open batch: the next pod on its outbox recovers the crash journal, every row lands exactly once', async () => {
  // A batch window out of reach: every snippet the first proxy makes is still in its open batch when it dies.
  const holdAll = { AROUTER_USAGE_BATCH_MS: '60000', AROUTER_USAGE_BATCH_MAX: '100000', AROUTER_USAGE_JOURNAL_STALE_MS: '3000' };
  const s = await startStack({ upstream: suite.mock().url, proxyEnv: holdAll });
  const t = trafficOn(s);
  await t.waitServed(80);
  await t.stop();
  expect(t.failures).toEqual([]);
  expect(await within(s.queue.getJobCounts(), 5_000, 'job counts')).toMatchObject({ waiting: 0, active: 0, completed: 0 });

  const dead = s.proxy;
  dead.kill('SIGKILL');
  await dead.exited;
  const next = await s.startProxy({ AROUTER_OUTBOX_DIR: dead.outboxDir, AROUTER_USAGE_JOURNAL_STALE_MS: '3000' });
  const { physical } = await expectExactlyServed(s, t.served);
  const line = await waitFor(() => next.logs().find((l) => l.msg === 'usage: recovered the crash journal of a process that stopped without closing'), 5_000, 'the recovery line');
  expect(line).toMatchObject({ snippets: t.served.size, unreadable_lines: 0 });
  console.info(`proxy kill: served=${t.served.size} recovered=${String(line.snippets)} physical=${physical}`);
}, 60_000);

test('the same usage delivered twice (a job replayed, an outbox file replayed) is one row and one request in the usage API', async () => {
  const s = await startStack({ upstream: suite.mock().url });
  const t = trafficOn(s);
  await t.waitServed(60);
  await t.stop();
  expect(t.failures).toEqual([]);
  const n = t.served.size;
  await expectExactlyServed(s, t.served);
  const jobs = await usageJobs(s);
  const snippets = jobs.flatMap((j) => jobSnippets(j.data));
  expect(snippets.length).toBe(n);

  // 1. A job redelivered under another id (a second producer, a lost job id): the worker inserts every row again.
  await s.queue.addBulk(jobs.map((j) => ({ name: USAGE_JOB_NAME, data: j.data, opts: { jobId: `${String(j.id)}-again` } })));
  await waitFor(
    async () => (await Promise.all(jobs.map((j) => s.queue.getJobState(`${String(j.id)}-again`)))).every((st) => st === 'completed'),
    20_000,
    'the replayed jobs to complete',
  );
  const afterJobReplay = await s.physicalCount();

  // 2. A proxy dies, and a batch it had already sent comes back from its outbox (a claim taken over, a file resurrected by a crash).
  const oldProxy = s.proxy;
  oldProxy.kill('SIGKILL');
  await oldProxy.exited;
  const outbox = new Outbox({ dir: oldProxy.outboxDir, maxBytes: 1 << 30, owner: 'faulttest', fsync: false, staleClaimMs: 60_000, logger: defaultUsageLogger });
  expect(await outbox.append({ id: 'u-replayed-1', snippets })).toBe('written');
  // The next pod on that directory drains it at startup; it shares the key store, so the old key still answers.
  const proxy = await s.startProxy({ AROUTER_OUTBOX_DIR: oldProxy.outboxDir });
  await waitFor(async () => (await s.queue.getJobState('u-replayed-1')) === 'completed', 20_000, 'the outbox replay to be processed');
  const afterOutboxReplay = await s.physicalCount();

  const { physical } = await expectExactlyServed(s, t.served);
  const res = await fetch(`${proxy.url}/v1/usage?group_by=provider`, { headers: { authorization: `Bearer ${oldProxy.key}` } });
  expect(res.status).toBe(200);
  const report = (await res.json()) as { totals: { requests: number; input_tokens: number; output_tokens: number } };
  // openai/chat-nonstream.json reports 16 input and 363 output tokens.
  expect(report.totals).toMatchObject({ requests: n, input_tokens: 16 * n, output_tokens: 363 * n });
  console.info(`duplicates: served=${n} physical_after_job_replay=${afterJobReplay} physical_after_outbox_replay=${afterOutboxReplay} physical_now=${physical} final=${n} api_requests=${report.totals.requests}`);
}, 60_000);
