// Request framing against the real server over raw sockets: smuggling-prone framing, absolute-form targets, CONNECT,
// oversized headers, body limits and protocol upgrades never reach a provider.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Socket, TCPSocketListener } from 'bun';
import { waitFor } from '../helpers/env.ts';
import { rssKb, startMockProcess, startProxyProcess, type MockProcess, type ProxyProcess } from '../helpers/hardening-proc.ts';
import { head, RawConn, rawRequest } from '../helpers/hardening-raw.ts';

const LIMIT = 256 * 1024 * 1024;

let mock: MockProcess;
let proxy: ProxyProcess;
let auth: string;

interface MockStats {
  heads: Record<string, number>;
  requests: Record<string, number>;
  sunk: number;
}
const mockStats = async (): Promise<MockStats> => (await fetch(`${mock.url}/stats`)).json() as Promise<MockStats>;
/** Paths that tests here send to the provider on purpose (a late head from one of them must not count). */
const FORWARDED = new Set(['/stats', '/sink', '/framing/clean', '/framing/samelen', '/framing/absolute', '/framing/absolute-https', '/framing/badchunk', '/framing/hdr-ok', '/framing/h2c']);
/** Request heads the provider saw on any other path: a refused request that got through would show here. */
const providerHeads = async () => Object.entries((await mockStats()).heads).reduce((n, [p, c]) => (FORWARDED.has(p) ? n : n + c), 0);

beforeAll(async () => {
  mock = await startMockProcess();
  proxy = await startProxyProcess({ upstream: mock.url, env: { AROUTER_MAX_BODY_BYTES: String(LIMIT) } });
  auth = `Authorization: Bearer ${proxy.key}`;
}, 30_000);
afterAll(async () => {
  await proxy?.stop();
  await mock?.stop();
});

