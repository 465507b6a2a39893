// Slow and silent peers over real sockets: providers that never connect, never answer, go silent or drop the
// connection are cut by arouter's timeouts with the right status and usage outcome; slow clients are cut by the server.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createServer, type Server } from 'node:net';
import { waitFor } from '../helpers/env.ts';
import { closedPort, fillBacklog, startBlackhole, startMockProcess, startProxyProcess, type Blackhole, type MockProcess, type ProxyProcess } from '../helpers/hardening-proc.ts';
import { head, RawConn } from '../helpers/hardening-raw.ts';
import { createTestProxy, PROVIDER_SECRET, type TestProxy } from '../helpers/proxy-harness.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';

/** Generous: every cut here is due after at most about a second; this only catches a hang. */
const BOUND_MS = 10_000;

let mock: MockProcess;
let blackhole: Blackhole;
let proxy: TestProxy;
let server: ReturnType<typeof Bun.serve>;
let key: string;

beforeAll(async () => {
  mock = await startMockProcess();
  blackhole = await startBlackhole();
  proxy = await createTestProxy({
    upstream: mock.url,
    env: {
      AROUTER_CONNECT_TIMEOUT_MS: '500',
      AROUTER_FIRST_BYTE_TIMEOUT_MS: '800',
      AROUTER_IDLE_TIMEOUT_MS: '800',
      // Groq's base never completes a TCP handshake; Mistral's refuses connections.
      AROUTER_UPSTREAM_GROQ: blackhole.url,
      AROUTER_UPSTREAM_MISTRAL: `http://127.0.0.1:${await closedPort()}`,
    },
  });
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', development: false, fetch: (req) => proxy.app.handle(req) });
  key = (await proxy.createKey()).key;
}, 30_000);
afterAll(async () => {
  server?.stop(true);
  await proxy?.close();
  await blackhole?.stop();
  await mock?.stop();
});

interface Observed {
  status: number;
  requestId: string;
  text: string;
  snippet: UsageSnippet;
}

