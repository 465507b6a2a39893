// Graceful shutdown of the real server on a real SIGTERM: readiness drops, new connections are refused, in-flight
// streams finish within AROUTER_DRAIN_TIMEOUT_MS, the rest are cut and recorded, usage is flushed, exit code 0.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_REDIS_URL, waitFor } from '../helpers/env.ts';
import { startMockProcess, startProxyProcess, type Child, type MockProcess, startPrivateRedis } from '../helpers/hardening-proc.ts';
import { head, RawConn } from '../helpers/hardening-raw.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';
import { jobSnippets } from '../helpers/jobs.ts';

let mock: MockProcess;
beforeAll(async () => {
  mock = await startMockProcess();
}, 30_000);
afterAll(async () => {
  await mock?.stop();
});

/** Snippets spooled to an outbox directory (`*.batch` files, JSON {id, snippets}). */
function outboxSnippets(dir: string): UsageSnippet[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.batch'))
    .flatMap((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { snippets: UsageSnippet[] }).snippets);
}

/** Snippets waiting in a BullMQ usage queue nobody consumes. */
async function queuedSnippets(queueName: string, redisUrl: string): Promise<UsageSnippet[]> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const q = new Queue(queueName, { connection });
  try {
    const jobs = await q.getJobs(['wait', 'prioritized', 'delayed']);
    return jobs.flatMap((j) => (j ? jobSnippets(j.data) : []));
  } finally {
    await q.obliterate({ force: true }).catch(() => {});
    await q.close();
    connection.disconnect();
  }
}

const requestId = (c: RawConn) => c.response()?.headers['x-arouter-request-id'] ?? '';
const eventCount = (c: RawConn) => (c.response()?.body.match(/data: /g) ?? []).length;

test(
  'SIGTERM: readiness drops, new connections are refused, streams finish or are cut at the deadline, usage flushed, exit 0',
  async () => {
    const DRAIN_MS = 3_000;
    const proxy = await startProxyProcess({ upstream: mock.url, env: { AROUTER_DRAIN_TIMEOUT_MS: String(DRAIN_MS) } });
    const auth = `Authorization: Bearer ${proxy.key}`;
    const post = (path: string) => head(`POST /openai${path} HTTP/1.1`, 'Host: arouter', auth, 'Content-Type: application/json', 'Content-Length: 2') + '{}';
    const conns: RawConn[] = [];
    const open = async (payload: string) => {
      const c = await RawConn.open(proxy.port);
      conns.push(c);
      c.write(payload);
      return c;
    };
    try {
      const keepAlive = await open(head('GET /readyz HTTP/1.1', 'Host: arouter'));
      expect((await keepAlive.waitForResponse()).status).toBe(200);
      const finishing = await open(post('/drip?events=15&gapMs=100')); // about 1.5 s: ends inside the drain window
      const endless = await open(post('/drip?gapMs=200')); // never ends: cut at the deadline
      const stalledReader = await open(post(`/fast?bytes=${1024 * 1024 * 1024}`)); // its client stops reading
      const noAnswer = await open(post('/hang')); // the provider never answers
      await waitFor(() => eventCount(finishing) > 0 && eventCount(endless) > 0 && stalledReader.received > 0, 10_000, 'streams flowing');
      stalledReader.socket.pause();
      await waitFor(async () => ((await (await fetch(`${mock.url}/stats`)).json()) as { heads: Record<string, number> }).heads['/hang'], 5_000, 'the hanging request upstream');
      // A client that never sends the body it announced: its handler is still waiting when the deadline comes.
      const uploading = await open(head('POST /openai/v1/chat/completions HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/json', 'Content-Length: 2'));
      const inProgress = async () => Number(/^arouter_requests_in_progress (\d+)$/m.exec(await (await fetch(`${proxy.url}/metrics`)).text())?.[1]);
      // The hanging request, the upload and the /metrics request itself.
      await waitFor(async () => (await inProgress()) >= 3, 10_000, 'the upload in progress');
      const endlessBefore = eventCount(endless);

      proxy.kill('SIGTERM');

      // New connections are refused at once...
      await waitFor(() => RawConn.open(proxy.port).then((c) => (c.destroy(), false), () => true), 5_000, 'new connections to be refused');
      // ...and readiness is down for whoever still holds a connection.
      keepAlive.write(head('GET /readyz HTTP/1.1', 'Host: arouter'));
      await waitFor(() => keepAlive.closed || keepAlive.text().includes('"draining":true'), 5_000, 'readiness to drop');
      expect(keepAlive.text()).not.toMatch(/HTTP\/1\.1 200[^]*HTTP\/1\.1 200/);

      // The in-flight stream that can finish, finishes, whole.
      const done = await finishing.waitForResponse(DRAIN_MS + 5_000);
      expect(done.body).toContain('"i":14');
      // The one that cannot is cut at the deadline, after having kept flowing during the drain.
      await endless.waitForClose(DRAIN_MS + 5_000);
      expect(endless.response()?.complete).toBe(false);
      expect(eventCount(endless)).toBeGreaterThan(endlessBefore);
      // A request still waiting for the provider gets a clean error.
      const cut = await noAnswer.waitForResponse(DRAIN_MS + 5_000);
      expect(cut.status).toBe(503);
      expect(JSON.parse(cut.body)).toMatchObject({ error: { type: 'shutting_down', request_id: requestId(noAnswer) } });

      // A client that stopped reading did not hold the process open (the test's own timeout would end a wait for it);
      // what it gets when it reads again is a cut stream.
      expect(await proxy.exited).toBe(0);
      stalledReader.socket.resume();
      await stalledReader.waitForClose(10_000);
      expect(stalledReader.tail.endsWith('0\r\n\r\n')).toBe(false);
      const logs = proxy.logs();
      expect(logs.some((l) => l.msg === 'draining')).toBe(true);
      // The endless stream, the stalled reader and the hanging request (in flight), and the upload (still handled).
      expect(logs.find((l) => l.msg === 'stopped')).toMatchObject({ cut_requests: 4 });
      expect(uploading.response()).toBeNull();

      // Every exchange left its usage snippet in the queue (Redis was up) or the outbox.
      const snippets = [...(await queuedSnippets(proxy.queue, TEST_REDIS_URL)), ...outboxSnippets(proxy.outboxDir)];
      const byId = (c: RawConn) => snippets.find((s) => s.requestId === requestId(c));
      expect(byId(finishing)).toMatchObject({ outcome: 'complete', status: 200 });
      expect(byId(endless)).toMatchObject({ outcome: 'shutdown', status: 200 });
      expect(byId(stalledReader)).toMatchObject({ outcome: 'shutdown', status: 200 });
      expect(byId(noAnswer)).toMatchObject({ outcome: 'shutdown', status: 503 });
    } finally {
      for (const c of conns) c.destroy();
      await proxy.stop();
    }
  },
  60_000,
);