describe('message framing (Bun rejects these before arouter sees them; the provider never does)', () => {
  // RFC 9112 6.1 and 6.3: a message with both headers, differing lengths, or a coding other than a final "chunked"
  // has no trustworthy length; a server must reject it (400) rather than guess, or a smuggled request follows.
  const cases: Array<[string, string[], string]> = [
    ['Content-Length and Transfer-Encoding', ['Content-Length: 5', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n'],
    ['Transfer-Encoding before Content-Length', ['Transfer-Encoding: chunked', 'Content-Length: 5'], '5\r\nhello\r\n0\r\n\r\n'],
    ['two different Content-Lengths', ['Content-Length: 5', 'Content-Length: 6'], 'hello!'],
    ['a Content-Length list', ['Content-Length: 5, 6'], 'hello!'],
    ['a signed Content-Length', ['Content-Length: +5'], 'hello'],
    ['Transfer-Encoding: gzip', ['Transfer-Encoding: gzip'], 'hello'],
    ['Transfer-Encoding: gzip, chunked', ['Transfer-Encoding: gzip, chunked'], '5\r\nhello\r\n0\r\n\r\n'],
    ['Transfer-Encoding: chunked, gzip', ['Transfer-Encoding: chunked, gzip'], '5\r\nhello\r\n0\r\n\r\n'],
    ['chunked twice', ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n'],
    ['Transfer-Encoding: identity', ['Transfer-Encoding: identity'], 'hello'],
    ['Transfer-Encoding: xchunked', ['Transfer-Encoding: xchunked'], '5\r\nhello\r\n0\r\n\r\n'],
    ['whitespace before the colon', ['Transfer-Encoding : chunked'], '5\r\nhello\r\n0\r\n\r\n'],
    ['an obs-folded Transfer-Encoding', ['Transfer-Encoding:', ' chunked'], '5\r\nhello\r\n0\r\n\r\n'],
  ];
  for (const [name, headers, body] of cases) {
    test(`${name}: 400, connection closed, no provider request`, async () => {
      const before = await providerHeads();
      const r = await rawRequest(proxy.port, head('POST /openai/framing/smuggle HTTP/1.1', 'Host: arouter', auth, 'Content-Type: text/plain', ...headers) + body);
      expect(r.status).toBe(400);
      expect(r.headers.connection).toBe('close');
      expect(await providerHeads()).toBe(before);
    });
  }

  test('a malformed chunk inside a well-framed request: 400, and the provider never gets a whole request', async () => {
    // The head is valid, so the request is forwarded while its body streams; the bad chunk then fails the body and
    // the upstream request is aborted mid-body, which a provider cannot act on.
    const r = await rawRequest(proxy.port, head('POST /openai/framing/badchunk HTTP/1.1', 'Host: arouter', auth, 'Content-Type: text/plain', 'Transfer-Encoding: chunked') + 'zz\r\nhello\r\n0\r\n\r\n');
    expect(r.status).toBe(400);
    expect((await mockStats()).requests['/framing/badchunk']).toBeUndefined();
  });

  test('Transfer-Encoding in an HTTP/1.0 request: 400 (RFC 9112 6.1)', async () => {
    const before = await providerHeads();
    const r = await rawRequest(proxy.port, head('POST /openai/framing/http10 HTTP/1.0', 'Host: arouter', auth, 'Transfer-Encoding: chunked') + '5\r\nhello\r\n0\r\n\r\n');
    expect(r.status).toBe(400);
    expect(await providerHeads()).toBe(before);
  });

  test('control: the same route with clean framing reaches the provider, chunked or with a length', async () => {
    const chunked = await rawRequest(proxy.port, head('POST /openai/framing/clean HTTP/1.1', 'Host: arouter', auth, 'Content-Type: text/plain', 'Transfer-Encoding: chunked') + '5\r\nhello\r\n0\r\n\r\n');
    expect(chunked.status).toBe(200);
    expect(JSON.parse(chunked.body)).toMatchObject({ ok: true, path: '/framing/clean' });
    // A transfer-coding name is case-insensitive (RFC 9112 7).
    const upper = await rawRequest(proxy.port, head('POST /openai/framing/clean HTTP/1.1', 'Host: arouter', auth, 'Content-Type: text/plain', 'Transfer-Encoding: Chunked') + '5\r\nhello\r\n0\r\n\r\n');
    expect(upper.status).toBe(200);
    expect((await mockStats()).requests['/framing/clean']).toBe(2);
  });

  test('identical repeated Content-Lengths are one length (RFC 9112 6.3) and the provider gets exactly that body', async () => {
    const r = await rawRequest(proxy.port, head('POST /openai/framing/samelen HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/json', 'Content-Length: 2', 'Content-Length: 2') + '{}');
    expect(r.status).toBe(200);
    expect((await mockStats()).requests['/framing/samelen']).toBe(1);
  });
});

describe('request targets and methods', () => {
  let decoy: TCPSocketListener<undefined>;
  let decoyConnections = 0;
  beforeAll(() => {
    decoy = Bun.listen<undefined>({
      hostname: '127.0.0.1',
      port: 0,
      socket: {
        open(s: Socket<undefined>) {
          decoyConnections++;
          s.end();
        },
        data() {},
      },
    });
  });
  afterAll(() => decoy.stop(true));

  test('an absolute-form target naming another host goes to the configured provider, never to that host', async () => {
    const other = `127.0.0.1:${decoy.port}`;
    const r = await rawRequest(proxy.port, head(`POST http://${other}/openai/framing/absolute HTTP/1.1`, `Host: ${other}`, auth, 'Content-Type: application/json', 'Content-Length: 2') + '{}');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ path: '/framing/absolute' });
    expect((await mockStats()).requests['/framing/absolute']).toBe(1);
    const https = await rawRequest(proxy.port, head(`GET https://${other}/openai/framing/absolute-https HTTP/1.1`, 'Host: arouter', auth));
    expect(https.status).toBe(200);
    expect(decoyConnections).toBe(0);
  });

  test('CONNECT (authority-form) is refused with 405 and Allow, and the connection is closed: no tunnel', async () => {
    const before = await providerHeads();
    const c = await RawConn.open(proxy.port);
    try {
      c.write(head(`CONNECT 127.0.0.1:${mock.port} HTTP/1.1`, `Host: 127.0.0.1:${mock.port}`, auth));
      const r = await c.waitForResponse();
      expect(r.status).toBe(405);
      expect(r.headers.allow).toContain('POST');
      expect(r.headers.allow).not.toContain('CONNECT');
      expect(r.headers.connection).toBe('close');
      expect(r.headers['x-arouter-request-id']).toBeTruthy();
      expect((JSON.parse(r.body) as { error: { type: string } }).error.type).toBe('method_not_allowed');
      // Bun would read anything after a CONNECT head as its body; the connection ends instead of carrying bytes on.
      await c.waitForClose(5_000);
    } finally {
      c.destroy();
    }
    const stray = await rawRequest(proxy.port, head('CONNECT /openai/framing/connect HTTP/1.1', 'Host: arouter', auth));
    expect(stray.status).toBe(405);
    expect(await providerHeads()).toBe(before);
  });

  test('TRACE, which would reflect the credential arouter adds, is refused with 405', async () => {
    const before = await providerHeads();
    const r = await rawRequest(proxy.port, head('TRACE /openai/framing/trace HTTP/1.1', 'Host: arouter', auth));
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBeTruthy();
    expect(await providerHeads()).toBe(before);
    // Logged and counted with the other refusals, under its error type.
    const id = r.headers['x-arouter-request-id'];
    const line = await waitFor(() => proxy.logs().find((l) => l.msg === 'request refused' && l.request_id === id), 10_000, 'the refusal line');
    expect(line).toMatchObject({ method: 'TRACE', status: 405, error: 'method_not_allowed' });
    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(metrics).toMatch(/^arouter_refused_total\{provider="unknown",type="method_not_allowed"\} [1-9]/m);
  });

  test("a Host of three characters or fewer (a short service name on port 80) still reaches arouter's own routes", async () => {
    for (const host of ['gw', 'api', 'a']) {
      const r = await rawRequest(proxy.port, head('GET /healthz HTTP/1.1', `Host: ${host}`));
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ ok: true });
    }
    const proxied = await rawRequest(proxy.port, head('POST /openai/framing/clean HTTP/1.1', 'Host: gw', auth, 'Content-Type: application/json', 'Content-Length: 2') + '{}');
    expect(proxied.status).toBe(200);
  });

  test('HTTP/2 prior-knowledge preface on the HTTP/1.1 port: 400 from Bun, no provider request', async () => {
    const before = await providerHeads();
    const r = await rawRequest(proxy.port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    expect(r.status).toBe(400);
    expect(await providerHeads()).toBe(before);
  });
});

