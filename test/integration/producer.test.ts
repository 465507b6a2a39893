// Usage producer against real Redis: batching, and the outbox through Redis killed, frozen and restarted.
import { afterEach, describe, expect, test } from 'bun:test';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUsageProducer, type UsageJobData, type UsageProducer, type UsageProducerOptions } from '../../src/usage/producer.ts';
import type { LogFields, LogLevel } from '../../src/usage/producer-options.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';
import { Journal, readJournal } from '../../src/usage/journal.ts';
import { TEST_REDIS_URL, uniqueName, waitFor } from '../helpers/env.ts';
import { jobSnippets, queuedJobs } from '../helpers/jobs.ts';

// ---------- fixtures ----------

function snippet(requestId: string): UsageSnippet {
  return {
    v: 1,
    requestId,
    ts: Date.now(),
    accountId: 'acct_1',
    keyId: 'key_1',
    provider: 'openai',
    format: 'openai-chat',
    requestModel: 'gpt-4o-mini',
    method: 'POST',
    path: '/v1/chat/completions',
    status: 200,
    stream: false,
    outcome: 'complete',
    latencyMs: 42,
    bytesIn: 120,
    bytesOut: 480,
    capture: { kind: 'json', fields: { usage: '{"prompt_tokens":10,"completion_tokens":5}' } },
  };
}

const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

// ---------- cleanup registry: every test undoes what it started, last first ----------

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) {
    const undo = cleanups.pop();
    try {
      await undo?.();
    } catch {
      // keep cleaning the rest
    }
  }
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'usage-outbox-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface LogLine {
  level: LogLevel;
  msg: string;
  fields?: LogFields;
}

function producer(opts: Partial<UsageProducerOptions> & Pick<UsageProducerOptions, 'redisUrl' | 'outboxDir' | 'queueName'>, logs: LogLine[] = []): UsageProducer {
  const p = createUsageProducer({
    sendTimeoutMs: 300,
    retryMinMs: 50,
    retryMaxMs: 400,
    logger: (level, msg, fields) => logs.push({ level, msg, fields }),
    ...opts,
  });
  cleanups.push(() => p.close());
  return p;
}

// ---------- a private redis-server this file may kill, freeze and restart ----------

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const { port } = l;
  l.stop(true);
  return port;
}

function answersPing(port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (ok: boolean, end?: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      end?.();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    Bun.connect({
      hostname: '127.0.0.1',
      port,
      socket: {
        open: (s) => void s.write('PING\r\n'),
        data: (s, d) => finish(d.toString().startsWith('+PONG'), () => s.end()),
        close: () => finish(false),
        error: () => finish(false),
        connectError: () => finish(false),
      },
    }).catch(() => finish(false));
  });
}

class RedisServer {
  private proc: ReturnType<typeof Bun.spawn> | undefined;
  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    const r = new RedisServer(await freePort());
    cleanups.push(() => r.kill());
    await r.restart();
    return r;
  }

  async restart(): Promise<void> {
    this.proc = Bun.spawn(['redis-server', '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdout: 'ignore',
      stderr: 'ignore',
    });
    await waitFor(() => answersPing(this.port), 10_000, `redis-server on ${this.port}`);
  }

  async kill(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    p.kill('SIGKILL');
    await p.exited;
  }

  freeze(): void {
    this.proc?.kill('SIGSTOP');
  }

  thaw(): void {
    this.proc?.kill('SIGCONT');
  }
}

// ---------- reading what reached the queue ----------

function requestCounts(jobs: readonly Job<UsageJobData>[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const j of jobs) for (const s of jobSnippets(j.data)) m.set(s.requestId, (m.get(s.requestId) ?? 0) + 1);
  return m;
}

/** Every expected request id exactly once, nothing else. */
function expectExactlyOnce(jobs: readonly Job<UsageJobData>[], expected: readonly string[]): void {
  const counts = requestCounts(jobs);
  expect([...counts.keys()].sort()).toEqual([...expected].sort());
  expect([...counts.values()].every((c) => c === 1)).toBe(true);
}

/** What the outbox directory holds besides the live producers' crash journals: batches, claims, temporary files. */
function spooled(dir: string): string[] {
  return readdirSync(dir).filter((f) => !/^journal-[0-9a-z]+\.bin$/.test(f));
}

function outboxRequestIds(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.batch')) continue;
    const b = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { snippets: UsageSnippet[] };
    for (const s of b.snippets) out.push(s.requestId);
  }
  return out;
}