describe('with Redis gone', () => {
  let redis: Child;
  let redisUrl: string;
  beforeAll(async () => {
    ({ child: redis, url: redisUrl } = await startPrivateRedis());
  }, 30_000);
  afterAll(async () => {
    redis?.kill('SIGKILL');
    await redis?.exited;
  });

  test(
    'SIGTERM while Redis is down: the in-flight stream still finishes and its usage lands in the outbox',
    async () => {
      const proxy = await startProxyProcess({ upstream: mock.url, env: { REDIS_URL: redisUrl, AROUTER_DRAIN_TIMEOUT_MS: '5000' } });
      const c = await RawConn.open(proxy.port);
      try {
        c.write(head('POST /openai/drip?events=10&gapMs=100 HTTP/1.1', 'Host: arouter', `Authorization: Bearer ${proxy.key}`, 'Content-Type: application/json', 'Content-Length: 2') + '{}');
        await waitFor(() => eventCount(c) > 0, 10_000, 'the stream to start');
        redis.kill('SIGKILL');
        await redis.exited;
        proxy.kill('SIGTERM');
        expect((await c.waitForResponse(10_000)).body).toContain('"i":9');
        expect(await proxy.exited).toBe(0);
        const spooled = outboxSnippets(proxy.outboxDir);
        expect(spooled.find((s) => s.requestId === requestId(c))).toMatchObject({ outcome: 'complete', status: 200 });
      } finally {
        c.destroy();
        await proxy.stop();
      }
    },
    60_000,
  );
});

test('SIGTERM while a client is still sending its body: the request is served and recorded before the exit', async () => {
  const proxy = await startProxyProcess({ upstream: mock.url, env: { AROUTER_DRAIN_TIMEOUT_MS: '20000' } });
  const c = await RawConn.open(proxy.port);
  try {
    c.write(head('POST /openai/v1/chat/completions HTTP/1.1', 'Host: arouter', `Authorization: Bearer ${proxy.key}`, 'Content-Type: application/json', 'Content-Length: 2'));
    // The handler is waiting for the body (the /metrics request itself is the other one in progress).
    const inProgress = async () => Number(/^arouter_requests_in_progress (\d+)$/m.exec(await (await fetch(`${proxy.url}/metrics`)).text())?.[1]);
    await waitFor(async () => (await inProgress()) >= 2, 10_000, 'the upload in progress');
    proxy.kill('SIGTERM');
    await waitFor(() => proxy.logs().some((l) => l.msg === 'draining'), 10_000, 'the drain to start');
    c.write('{}');
    const r = await c.waitForResponse(15_000);
    expect(r.status).toBe(200);
    expect(await proxy.exited).toBe(0);
    expect(proxy.logs().find((l) => l.msg === 'stopped')).toMatchObject({ cut_requests: 0 });
    const id = r.headers['x-arouter-request-id'] ?? 'missing';
    expect((await queuedSnippets(proxy.queue, TEST_REDIS_URL)).map((s) => s.requestId)).toContain(id);
  } finally {
    c.destroy();
    await proxy.stop();
  }
}, 60_000);

test('SIGTERM with nothing in flight: exit 0, nothing cut, without waiting out the drain deadline', async () => {
  // A deadline longer than the test's own timeout: a drain that waited it out would fail the test.
  const proxy = await startProxyProcess({ upstream: mock.url, env: { AROUTER_DRAIN_TIMEOUT_MS: '600000' } });
  try {
    proxy.kill('SIGTERM');
    expect(await proxy.exited).toBe(0);
    expect(proxy.logs().find((l) => l.msg === 'stopped')).toMatchObject({ cut_requests: 0 });
  } finally {
    await proxy.stop();
  }
}, 30_000);
