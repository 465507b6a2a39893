// Operations surface of the real server: liveness and readiness (Redis or outbox, not draining), Prometheus metrics,
// and JSON-line logs with one access line per request that never carry a key, a token or a body.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { rmSync, writeFileSync } from 'node:fs';
import { waitFor } from '../helpers/env.ts';
import { startMockProcess, startProxyProcess, type Child, type MockProcess, type ProxyProcess, startPrivateRedis } from '../helpers/hardening-proc.ts';
import { head, RawConn } from '../helpers/hardening-raw.ts';
import { ADMIN_TOKEN, PROVIDER_SECRET } from '../helpers/proxy-harness.ts';
import { PROVIDERS } from '../../src/providers/index.ts';

let mock: MockProcess;
let proxy: ProxyProcess;

beforeAll(async () => {
  mock = await startMockProcess();
  proxy = await startProxyProcess({ upstream: mock.url, env: { AROUTER_FIRST_BYTE_TIMEOUT_MS: '500' } });
}, 30_000);
afterAll(async () => {
  await proxy?.stop();
  await mock?.stop();
});

interface Ready {
  ok: boolean;
  detail: { draining: boolean; redis: boolean; outbox_writable: boolean };
}
const readyz = async (p: ProxyProcess) => {
  const res = await fetch(`${p.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Ready };
};

/** Parses Prometheus text format 0.0.4 strictly enough to catch a malformed line. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram']).toContain(meta[3] ?? '');
        typed.add(meta[2] ?? '');
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*",?)*\})? (NaN|[+-]Inf|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const family = (m[1] ?? '').replace(/_(bucket|sum|count)$/, '');
    expect(typed.has(family) || typed.has(m[1] ?? '')).toBe(true);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}
const metrics = async () => parseMetrics(await (await fetch(`${proxy.url}/metrics`)).text());

describe('health', () => {
  test('/healthz: alive; /readyz: ready with Redis up, and says why', async () => {
    const h = await fetch(`${proxy.url}/healthz`);
    expect(h.status).toBe(200);
    expect(h.headers.get('x-arouter-request-id')).toBeTruthy();
    expect(await h.json()).toEqual({ ok: true });
    expect(await readyz(proxy)).toEqual({ status: 200, body: { ok: true, detail: { draining: false, redis: true, outbox_writable: true } } });
  });

  describe('with its own Redis, which the test stops', () => {
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
      'arouter_revocation_feed_up follows the revocation subscription: up, down with Redis, up again when it returns',
      async () => {
        const own = await startPrivateRedis();
        const port = Number(new URL(own.url).port);
        let back: Child | undefined;
        const p = await startProxyProcess({ upstream: mock.url, env: { REDIS_URL: own.url } });
        const feed = async () => parseMetrics(await (await fetch(`${p.url}/metrics`)).text()).get('arouter_revocation_feed_up');
        try {
          await waitFor(async () => ((await feed()) === 1 ? true : null), 10_000, 'the feed to come up');
          own.child.kill('SIGKILL');
          await own.child.exited;
          await waitFor(async () => ((await feed()) === 0 ? true : null), 10_000, 'the feed to drop with Redis');
          ({ child: back } = await startPrivateRedis(port));
          await waitFor(async () => ((await feed()) === 1 ? true : null), 20_000, 'the feed to come back with Redis');
        } finally {
          await p.stop();
          back?.kill('SIGKILL');
          await back?.exited;
        }
      },
      60_000,
    );

    test(
      'a Redis that goes silent without closing (frozen, or a partition) takes the revocation feed down; it comes back after',
      async () => {
        const own = await startPrivateRedis();
        const p = await startProxyProcess({ upstream: mock.url, env: { REDIS_URL: own.url } });
        const feed = async () => parseMetrics(await (await fetch(`${p.url}/metrics`)).text()).get('arouter_revocation_feed_up');
        try {
          await waitFor(async () => ((await feed()) === 1 ? true : null), 10_000, 'the feed to come up');
          // Stopped, Redis keeps every connection open and answers nothing: no 'close' ever reaches the proxy.
          own.child.kill('SIGSTOP');
          await waitFor(async () => ((await feed()) === 0 ? true : null), 10_000, 'the feed to drop with Redis silent');
          await waitFor(() => p.logs().find((l) => l.msg === 'revocation subscription stopped answering; connecting again'), 5_000, 'the silence logged');
          own.child.kill('SIGCONT');
          await waitFor(async () => ((await feed()) === 1 ? true : null), 20_000, 'the feed to come back with Redis');
        } finally {
          own.child.kill('SIGCONT');
          await p.stop();
          own.child.kill('SIGKILL');
          await own.child.exited;
        }
      },
      60_000,
    );

    test(
      '/readyz stays 200 on the outbox while Redis is down, and is 503 once neither can take usage',
      async () => {
        const good = await startProxyProcess({ upstream: mock.url, env: { REDIS_URL: redisUrl } });
        const bad = await startProxyProcess({ upstream: mock.url, env: { REDIS_URL: redisUrl } });
        try {
          // Its outbox directory becomes a file, so usage has nowhere to go once Redis is gone (even for root).
          rmSync(bad.outboxDir, { recursive: true, force: true });
          writeFileSync(bad.outboxDir, '');
          const call = () => fetch(`${bad.url}/openai/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${bad.key}`, 'content-type': 'application/json' }, body: '{}' });
          // A first request while Redis is up puts the key in the pod's cache, so it is still served in the outage.
          expect((await call()).status).toBe(200);
          redis.kill('SIGKILL');
          await redis.exited;
          const down = await waitFor(async () => {
            const r = await readyz(good);
            return r.body.detail.redis ? null : r;
          }, 10_000, 'readiness to see Redis down');
          expect(down).toEqual({ status: 200, body: { ok: true, detail: { draining: false, redis: false, outbox_writable: true } } });

          // The request is served; its usage then fails both Redis and the outbox.
          expect((await call()).status).toBe(200);
          const unready = await waitFor(async () => {
            const r = await readyz(bad);
            return r.status === 503 ? r : null;
          }, 10_000, 'readiness to drop');
          expect(unready.body).toEqual({ ok: false, detail: { draining: false, redis: false, outbox_writable: false } });
          // Still alive: liveness is not readiness.
          expect((await fetch(`${bad.url}/healthz`)).status).toBe(200);
        } finally {
          await good.stop();
          await bad.stop();
        }
      },
      60_000,
    );
  });
});

describe('metrics and logs after real traffic', () => {
  const BODY_SENTINEL = 'BODY-SENTINEL-never-logged-7f3a';
  /** Shaped like a key, known to no store: refused, and never to be logged. */
  const UNKNOWN_KEY = `lr_live_${'u'.repeat(43)}`;
  const ids: Record<string, string> = {};
  let stream: RawConn;

  beforeAll(async () => {
    const auth = { authorization: `Bearer ${proxy.key}`, 'content-type': 'application/json' };
    const ok = await fetch(`${proxy.url}/openai/v1/chat/completions?trace=${BODY_SENTINEL}`, { method: 'POST', headers: auth, body: JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content: BODY_SENTINEL }] }) });
    await ok.text();
    ids.ok = ok.headers.get('x-arouter-request-id') ?? '';
    const slow = await fetch(`${proxy.url}/openai/hang`, { method: 'POST', headers: auth, body: '{}' });
    await slow.text();
    ids.timeout = slow.headers.get('x-arouter-request-id') ?? '';
    // Gemini-style key in the query string: it must not surface anywhere.
    const q = await fetch(`${proxy.url}/google/v1beta/models/gemini-x:generateContent?key=${proxy.key}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await q.text();
    ids.query = q.headers.get('x-arouter-request-id') ?? '';
    const bad = await fetch(`${proxy.url}/openai/v1/models`, { headers: { authorization: `Bearer ${UNKNOWN_KEY}` } });
    await bad.text();
    ids.unknownKey = bad.headers.get('x-arouter-request-id') ?? '';
    const lost = await fetch(`${proxy.url}/no-such-provider/v1/models`, { headers: { authorization: `Bearer ${proxy.key}` } });
    await lost.text();
    ids.unknownProvider = lost.headers.get('x-arouter-request-id') ?? '';
    stream = await RawConn.open(proxy.port);
    stream.write(head('POST /anthropic/drip?gapMs=200 HTTP/1.1', 'Host: arouter', `x-api-key: ${proxy.key}`, 'Content-Type: application/json', 'Content-Length: 2') + '{}');
    await waitFor(() => stream.response()?.body.includes('"i":0'), 10_000, 'the stream to start');
  }, 30_000);
  afterAll(() => stream?.destroy());

  test('/metrics is Prometheus text with requests, latency histograms, upstream errors, bytes, streams, outbox and queue', async () => {
    const m = await metrics();
    expect(m.get('arouter_requests_total{provider="openai",status="200",outcome="complete"}')).toBeGreaterThanOrEqual(1);
    expect(m.get('arouter_requests_total{provider="openai",status="504",outcome="timeout_first_byte"}')).toBe(1);
    expect(m.get('arouter_request_duration_seconds_bucket{provider="openai",status="200",le="+Inf"}')).toBeGreaterThanOrEqual(1);
    expect(m.get('arouter_request_duration_seconds_count{provider="openai",status="504"}')).toBe(1);
    expect(m.get('arouter_upstream_ttfb_seconds_count{provider="openai"}')).toBeGreaterThanOrEqual(1);
    expect(m.get('arouter_upstream_errors_total{provider="openai",kind="timeout_first_byte"}')).toBe(1);
    expect(m.get('arouter_bytes_total{provider="openai",direction="in"}')).toBeGreaterThan(0);
    expect(m.get('arouter_bytes_total{provider="openai",direction="out"}')).toBeGreaterThan(0);
    expect(m.get('arouter_open_streams{provider="anthropic"}')).toBe(1);
    expect(m.get('arouter_refused_total{provider="openai",type="authentication_error"}')).toBe(1);
    expect(m.get('arouter_refused_total{provider="unknown",type="unknown_provider"}')).toBe(1);
    expect(m.get('arouter_outbox_files')).toBe(0);
    expect(m.has('arouter_outbox_bytes')).toBe(true);
    // Nothing consumes this test's queue, so jobs wait and age; the sampler runs every 5 s off the request path.
    const sampled = await waitFor(async () => {
      const x = await metrics();
      const depth = x.get('arouter_usage_queue_depth') ?? Number.NaN;
      const lag = x.get('arouter_usage_worker_lag_seconds') ?? Number.NaN;
      return depth >= 1 && lag > 0 ? { depth, lag, failed: x.get('arouter_usage_failed_jobs') } : null;
    }, 15_000, 'a queue sample');
    expect(sampled.lag).toBeLessThan(600);
    expect(sampled.failed).toBe(0);
  }, 30_000);

  test('an open stream counts until its client leaves', async () => {
    stream.destroy();
    await waitFor(async () => (await metrics()).get('arouter_open_streams{provider="anthropic"}') === 0, 10_000, 'the stream gauge to fall');
  });

  test('every log line is a JSON object; each request has one access line with its id, route, status and timings', async () => {
    // The child's stdout reaches the test through a pipe, a little after each response.
    await waitFor(() => [ids.ok, ids.timeout, ids.query].every((id) => proxy.logs().some((l) => l.msg === 'request' && l.request_id === id)), 10_000, 'the access lines');
    const raw = proxy.lines.filter((l) => l.trim() !== '');
    for (const l of raw) {
      const rec = JSON.parse(l) as Record<string, unknown>;
      expect(typeof rec.t).toBe('string');
      expect(['debug', 'info', 'warn', 'error']).toContain(rec.level as string);
      expect(typeof rec.msg).toBe('string');
    }
    const access = (id: string) => {
      const lines = proxy.logs().filter((l) => l.msg === 'request' && l.request_id === id);
      expect(lines.length).toBe(1);
      return lines[0] ?? {};
    };
    const ok = access(ids.ok ?? '');
    expect(ok).toMatchObject({ level: 'info', provider: 'openai', method: 'POST', path: '/v1/chat/completions', status: 200, outcome: 'complete', account_id: expect.any(String), key_id: proxy.keyId, bytes_in: expect.any(Number), bytes_out: expect.any(Number) });
    expect(typeof ok.latency_ms).toBe('number');
    expect(typeof ok.ttfb_ms).toBe('number');
    expect(access(ids.timeout ?? '')).toMatchObject({ level: 'warn', status: 504, outcome: 'timeout_first_byte', path: '/hang' });
    expect(access(ids.query ?? '')).toMatchObject({ provider: 'google', path: '/v1beta/models/gemini-x:generateContent' });
  });

  test('a request refused before any provider call has a line of its own, naming only what passed the checks', async () => {
    await waitFor(() => proxy.logs().some((l) => l.msg === 'request refused' && l.request_id === ids.unknownKey), 10_000, 'the refusal line');
    const refusal = (id: string) => proxy.logs().filter((l) => l.msg === 'request refused' && l.request_id === id);
    const [badKey] = refusal(ids.unknownKey ?? '');
    expect(badKey).toMatchObject({ level: 'info', provider: 'openai', method: 'GET', status: 401, error: 'authentication_error' });
    // No genuine key, so nothing the client wrote (its path) reaches the log.
    expect(badKey?.key_id).toBeUndefined();
    expect(badKey?.path).toBeUndefined();
    const [badProvider] = refusal(ids.unknownProvider ?? '');
    expect(badProvider).toMatchObject({ status: 404, error: 'unknown_provider' });
    expect(badProvider?.provider).toBeUndefined();
    expect(proxy.lines.join('\n')).not.toContain('no-such-provider');
    expect(proxy.lines.join('\n')).not.toContain(UNKNOWN_KEY);
  });

  test('started without BUN_CONFIG_MAX_HTTP_REQUESTS, the proxy says at startup that upstream concurrency is capped', () => {
    expect(proxy.logs().find((l) => l.level === 'warn' && String(l.msg).includes('BUN_CONFIG_MAX_HTTP_REQUESTS'))).toBeTruthy();
  });

  test('no log line carries a key, a token, a query string or a body', () => {
    const all = proxy.lines.join('\n');
    expect(all).not.toContain(proxy.key);
    expect(all).not.toContain(UNKNOWN_KEY);
    expect(all).not.toContain(ADMIN_TOKEN);
    for (const p of PROVIDERS) expect(all).not.toContain(PROVIDER_SECRET(p.slug));
    expect(all).not.toContain(BODY_SENTINEL);
    expect(all).not.toContain('messages');
  });
});