function sharedQueue(): string {
  const name = uniqueName('usage_producer');
  cleanups.push(async () => {
    const q = new Queue(name, { connection: { url: TEST_REDIS_URL } });
    await q.obliterate({ force: true });
    await q.close();
  });
  return name;
}

/** A URL where nothing listens: Redis is down from the start. */
async function deadRedisUrl(): Promise<string> {
  return `redis://127.0.0.1:${await freePort()}`;
}

// ---------- tests ----------

describe('usage producer', () => {
  test('N pushes become ceil(N / batchMax) jobs named usage, each with its snippets', async () => {
    const queueName = sharedQueue();
    const p = producer({ redisUrl: TEST_REDIS_URL, queueName, outboxDir: tempDir(), batchMax: 100, batchIntervalMs: 60_000 });
    const want = ids('batch', 1050);
    for (const id of want) p.push(snippet(id));
    await p.flush();

    const jobs = await queuedJobs(TEST_REDIS_URL, queueName);
    expect(jobs).toHaveLength(11);
    expect(jobs.map((j) => jobSnippets(j.data).length).sort((a, b) => b - a)).toEqual([100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 50]);
    expect(new Set(jobs.map((j) => j.name))).toEqual(new Set(['usage']));
    expectExactlyOnce(jobs, want);
    // Retries and retention are set so a worker crash retries and Redis does not fill up.
    const opts = jobs[0]?.opts;
    expect(opts?.attempts).toBeGreaterThan(1);
    expect(opts?.backoff).toMatchObject({ type: 'exponential' });
    expect(opts?.removeOnComplete).toMatchObject({ count: expect.any(Number), age: expect.any(Number) });
    expect(opts?.removeOnFail).toMatchObject({ count: expect.any(Number), age: expect.any(Number) });
    expect(p.stats()).toMatchObject({ sent: 1050, queued: 0, spooled: 0, outboxFiles: 0, redisUp: true });
  });

  test('a small batch is sent when the interval passes, without flush', async () => {
    const queueName = sharedQueue();
    const p = producer({ redisUrl: TEST_REDIS_URL, queueName, outboxDir: tempDir(), batchMax: 256, batchIntervalMs: 50 });
    const want = ids('tick', 3);
    for (const id of want) p.push(snippet(id));
    expect(p.stats().queued).toBe(3);

    const jobs = await waitFor(async () => {
      const j = await queuedJobs(TEST_REDIS_URL, queueName);
      return j.length > 0 ? j : null;
    }, 5_000, 'the interval batch');
    expect(jobs).toHaveLength(1);
    expectExactlyOnce(jobs, want);
    expect(p.stats()).toMatchObject({ sent: 3, queued: 0 });
  });

  test('Redis killed: pushes go to the outbox; Redis back: the outbox drains, every snippet once', async () => {
    const redis = await RedisServer.start();
    const dir = tempDir();
    const queueName = uniqueName('usage_down');
    const logs: LogLine[] = [];
    const p = producer({ redisUrl: redis.url, queueName, outboxDir: dir, batchMax: 50, batchIntervalMs: 20 }, logs);
    await waitFor(() => p.stats().redisUp, 5_000, 'producer connected');

    await redis.kill();
    const want = ids('down', 500);
    for (const id of want) p.push(snippet(id));
    await p.flush();

    expect(p.stats()).toMatchObject({ spooled: 500, sent: 0, queued: 0, redisUp: false });
    expect(p.stats().outboxFiles).toBeGreaterThanOrEqual(10);
    expect(outboxRequestIds(dir).sort()).toEqual([...want].sort());
    expect(logs.filter((l) => l.msg.includes('redis unavailable'))).toHaveLength(1);

    await redis.restart();
    await waitFor(() => p.stats().outboxFiles === 0 && spooled(dir).length === 0, 15_000, 'outbox drained');
    expectExactlyOnce(await queuedJobs(redis.url, queueName), want);
    expect(p.stats()).toMatchObject({ redisUp: true, drained: 500, sent: 500, outboxBytes: 0 });
  });

  test('Redis answering PING but refusing writes: retries back off instead of looping; writes back: every snippet once', async () => {
    const redis = await RedisServer.start();
    const admin = new Redis(redis.url);
    cleanups.push(() => admin.quit());
    const dir = tempDir();
    const queueName = uniqueName('usage_refusing');
    const p = producer({ redisUrl: redis.url, queueName, outboxDir: dir, batchMax: 50, batchIntervalMs: 20 });
    await waitFor(() => p.stats().redisUp, 5_000, 'producer connected');

    // Writes fail with NOREPLICAS while PING still answers, as under MISCONF or OOM with noeviction.
    await admin.config('SET', 'min-replicas-to-write', '1');
    const want = ids('refused', 200);
    for (const id of want) p.push(snippet(id));
    await p.flush();
    expect(p.stats()).toMatchObject({ spooled: 200, sent: 0 });
    // Each probe succeeds and each drain fails: the streak must still grow (it used to restart at every PING).
    await waitFor(() => p.stats().consecutiveFailures >= 4, 10_000, 'failure streak grows');
    expect(p.stats().outboxFiles).toBeGreaterThanOrEqual(4);

    await admin.config('SET', 'min-replicas-to-write', '0');
    await waitFor(() => p.stats().outboxFiles === 0 && spooled(dir).length === 0, 15_000, 'outbox drained');
    expectExactlyOnce(await queuedJobs(redis.url, queueName), want);
    expect(p.stats()).toMatchObject({ sent: 200, drained: 200, consecutiveFailures: 0 });
  });

  test('Redis frozen (SIGSTOP): push still returns, batches spool; after SIGCONT nothing is missing or doubled', async () => {
    const redis = await RedisServer.start();
    const dir = tempDir();
    const queueName = uniqueName('usage_frozen');
    const p = producer({ redisUrl: redis.url, queueName, outboxDir: dir, batchMax: 50, batchIntervalMs: 20 });
    await waitFor(() => p.stats().redisUp, 5_000, 'producer connected');

    redis.freeze();
    cleanups.push(() => redis.thaw());
    const want = ids('frozen', 300);
    let returned = 0;
    for (const id of want) {
      p.push(snippet(id));
      returned += 1;
    }
    // Every push came back while Redis could not answer, and nothing was dropped.
    expect(returned).toBe(300);
    expect(p.stats().queued).toBe(300);

    await waitFor(() => p.stats().spooled === 300 && p.stats().queued === 0, 10_000, 'batches spooled');
    expect(p.stats().redisUp).toBe(false);
    expect(outboxRequestIds(dir).sort()).toEqual([...want].sort());

    redis.thaw();
    await waitFor(() => p.stats().outboxFiles === 0 && spooled(dir).length === 0, 15_000, 'outbox drained');
    // Adds that were stuck in the socket land late with the same job ids, so BullMQ keeps one copy.
    expectExactlyOnce(await queuedJobs(redis.url, queueName), want);
    expect(p.stats().redisUp).toBe(true);
  });

  test('an outbox left by a previous process, orphaned claims included, is drained on startup', async () => {
    const dir = tempDir();
    const queueName = sharedQueue();
    const previous = producer({ redisUrl: await deadRedisUrl(), queueName, outboxDir: dir, batchMax: 25 });
    const want = ids('leftover', 120);
    for (const id of want) previous.push(snippet(id));
    await previous.close();
    expect(previous.stats().spooled).toBe(120);
    const files = readdirSync(dir).filter((f) => f.endsWith('.batch')).sort();
    expect(files).toHaveLength(5);
    // Simulate a crash mid-send: one file still carries the claim of a process that died long ago.
    const orphan = files[0] as string;
    renameSync(join(dir, orphan), join(dir, `${orphan.slice(0, -'.batch'.length)}.claim-deadbeef-1`));

    const next = producer({ redisUrl: TEST_REDIS_URL, queueName, outboxDir: dir });
    await waitFor(() => spooled(dir).length === 0, 10_000, 'leftover outbox drained');
    expectExactlyOnce(await queuedJobs(TEST_REDIS_URL, queueName), want);
    expect(next.stats()).toMatchObject({ drained: 120, outboxFiles: 0 });
  });

  test('two producers draining one directory send each batch once', async () => {
    const dir = tempDir();
    const queueName = sharedQueue();
    const previous = producer({ redisUrl: await deadRedisUrl(), queueName, outboxDir: dir, batchMax: 2 });
    const want = ids('shared', 400);
    for (const id of want) previous.push(snippet(id));
    await previous.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.batch'))).toHaveLength(200);

    const a = producer({ redisUrl: TEST_REDIS_URL, queueName, outboxDir: dir, drainChunk: 4 });
    const b = producer({ redisUrl: TEST_REDIS_URL, queueName, outboxDir: dir, drainChunk: 4 });
    await waitFor(() => spooled(dir).length === 0, 10_000, 'shared outbox drained');
    await waitFor(() => a.stats().drained + b.stats().drained === 400, 5_000, 'drain counters settled');
    expect(a.stats().drained + b.stats().drained).toBe(400);
    expectExactlyOnce(await queuedJobs(TEST_REDIS_URL, queueName), want);
  });

  test('a full outbox drops new batches, counts them, and logs once', async () => {
    const dir = tempDir();
    const logs: LogLine[] = [];
    const p = producer({ redisUrl: await deadRedisUrl(), queueName: uniqueName('usage_full'), outboxDir: dir, batchMax: 5, outboxMaxBytes: 8192 }, logs);
    for (const id of ids('full', 200)) p.push(snippet(id));
    await p.flush();

    const st = p.stats();
    expect(st.droppedOutboxFull).toBeGreaterThan(0);
    expect(st.spooled).toBeGreaterThan(0);
    expect(st.spooled + st.droppedOutboxFull).toBe(200);
    expect(st.outboxBytes).toBeLessThanOrEqual(8192);
    expect(st.outboxWritable).toBe(false);
    expect(outboxRequestIds(dir)).toHaveLength(st.spooled);
    expect(logs.filter((l) => l.level === 'error' && l.msg.includes('outbox full'))).toHaveLength(1);
  });

  test('close() sends the open batch; a push after close lands in the outbox', async () => {
    const dir = tempDir();
    const queueName = sharedQueue();
    const p = producer({ redisUrl: TEST_REDIS_URL, queueName, outboxDir: dir, batchIntervalMs: 60_000 });
    const want = ids('closing', 7);
    for (const id of want) p.push(snippet(id));
    await p.close();
    await p.close();
    expectExactlyOnce(await queuedJobs(TEST_REDIS_URL, queueName), want);

    expect(() => p.push(snippet('late-1'))).not.toThrow();
    expect(outboxRequestIds(dir)).toEqual(['late-1']);
    expect(p.stats().spooled).toBe(1);
  });

  test('a live producer journals what it has not delivered, lets go of what it has, and removes its journal on close', async () => {
    const queueName = sharedQueue();
    const dir = tempDir();
    const p = producer({ redisUrl: TEST_REDIS_URL, queueName, outboxDir: dir, batchIntervalMs: 60_000 });
    const journal = () => readdirSync(dir).filter((f) => f.startsWith('journal-'));
    expect(journal()).toHaveLength(1);
    // Read as another process would once this one is taken for dead: the open batch is in it.
    const held = () => readJournal(join(dir, journal()[0]!)).snippets.map((s) => s.requestId);
    const want = ids('journaled', 5);
    for (const id of want) p.push(snippet(id));
    expect(held()).toEqual(want);
    await p.flush();
    expect(held()).toEqual([]);
    expect(p.stats()).toMatchObject({ sent: 5, journalSkipped: 0 });
    await p.close();
    expect(journal()).toEqual([]);
  });

  test('journals of one writer left at the same place with different lines are recovered as different jobs', async () => {
    // A writer remade after a stall journals new lines from the offsets it had (a quiet ring restarts at 0): its
    // second journal must not name the BullMQ job its first one became, which Redis would keep and drop this one for.
    const queueName = sharedQueue();
    const dirs = [tempDir(), tempDir()];
    const want = ['remade-before', 'remade-after'];
    for (const [k, dir] of dirs.entries()) new Journal(dir, 'samewriter', 64 * 1024).append(JSON.stringify(snippet(want[k]!)));
    const ps = dirs.map((outboxDir) => producer({ redisUrl: TEST_REDIS_URL, queueName, outboxDir, journalStaleMs: 3_000 }));
    await waitFor(() => ps.every((p) => p.stats().journalRecovered === 1 && p.stats().outboxFiles === 0), 15_000, 'both journals recovered and drained');
    expectExactlyOnce(await queuedJobs(TEST_REDIS_URL, queueName), want);
  });

  test('bad options are refused by the factory', () => {
    const dir = tempDir();
    const base = { redisUrl: TEST_REDIS_URL, outboxDir: dir, queueName: 'q' };
    expect(() => createUsageProducer({ ...base, batchMax: 0 })).toThrow(/batchMax/);
    expect(() => createUsageProducer({ ...base, batchIntervalMs: 1.5 })).toThrow(/batchIntervalMs/);
    expect(() => createUsageProducer({ ...base, redisUrl: 'http://x' })).toThrow(/redisUrl/);
    expect(() => createUsageProducer({ ...base, queueName: 'a:b' })).toThrow(/queueName/);
    expect(() => createUsageProducer({ ...base, jobOptions: { keepCompleted: { count: 0 } } })).toThrow(/keepCompleted/);
  });
});