describe('header size (Bun caps the request head at 16 KiB and about 200 fields)', () => {
  test('a 12 KiB header is forwarded', async () => {
    const r = await rawRequest(proxy.port, head('GET /openai/framing/hdr-ok HTTP/1.1', 'Host: arouter', auth, `X-Big: ${'a'.repeat(12 * 1024)}`));
    expect(r.status).toBe(200);
  });
  const big: Array<[string, string[]]> = [
    ['one 20 KiB header', [`X-Big: ${'a'.repeat(20 * 1024)}`]],
    ['a 1 MiB header', [`X-Big: ${'a'.repeat(1024 * 1024)}`]],
    ['300 small headers', Array.from({ length: 300 }, (_, i) => `X-H${i}: v`)],
  ];
  for (const [name, headers] of big) {
    test(`${name}: 431, connection closed, no provider request`, async () => {
      const before = await providerHeads();
      const r = await rawRequest(proxy.port, head('GET /openai/framing/hdr-big HTTP/1.1', 'Host: arouter', auth, ...headers));
      expect(r.status).toBe(431);
      expect(r.headers.connection).toBe('close');
      expect(await providerHeads()).toBe(before);
    });
  }
  test('a 20 KiB request target: 431', async () => {
    const r = await rawRequest(proxy.port, head(`GET /openai/framing/long?q=${'a'.repeat(20 * 1024)} HTTP/1.1`, 'Host: arouter', auth));
    expect(r.status).toBe(431);
  });
});