/** One request through arouter; waits for the usage snippet it must leave behind. */
async function call(slug: string, path: string): Promise<Observed> {
  // A hang ends at the fetch's own timeout (BOUND_MS) with an error, failing the test without timing it.
  const res = await fetch(`http://127.0.0.1:${server.port}/${slug}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: '{"model":"m"}',
    signal: AbortSignal.timeout(BOUND_MS),
  });
  const text = await res.text();
  const requestId = res.headers.get('x-arouter-request-id') ?? '';
  const snippet = await waitFor(() => proxy.snippets.find((s) => s.requestId === requestId), 5_000, 'the usage snippet');
  return { status: res.status, requestId, text, snippet };
}

function expectJsonError(o: Observed, status: number, type: string): string {
  expect(o.status).toBe(status);
  const body = JSON.parse(o.text) as { error: { type: string; message: string; request_id: string } };
  expect(body.error.type).toBe(type);
  expect(body.error.request_id).toBe(o.requestId);
  return body.error.message;
}

function expectNoSecret(slug: string, ...texts: string[]) {
  for (const t of [...texts, ...proxy.logLines]) {
    expect(t).not.toContain(PROVIDER_SECRET(slug));
    expect(t).not.toContain(key);
  }
}

describe('provider side: each phase has its own timeout, status and outcome', () => {
  test('never connects (SYNs dropped): 504 after AROUTER_CONNECT_TIMEOUT_MS, outcome timeout_connect', async () => {
    expect(blackhole.filled).toBeGreaterThan(0);
    const o = await call('groq', '/openai/v1/chat/completions');
    expect(expectJsonError(o, 504, 'provider_timeout')).toContain('connecting');
    expect(o.snippet).toMatchObject({ status: 504, outcome: 'timeout_connect' });
    expect(o.snippet.error).toContain('connecting');
    expectNoSecret('groq', o.text, JSON.stringify(o.snippet));
  });

  test('an origin that answered a moment ago, then stops accepting: 504 timeout_connect within two connect timeouts', async () => {
    // The first request makes the origin "warm" (no probe up front); then its process freezes with a full backlog.
    const dark = await startMockProcess();
    const p = await createTestProxy({ upstream: dark.url, env: { AROUTER_CONNECT_TIMEOUT_MS: '300', AROUTER_FIRST_BYTE_TIMEOUT_MS: '20000' } });
    const s = Bun.serve({ port: 0, hostname: '127.0.0.1', development: false, fetch: (req) => p.app.handle(req) });
    const k = (await p.createKey()).key;
    const post = () => fetch(`http://127.0.0.1:${s.port}/nvidia/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(BOUND_MS) });
    let release = () => {};
    try {
      expect((await post()).status).toBe(200);
      dark.kill('SIGSTOP');
      release = (await fillBacklog(dark.port)).release;
      // A hang would end at the fetch's own timeout (BOUND_MS) with an error instead of this 504.
      const res = await post();
      expect(res.status).toBe(504);
      const id = res.headers.get('x-arouter-request-id');
      expect(await waitFor(() => p.snippets.find((x) => x.requestId === id), 5_000, 'the usage snippet')).toMatchObject({ status: 504, outcome: 'timeout_connect' });
    } finally {
      release();
      s.stop(true);
      await p.close();
      await dark.stop();
    }
  }, 30_000);

  /** 256 MiB offered in 64 KiB chunks, far more than loopback buffers hold; `offered` says how far the client got. */
  function bigUpload() {
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const state = { offered: 0 };
    const body = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (state.offered >= 256 * 1024 * 1024) return ctrl.close();
        state.offered += chunk.length;
        ctrl.enqueue(chunk);
      },
    });
    return { body, state };
  }

  async function withProvider(server: Server, env: Record<string, string>, run: (url: string, key: string, p: TestProxy) => Promise<void>) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const p = await createTestProxy({ upstream: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, env });
    const s = Bun.serve({ port: 0, hostname: '127.0.0.1', development: false, fetch: (req) => p.app.handle(req) });
    try {
      await run(`http://127.0.0.1:${s.port}`, (await p.createKey()).key, p);
    } finally {
      s.stop(true);
      await p.close();
      server.close();
    }
  }

  // A JSON body sent chunked is read up to 32 MiB first and then streamed: that head is watched too.
  for (const contentType of ['application/octet-stream', 'application/json']) {
    test(`stops taking a streamed upload (${contentType}): 504 after AROUTER_IDLE_TIMEOUT_MS, outcome timeout_idle, not a hang`, async () => {
      // Accepts and never reads: once the socket buffers are full, arouter's upload to it stalls.
      const stalled = createServer({ pauseOnConnect: true }, () => {});
      await withProvider(stalled, { AROUTER_IDLE_TIMEOUT_MS: '800', AROUTER_FIRST_BYTE_TIMEOUT_MS: '20000' }, async (url, k, p) => {
        const { body, state } = bigUpload();
        // A hang would end at the fetch's own timeout (BOUND_MS) with an error instead of this 504.
        const res = await fetch(`${url}/nvidia/v1/uploads`, {
          method: 'POST',
          headers: { authorization: `Bearer ${k}`, 'content-type': contentType },
          body,
          duplex: 'half',
          signal: AbortSignal.timeout(BOUND_MS),
        } as RequestInit);
        expect(res.status).toBe(504);
        expect(await res.text()).toContain('taking the request body');
        const id = res.headers.get('x-arouter-request-id');
        expect(await waitFor(() => p.snippets.find((x) => x.requestId === id), 5_000, 'the usage snippet')).toMatchObject({ status: 504, outcome: 'timeout_idle' });
        expect(state.offered).toBeLessThan(256 * 1024 * 1024);
      });
    }, 30_000);
  }

  test('answers early and stops taking the upload while its answer streams on: the answer is not cut by the upload watch', async () => {
    // Answers once 256 KiB have arrived, stops reading the upload 300 ms later, and streams 12 events 200 ms apart:
    // longer than the idle timeout in all, never silent for as long.
    const early = createServer((c) => {
      c.on('error', () => {});
      let seen = 0;
      c.on('data', (d) => {
        if (seen > 256 * 1024) return;
        seen += d.length;
        if (seen <= 256 * 1024) return;
        setTimeout(() => c.pause(), 300);
        c.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
        let n = 0;
        const t = setInterval(() => {
          const ev = `data: {"n":${n++}}\n\n`;
          c.write(`${Buffer.byteLength(ev).toString(16)}\r\n${ev}\r\n`);
          if (n === 12) {
            clearInterval(t);
            c.end('0\r\n\r\n');
          }
        }, 200);
      });
    });
    await withProvider(early, { AROUTER_IDLE_TIMEOUT_MS: '1500', AROUTER_FIRST_BYTE_TIMEOUT_MS: '20000' }, async (url, k) => {
      const { body } = bigUpload();
      const res = await fetch(`${url}/nvidia/v1/uploads`, {
        method: 'POST',
        headers: { authorization: `Bearer ${k}`, 'content-type': 'application/octet-stream' },
        body,
        duplex: 'half',
        signal: AbortSignal.timeout(BOUND_MS),
      } as RequestInit);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text.match(/data:/g)?.length).toBe(12);
    });
  }, 30_000);

  test('connects but never answers: 504 after AROUTER_FIRST_BYTE_TIMEOUT_MS, outcome timeout_first_byte', async () => {
    const o = await call('openai', '/hang');
    expect(expectJsonError(o, 504, 'provider_timeout')).toContain('first response byte');
    expect(o.snippet).toMatchObject({ status: 504, outcome: 'timeout_first_byte' });
    expectNoSecret('openai', o.text, JSON.stringify(o.snippet));
  });

  test('silent mid-body before any byte reached the client: 504 after AROUTER_IDLE_TIMEOUT_MS, outcome timeout_idle', async () => {
    const o = await call('anthropic', '/silent-json');
    expect(expectJsonError(o, 504, 'provider_timeout')).toContain('between two chunks');
    // The row records what the client got (504), not the provider's 200 head.
    expect(o.snippet).toMatchObject({ status: 504, outcome: 'timeout_idle' });
    expectNoSecret('anthropic', o.text, JSON.stringify(o.snippet));
  });

  test('silent mid-stream after bytes flowed: the stream is cut (no last chunk), outcome timeout_idle with the 200', async () => {
    const c = await RawConn.open(server.port ?? 0);
    try {
      c.write(head('POST /deepseek/silent-sse HTTP/1.1', 'Host: arouter', `Authorization: Bearer ${key}`, 'Content-Type: application/json', 'Content-Length: 2') + '{}');
      const first = await c.waitForResponse(BOUND_MS, false);
      expect(first.status).toBe(200);
      await waitFor(() => c.response()?.body.includes('"i":0'), BOUND_MS, 'the first event');
      await c.waitForClose(BOUND_MS);
      const r = c.response();
      expect(r?.complete).toBe(false);
      const requestId = r?.headers['x-arouter-request-id'] ?? '';
      const s = await waitFor(() => proxy.snippets.find((x) => x.requestId === requestId), 5_000, 'the usage snippet');
      expect(s).toMatchObject({ status: 200, outcome: 'timeout_idle', error: 'upstream went silent mid-body' });
      expect(s.bytesOut).toBeGreaterThan(0);
      expectNoSecret('deepseek', c.text());
    } finally {
      c.destroy();
    }
  });

  test('connection refused: 502 at once, outcome connect_error, never a 500', async () => {
    const o = await call('mistral', '/v1/chat/completions');
    expect(expectJsonError(o, 502, 'provider_unreachable')).toContain('connection refused');
    expect(o.snippet).toMatchObject({ status: 502, outcome: 'connect_error' });
    expectNoSecret('mistral', o.text);
  });

  test('connection dropped before the response: 502, outcome connect_error', async () => {
    const o = await call('xai', '/reset');
    expectJsonError(o, 502, 'provider_unreachable');
    expect(o.snippet).toMatchObject({ status: 502, outcome: 'connect_error' });
    expectNoSecret('xai', o.text);
  });

  test('connection dropped mid-stream: the client stream is cut, outcome upstream_reset', async () => {
    const c = await RawConn.open(server.port ?? 0);
    try {
      c.write(head('POST /cohere/reset-mid HTTP/1.1', 'Host: arouter', `Authorization: Bearer ${key}`, 'Content-Type: application/json', 'Content-Length: 2') + '{}');
      await c.waitForClose(BOUND_MS);
      const r = c.response();
      expect(r?.status).toBe(200);
      expect(r?.complete).toBe(false);
      const s = await waitFor(() => proxy.snippets.find((x) => x.requestId === r?.headers['x-arouter-request-id']), 5_000, 'the usage snippet');
      expect(s).toMatchObject({ status: 200, outcome: 'upstream_reset' });
    } finally {
      c.destroy();
    }
  });
});