describe('body limit (AROUTER_MAX_BODY_BYTES)', () => {
  test("a JSON body in small chunks (a streaming encoder's 40-byte writes) is read and forwarded", async () => {
    const json = `{"model":"m","pad":"${'x'.repeat(680_000)}"}`;
    const chunks = json.match(/[\s\S]{1,40}/g)!.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('');
    const r = await rawRequest(proxy.port, head('POST /openai/framing/clean HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/json', 'Transfer-Encoding: chunked') + chunks + '0\r\n\r\n');
    expect(r.status).toBe(200);
  });

  test('a JSON body dribbled a byte per chunk is refused once that is clear, not read at the cost of a turn per byte', async () => {
    const before = await providerHeads();
    // 140,000 one-byte chunks of a JSON body (the write is one; Bun hands each chunk over on its own).
    const json = `{"model":"m","pad":"${'x'.repeat(140_000 - 22)}"}`;
    const chunks = Array.from(json, (ch) => `1\r\n${ch}\r\n`).join('');
    const r = await rawRequest(proxy.port, head('POST /openai/framing/tiny HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/json', 'Transfer-Encoding: chunked') + chunks + '0\r\n\r\n');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ error: { type: 'body_chunks_too_small' } });
    expect(await providerHeads()).toBe(before);
  });

  // Far over the limit too (a 600 MB file against 512 MiB, a 2 GiB one): arouter's JSON 413, never Bun's bare one.
  for (const declared of [LIMIT + 1, LIMIT + 64 * 1024 * 1024, 2 * 1024 ** 3, 1024 ** 4]) {
    test(`a declared length of ${declared} over a limit of ${LIMIT}: arouter's 413 at once, before any body byte, no provider request`, async () => {
      const before = await providerHeads();
      const c = await RawConn.open(proxy.port);
      try {
        c.write(head('POST /openai/framing/declared HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/octet-stream', `Content-Length: ${declared}`));
        const r = await c.waitForResponse();
        expect(r.status).toBe(413);
        expect(r.headers['x-arouter-request-id']).toBeTruthy();
        expect(JSON.parse(r.body)).toMatchObject({ error: { type: 'request_too_large', request_id: r.headers['x-arouter-request-id'] } });
        // Within 32 MiB of the limit what follows is read and dropped (the connection stays usable); beyond, draining
        // would be unbounded work, so the connection closes.
        if (declared > LIMIT + 32 * 1024 * 1024) {
          expect(r.headers.connection).toBe('close');
          await c.waitForClose(10_000);
        } else {
          expect(r.headers.connection).not.toBe('close');
        }
      } finally {
        c.destroy();
      }
      expect(await providerHeads()).toBe(before);
    });
  }

  test('any early answer to a declared length far over the limit closes the connection (a 401 too): no unbounded drain', async () => {
    const c = await RawConn.open(proxy.port);
    try {
      c.write(head('POST /openai/framing/declared HTTP/1.1', 'Host: arouter', 'Content-Type: application/octet-stream', `Content-Length: ${2 ** 50}`));
      const r = await c.waitForResponse();
      expect(r.status).toBe(401);
      expect(r.headers.connection).toBe('close');
      await c.waitForClose(10_000);
    } finally {
      c.destroy();
    }
  });

  test(
    'a chunked body over the limit: 413 mid-stream, streamed through rather than buffered, and never a complete request upstream',
    async () => {
      const rss0 = rssKb(proxy.pid);
      let peak = rss0;
      const c = await RawConn.open(proxy.port);
      const piece = Buffer.concat([Buffer.from(`${(256 * 1024).toString(16)}\r\n`), Buffer.alloc(256 * 1024, 'b'), Buffer.from('\r\n')]);
      let sent = 0;
      try {
        c.write(head('POST /openai/sink HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/octet-stream', 'Transfer-Encoding: chunked'));
        // Keep sending, never the last chunk, until arouter answers: any answer at all is an answer mid-stream.
        while (!c.response() && !c.closed && sent < 4 * LIMIT) {
          await c.writeDrained(piece);
          sent += 256 * 1024;
          if (sent % (8 * 1024 * 1024) === 0) peak = Math.max(peak, rssKb(proxy.pid));
        }
        const r = await c.waitForResponse();
        expect(r.status).toBe(413);
        expect(JSON.parse(r.body)).toMatchObject({ error: { type: 'request_too_large' } });
        expect(sent).toBeGreaterThan(LIMIT);
      } finally {
        c.destroy();
      }
      const s = await mockStats();
      // The provider was sent the body as it arrived (most of the limit), yet never a whole request to act on.
      expect(s.heads['/sink']).toBe(1);
      expect(s.sunk).toBeGreaterThan(LIMIT / 2);
      expect(s.requests['/sink']).toBeUndefined();
      // Buffering the body would have cost at least the limit (256 MiB); streaming costs a few chunks plus garbage
      // not yet collected (about 50 MiB here).
      expect(peak - rss0).toBeLessThan(LIMIT / 2 / 1024);
    },
    60_000,
  );
});