describe('client side: the real server cuts slow clients (slowloris) and keeps slow providers', () => {
  let real: ProxyProcess;
  beforeAll(async () => {
    real = await startProxyProcess({ upstream: mock.url });
  }, 30_000);
  afterAll(async () => {
    await real?.stop();
  });

  test(
    'trickled or stalled headers and bodies, and idle keep-alive after a proxied request, are all disconnected',
    async () => {
      const auth = `Authorization: Bearer ${real.key}`;
      const timers: Array<ReturnType<typeof setInterval>> = [];
      /** Writes `text` one byte every `gapMs`; a trickle that never ends within the test. */
      const trickle = (c: RawConn, text: string, gapMs: number) => {
        let i = 0;
        timers.push(setInterval(() => i < text.length && c.write(text[i++] ?? ''), gapMs));
      };
      const body = JSON.stringify({ model: 'm', pad: 'x'.repeat(400) });
      const slow = {
        noBytes: await RawConn.open(real.port),
        headerStall: await RawConn.open(real.port),
        headerTrickle: await RawConn.open(real.port),
        bodyTrickleJson: await RawConn.open(real.port),
        bodyTrickleChunked: await RawConn.open(real.port),
        bodyStall: await RawConn.open(real.port),
        idleAfterProxied: await RawConn.open(real.port),
        trickleAfterProxied: await RawConn.open(real.port),
      };
      // A provider slower than the client idle timeout, and a stream with a gap longer than it, must both survive.
      const slowProvider = await RawConn.open(real.port);
      const gappyStream = await RawConn.open(real.port);
      try {
        slow.headerStall.write('POST /openai/v1/chat/completions HTTP/1.1\r\nHost: arouter\r\n');
        slow.headerTrickle.write('POST /openai/v1/chat/completions HTTP/1.1\r\nHost: arouter\r\nX-Slow: ');
        trickle(slow.headerTrickle, 'a'.repeat(10_000), 500);
        slow.bodyTrickleJson.write(head('POST /openai/json HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/json', `Content-Length: ${body.length}`));
        trickle(slow.bodyTrickleJson, body, 500);
        slow.bodyTrickleChunked.write(head('POST /openai/sink HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/octet-stream', 'Transfer-Encoding: chunked'));
        trickle(slow.bodyTrickleChunked, '1\r\nb\r\n'.repeat(1_000), 100);
        slow.bodyStall.write(head('POST /openai/json HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/json', 'Content-Length: 100') + '{"mo');
        for (const c of [slow.idleAfterProxied, slow.trickleAfterProxied]) {
          c.write(head('POST /openai/json HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/json', 'Content-Length: 2') + '{}');
          expect((await c.waitForResponse()).status).toBe(200);
        }
        slow.trickleAfterProxied.write('GET /healthz HTTP/1.1\r\nX-Slow: ');
        trickle(slow.trickleAfterProxied, 'a'.repeat(10_000), 500);
        slowProvider.write(head('POST /openai/delay?ms=36000 HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/json', 'Content-Length: 2') + '{}');
        gappyStream.write(head('POST /openai/drip?events=2&gapMs=36000 HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/json', 'Content-Length: 2') + '{}');

        // Bun cuts a connection still in its first request head after ~10 s; otherwise its idle timeout (30 s,
        // restored after each proxied exchange) applies, and a trickled body does not reset it.
        const names = Object.keys(slow) as Array<keyof typeof slow>;
        await waitFor(() => names.every((n) => slow[n].closed), 50_000, `all slow clients cut (open: ${names.filter((n) => !slow[n].closed).join(', ')})`);
        // The trickled bodies never completed, so no provider got a whole request from them.
        expect(slow.bodyTrickleJson.response()).toBeNull();
        expect(slow.bodyTrickleChunked.response()).toBeNull();

        const late = await slowProvider.waitForResponse(20_000);
        expect(late.status).toBe(200);
        expect(JSON.parse(late.body)).toMatchObject({ delayed_ms: 36000 });
        const gappy = await gappyStream.waitForResponse(20_000);
        expect(gappy.body).toContain('"i":1');
      } finally {
        for (const t of timers) clearInterval(t);
        for (const c of [...Object.values(slow), slowProvider, gappyStream]) c.destroy();
      }
      // The cut uploads are recorded as the client's doing.
      const access = real.logs().filter((l) => l.msg === 'request' && l.path === '/json' && l.status === 499);
      expect(access.length).toBeGreaterThanOrEqual(1);
    },
    75_000,
  );
});