describe('a large upload under the limit', () => {
  test(
    'a 200 MiB body (Content-Length) streams through to the provider in bounded proxy memory',
    async () => {
      const size = 200 * 1024 * 1024;
      const rss0 = rssKb(proxy.pid);
      let peak = rss0;
      const before = (await mockStats()).sunk;
      const c = await RawConn.open(proxy.port);
      const piece = Buffer.alloc(1024 * 1024, 'u');
      try {
        c.write(head('POST /openai/sink HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/octet-stream', `Content-Length: ${size}`));
        for (let sent = 0; sent < size; sent += piece.byteLength) {
          await c.writeDrained(piece);
          if (sent % (16 * 1024 * 1024) === 0) peak = Math.max(peak, rssKb(proxy.pid));
        }
        const r = await c.waitForResponse();
        expect(r.status).toBe(200);
        expect((JSON.parse(r.body) as { got: number }).got).toBe(size);
      } finally {
        c.destroy();
      }
      expect((await mockStats()).sunk - before).toBe(size);
      // Buffering would cost the whole 200 MiB; streaming keeps the growth to chunks in flight plus uncollected garbage.
      expect(peak - rss0).toBeLessThan(100 * 1024);
    },
    90_000,
  );
});

describe('protocol upgrades on a proxy route', () => {
  const upgrades: Array<[string, string[]]> = [
    ['websocket', ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13']],
    ['h2c offered with websocket', ['Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c, websocket', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA']],
  ];
  test("h2c alone (Java's HttpClient offers it on every http:// request): declined, answered in HTTP/1.1, the offer not passed on", async () => {
    const c = await RawConn.open(proxy.port);
    try {
      c.write(head('POST /openai/framing/h2c HTTP/1.1', 'Host: arouter', auth, 'Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA', 'Content-Type: application/json', 'Content-Length: 2') + '{}');
      const r = await c.waitForResponse();
      expect(r.status).toBe(200);
      const got = (JSON.parse(r.body) as { headers: string[] }).headers;
      expect(got).toContain('authorization');
      // (Bun's fetch sends a Connection header of its own, keep-alive.)
      for (const name of ['upgrade', 'http2-settings']) expect(got).not.toContain(name);
      expect(c.text()).not.toContain(' 101 ');
    } finally {
      c.destroy();
    }
  });
  for (const [name, headers] of upgrades) {
    test(`${name}: 400 upgrade_not_supported, no 101, no tunnel, no provider request`, async () => {
      const before = await providerHeads();
      const c = await RawConn.open(proxy.port);
      try {
        c.write(head('GET /openai/framing/upgrade HTTP/1.1', 'Host: arouter', auth, ...headers));
        const r = await c.waitForResponse();
        expect(r.status).toBe(400);
        expect(r.headers['x-arouter-request-id']).toBeTruthy();
        expect((JSON.parse(r.body) as { error: { type: string } }).error.type).toBe('upgrade_not_supported');
        expect(c.text()).not.toContain(' 101 ');
        c.write(head('GET /healthz HTTP/1.1', 'Host: arouter'));
        await waitFor(() => c.text().includes('{"ok":true}'), 5_000, 'an HTTP answer on the same connection');
      } finally {
        c.destroy();
      }
      expect(await providerHeads()).toBe(before);
    });
  }
});
