// Proxy contract: errors arouter raises, path escapes over a real socket, revocation across pods, client aborts.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { connect } from 'node:net';
import { uniqueName, waitFor } from '../helpers/env.ts';
import { fixtureText, sseEvents, sseFromChunks } from '../helpers/fixtures.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { ADMIN_TOKEN, createTestProxy, PROVIDER_SECRET, type TestProxy } from '../helpers/proxy-harness.ts';

let mock: MockUpstream;
let proxy: TestProxy;
let server: ReturnType<typeof Bun.serve>;
let key: string;

beforeAll(async () => {
  mock = await startMockUpstream();
  mock.on('*', { body: '{"ok":true}' });
  proxy = await createTestProxy({ upstream: mock.url, env: { MISTRAL_API_KEY: '', AROUTER_MAX_BODY_BYTES: '1000' } });
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (req) => proxy.app.handle(req) });
  key = (await proxy.createKey()).key;
});
afterAll(async () => {
  server.stop(true);
  mock.stop();
  await proxy.close();
});

const handle = (path: string, init: RequestInit = {}) => proxy.app.handle(new Request(`http://arouter.test${path}`, init));
const auth = () => ({ authorization: `Bearer ${key}` });

async function expectError(res: Response, status: number, type: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('x-arouter-request-id')).toBeTruthy();
  const body = (await res.json()) as { error: { type: string; message: string } };
  expect(body.error.type).toBe(type);
  expect(body.error.message.length).toBeGreaterThan(10);
}

describe('errors arouter raises', () => {
  test('401 without a key, no upstream call', async () => {
    const before = mock.received.length;
    await expectError(await handle('/openai/v1/models'), 401, 'authentication_error');
    expect(mock.received.length).toBe(before);
  });
  test('404 unknown provider, no upstream call', async () => {
    const before = mock.received.length;
    await expectError(await handle('/nosuch/v1/models', { headers: auth() }), 404, 'unknown_provider');
    expect(mock.received.length).toBe(before);
  });
  test('503 provider not configured names the variable', async () => {
    const res = await handle('/mistral/v1/models', { headers: auth() });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('MISTRAL_API_KEY');
  });
  test('413 when the declared body is over the limit, no upstream call', async () => {
    const before = mock.received.length;
    await expectError(await handle('/openai/v1/chat/completions', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: 'x'.repeat(1001) }), 413, 'request_too_large');
    expect(mock.received.length).toBe(before);
  });
  test('413 mid-stream for a chunked body over the limit', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(400));
        c.close();
      },
    });
    const res = await fetch(`http://127.0.0.1:${server.port}/openai/v1/files`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/octet-stream' }, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
  });
  test('a chunked JSON body over the limit: 413, and its row counts the bytes that did arrive', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode(`{"pad":"${'x'.repeat(392)}`));
        c.close();
      },
    });
    const res = await fetch(`http://127.0.0.1:${server.port}/openai/v1/chat/completions`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    const row = await waitFor(() => proxy.snippets.find((x) => x.requestId === res.headers.get('x-arouter-request-id')), 5_000, 'the 413 row');
    expect(row.bytesIn).toBeGreaterThan(1000);
  });
  test('502 when the provider is unreachable', async () => {
    const dead = Bun.serve({ port: 0, fetch: () => new Response('') });
    const port = dead.port;
    dead.stop(true);
    const p = await createTestProxy({ upstream: `http://127.0.0.1:${port}` });
    const k = (await p.createKey()).key;
    const res = await p.app.handle(new Request('http://arouter.test/openai/v1/models', { headers: { authorization: `Bearer ${k}` } }));
    await expectError(res, 502, 'provider_unreachable');
    expect(p.snippets.at(-1)?.outcome).toBe('connect_error');
    await p.close();
  });
  test('a malformed escape in a Gemini model segment is forwarded for the provider to judge, not a 500', async () => {
    const before = proxy.snippets.length;
    const res = await handle('/google/v1beta/models/g%zz:generateContent', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(200);
    expect(mock.received.at(-1)?.path).toBe('/v1beta/models/g%zz:generateContent');
    await waitFor(() => proxy.snippets.length > before, 5_000, 'the snippet');
    expect(proxy.snippets.at(-1)?.requestModel).toBe('g%zz');
  });
  test('a GET that reads back a stored response is recorded as a retrieval, so its usage is not counted twice', async () => {
    const stored = fixtureText('openai/responses-nonstream.json');
    const id = (JSON.parse(stored) as { id: string }).id;
    mock.on(`/v1/responses/${id}`, { body: stored });
    const before = proxy.snippets.length;
    const res = await handle(`/openai/v1/responses/${id}`, { headers: auth() });
    expect(res.status).toBe(200);
    await waitFor(() => proxy.snippets.length > before, 5_000, 'the snippet');
    expect(proxy.snippets.at(-1)?.formatOptions).toEqual({ retrieval: true });
  });
  test('every response carries a request id, proxied or not', async () => {
    for (const r of [await handle('/healthz'), await handle('/openai/v1/models', { headers: auth() }), await handle('/nope')]) {
      expect(r.headers.get('x-arouter-request-id')).toBeTruthy();
    }
  });
});

describe("the provider's own URLs in answers point back through arouter", () => {
  const redirect = (location: string) => ({ raw: () => new Response(null, { status: 307, headers: { location } }) });

  test('Location on the provider (absolute or path-absolute) becomes an arouter path; elsewhere is left alone', async () => {
    for (const [given, expected] of [
      [`${mock.url}/v1/files/f1/content?x=1`, '/openai/v1/files/f1/content?x=1'],
      ['https://api.openai.com/v1/next', '/openai/v1/next'],
      ['/v1/other', '/openai/v1/other'],
      ['https://cdn.example/blob/1', 'https://cdn.example/blob/1'],
      ['//cdn.example/blob/2', '//cdn.example/blob/2'],
    ] as const) {
      mock.on('/v1/moved', redirect(given));
      const res = await handle('/openai/v1/moved', { headers: auth() });
      expect(res.status).toBe(307);
      expect(res.headers.get('location')).toBe(expected);
    }
  });

  test("Gemini's resumable upload URL goes through arouter, on the origin (and scheme) the client used", async () => {
    mock.on('/upload/v1beta/files', { raw: () => new Response('{}', { headers: { 'content-type': 'application/json', 'x-goog-upload-url': `${mock.url}/upload/v1beta/files?upload_id=abc&upload_protocol=resumable` } }) });
    const init = { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', 'x-goog-upload-protocol': 'resumable' }, body: '{}' };
    const res = await handle('/google/upload/v1beta/files', init);
    expect(res.headers.get('x-goog-upload-url')).toStartWith('http://arouter.test/google/upload/v1beta/files?upload_id=abc&upload_protocol=resumable&arouter_upload=');
    const behindTls = await handle('/google/upload/v1beta/files', { ...init, headers: { ...init.headers, 'x-forwarded-proto': 'https' } });
    expect(behindTls.headers.get('x-goog-upload-url')).toStartWith('https://arouter.test/google/upload/v1beta/files?upload_id=abc&upload_protocol=resumable&arouter_upload=');
    // Behind a proxy that rewrites Host (nginx's default), the host the client used comes in X-Forwarded-Host.
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'llm.example.com:8443, inner.proxy' };
    const behindProxy = await handle('/google/upload/v1beta/files', { ...init, headers: { ...init.headers, ...forwarded } });
    expect(behindProxy.headers.get('x-goog-upload-url')).toStartWith('https://llm.example.com:8443/google/upload/v1beta/files?upload_id=abc&upload_protocol=resumable&arouter_upload=');
    // Not a host (it would add a path or user info): the request's own Host.
    const odd = await handle('/google/upload/v1beta/files', { ...init, headers: { ...init.headers, 'x-forwarded-host': 'evil.example/x@' } });
    expect(odd.headers.get('x-goog-upload-url')).toStartWith('http://arouter.test/google/upload/v1beta/files?upload_id=abc&upload_protocol=resumable&arouter_upload=');
  });

  test("Gemini's upload URL carries a grant for the key that started it: the bytes may follow with no credential, as Python's SDK sends them", async () => {
    const uploadUrl = `${mock.url}/upload/v1beta/files?upload_id=up1&upload_protocol=resumable`;
    mock.on('/upload/v1beta/files', { raw: () => new Response('{"file":{"name":"files/f1"}}', { headers: { 'content-type': 'application/json', 'x-goog-upload-url': uploadUrl } }) });
    const start = await handle('/google/upload/v1beta/files', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', 'x-goog-upload-protocol': 'resumable' }, body: '{}' });
    const handedOut = new URL(start.headers.get('x-goog-upload-url') ?? '');
    const token = handedOut.searchParams.get('arouter_upload') ?? '';
    expect(token.length).toBeGreaterThan(20);
    expect(handedOut.pathname + handedOut.search).toBe(`/google/upload/v1beta/files?upload_id=up1&upload_protocol=resumable&arouter_upload=${token}`);

    // The upload itself: only Google's upload headers, no key of any kind.
    const bytes = { method: 'POST', headers: { 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0' }, body: 'file bytes' };
    const before = mock.received.length;
    const up = await handle(handedOut.pathname + handedOut.search, bytes);
    expect(up.status).toBe(200);
    const got = mock.received.slice(before);
    expect(got.map((r) => [r.path, r.search, new TextDecoder().decode(r.body), r.headers['x-goog-api-key']])).toEqual([['/upload/v1beta/files', '?upload_id=up1&upload_protocol=resumable', 'file bytes', PROVIDER_SECRET('google')]]);
    // The upload's usage row is the starting key's.
    const rowOf = (res: Response) => proxy.snippets.find((x) => x.requestId === res.headers.get('x-arouter-request-id'));
    expect(rowOf(up)?.keyId).toBeTruthy();
    expect([rowOf(up)?.keyId, rowOf(up)?.accountId]).toEqual([rowOf(start)?.keyId, rowOf(start)?.accountId]);

    // Nothing else opens with it: another URL, another upload id, a forged token; each is a 401 that reaches no one.
    const refused = [
      `/google/v1beta/models/gemini-2.5-flash:generateContent?arouter_upload=${token}`,
      `/google/upload/v1beta/files?upload_id=up2&upload_protocol=resumable&arouter_upload=${token}`,
      `/google/upload/v1beta/files?upload_id=up1&upload_protocol=resumable&arouter_upload=${token}x`,
    ];
    for (const path of refused) {
      const r = await handle(path, bytes);
      expect([path, r.status]).toEqual([path, 401]);
    }
    expect(mock.received.length).toBe(before + 1);
  });

  test('a grant is only for an upload session, by its methods, until the session ends', async () => {
    const answer = (url: string, status = 200) => ({ raw: () => new Response('{}', { status, headers: { 'content-type': 'application/json', 'x-goog-upload-url': url } }) });
    const start = async () => {
      const r = await handle('/google/upload/v1beta/files', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{}' });
      return new URL(r.headers.get('x-goog-upload-url') ?? '');
    };
    // Not an upload session (another route, no upload_id, a key or a fragment in it, an error answer): no grant.
    for (const [url, status] of [
      [`${mock.url}/v1beta/files`, 200],
      [`${mock.url}/upload/v1beta/files`, 200],
      [`${mock.url}/upload/v1beta/files?upload_id=x&key=abc`, 200],
      [`${mock.url}/upload/v1beta/files?upload_id=x#f`, 200],
      [`${mock.url}/upload/v1beta/files?upload_id=x`, 500],
    ] as const) {
      mock.on('/upload/v1beta/files', answer(url, status));
      expect([url, status, (await start()).searchParams.has('arouter_upload')]).toEqual([url, status, false]);
    }

    mock.on('/upload/v1beta/files', answer(`${mock.url}/upload/v1beta/files?upload_id=s1&upload_protocol=resumable`));
    const url = await start();
    const target = url.pathname + url.search;
    const before = mock.received.length;
    // Other methods, or POST asking to be read as another one: refused before any provider call.
    expect((await handle(target, { method: 'GET' })).status).toBe(401);
    expect((await handle(target, { method: 'DELETE' })).status).toBe(401);
    expect((await handle(target, { method: 'POST', headers: { 'x-http-method-override': 'GET' }, body: 'x' })).status).toBe(401);
    expect(mock.received.length).toBe(before);
    // The last chunk's answer ends the session: the grant opens nothing after it.
    mock.on('/upload/v1beta/files', { raw: () => Response.json({ file: { name: 'files/s1' } }, { headers: { 'x-goog-upload-status': 'final' } }) });
    expect((await handle(target, { method: 'POST', headers: { 'x-goog-upload-command': 'upload, finalize' }, body: 'x' })).status).toBe(200);
    await waitFor(async () => (await handle(target, { method: 'POST', headers: { 'x-goog-upload-command': 'upload' }, body: 'x' })).status === 401, 5_000, 'the finished session refused');
  });

  test('the grant parameter is never forwarded, however it is spelled', async () => {
    mock.on('/upload/v1beta/files', { raw: () => new Response('{}', { headers: { 'content-type': 'application/json' } }) });
    for (const name of ['arouter_upload', '%61router_upload', 'Arouter_Upload', 'arouter%5Fupload']) {
      const before = mock.received.length;
      const r = await handle(`/google/upload/v1beta/files?upload_id=z&${name}=tok&${name}=tok2`, { method: 'POST', headers: auth(), body: 'x' });
      expect([name, r.status]).toEqual([name, 200]);
      expect(mock.received.slice(before).map((x) => x.search)).toEqual(['?upload_id=z']);
    }
  });

  test('an upload grant dies with its key: revoked, the next chunk is refused', async () => {
    const own = await proxy.createKey();
    const uploadUrl = `${mock.url}/upload/v1beta/files?upload_id=up3&upload_protocol=resumable`;
    mock.on('/upload/v1beta/files', { raw: () => new Response('{}', { headers: { 'content-type': 'application/json', 'x-goog-upload-url': uploadUrl } }) });
    const start = await handle('/google/upload/v1beta/files', { method: 'POST', headers: { authorization: `Bearer ${own.key}`, 'content-type': 'application/json' }, body: '{}' });
    const handedOut = new URL(start.headers.get('x-goog-upload-url') ?? '');
    const chunk = () => handle(handedOut.pathname + handedOut.search, { method: 'POST', headers: { 'x-goog-upload-command': 'upload', 'x-goog-upload-offset': '0' }, body: 'x' });
    expect((await chunk()).status).toBe(200);
    await proxy.keys.revoke(own.id);
    await waitFor(async () => (await chunk()).status === 401, 5_000, 'the revoked key refused');
  });
});

describe('paths that try to leave the provider base, over a raw socket', () => {
  const raw = (target: string) =>
    new Promise<string>((resolve, reject) => {
      const s = connect(server.port!, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n\r\n`));
      let d = '';
      s.on('data', (b) => (d += b.toString()));
      s.on('end', () => resolve(d));
      s.on('error', reject);
    });
  const targets = ['/openai/v1/../../etc/passwd', '/openai/%2e%2e/%2e%2e/x', '/openai/v1/%2fevil', '/openai//evil.example/x', '/openai/v1%5c..%5cx', '/openai/..%2f..%2fx', '/openai/v1/./x/../../..'];
  for (const t of targets) {
    test(`${t} is refused and reaches no upstream outside the base`, async () => {
      const before = mock.received.length;
      const out = await raw(t);
      const status = Number(out.split(' ')[1]);
      expect([400, 404]).toContain(status);
      const after = mock.received.slice(before);
      expect(after).toEqual([]);
    });
  }
});

describe('keys', () => {
  test('admin creates a key (lr_live_ format), lists it without the secret, and revocation reaches another pod within 5 s', async () => {
    const prefix = uniqueName('pods');
    const podA = await createTestProxy({ upstream: mock.url, keyPrefix: prefix, keyCacheMs: 1_000 });
    const podB = await createTestProxy({ upstream: mock.url, keyPrefix: prefix, keyCacheMs: 1_000 });
    try {
      const created = await podA.app.handle(new Request('http://arouter.test/admin/keys', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ account: 'acme', name: 'ci' }) }));
      expect(created.status).toBe(201);
      const { id, key: secret, account } = (await created.json()) as { id: string; key: string; account: string };
      expect(secret).toMatch(/^lr_live_[A-Za-z0-9_-]{40,}$/);
      expect(account).toBe('acme');
      const stored = JSON.stringify(await podA.redis.keys(`${prefix}:*`)) + JSON.stringify(await podA.redis.hgetall(`${prefix}:key:${new Bun.CryptoHasher('sha256').update(secret).digest('hex')}`));
      expect(stored).not.toContain(secret);
      const listed = await podA.app.handle(new Request('http://arouter.test/admin/keys?account=acme', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
      const listText = await listed.text();
      expect(listText).toContain(id);
      expect(listText).not.toContain(secret);
      const use = (p: TestProxy) => p.app.handle(new Request('http://arouter.test/openai/v1/models', { headers: { 'x-api-key': secret } }));
      expect((await use(podB)).status).toBe(200);
      const del = await podA.app.handle(new Request(`http://arouter.test/admin/keys/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
      expect(del.status).toBe(200);
      await waitFor(async () => (await use(podB)).status === 401, 5_000, 'revocation on pod B');
    } finally {
      await podA.close();
      await podB.close();
    }
  });
  test('admin API refuses a wrong token', async () => {
    const res = await handle('/admin/keys', { method: 'POST', headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' }, body: '{"account":"a"}' });
    expect(res.status).toBe(401);
    // RFC 9110 15.5.2: a 401 carries a challenge.
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="arouter"');
  });
  test('admin API checks the token before validating the body, and on paths it does not serve', async () => {
    const bad = await handle('/admin/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}' });
    await expectError(bad, 401, 'authentication_error');
    await expectError(await handle('/admin/nothing-here'), 401, 'authentication_error');
  });
  test('the admin scheme is case-insensitive (RFC 9110 11.1)', async () => {
    const res = await handle('/admin/keys?account=nobody', { headers: { authorization: `bearer  ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
  });
  test('a key created with rpm is limited per minute through the real store: 429 with a JSON error, the provider not called', async () => {
    const created = await handle('/admin/keys', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ account: uniqueName('acct-rpm'), rpm: 2 }) });
    expect(created.status).toBe(201);
    const { key: limited } = (await created.json()) as { key: string };
    const call = () => handle('/openai/v1/models', { headers: { authorization: `Bearer ${limited}` } });
    expect((await call()).status).toBe(200);
    expect((await call()).status).toBe(200);
    const before = mock.received.length;
    const over = await call();
    // RFC 9110 10.2.3: whole seconds, which the OpenAI and Anthropic SDKs wait before retrying.
    expect(over.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    // At most the window, though this burst must wait 90 s: the OpenAI SDK ignores a longer one.
    expect(Number(over.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(((await over.clone().json()) as { error: { message: string } }).error.message).toContain('retry after 90 s');
    const id = over.headers.get('x-arouter-request-id');
    await expectError(over, 429, 'rate_limit_exceeded');
    expect(mock.received.length).toBe(before);
    // The refusal is logged under the key that was over its limit.
    const line = proxy.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.request_id === id);
    expect(line).toMatchObject({ msg: 'request refused', status: 429, error: 'rate_limit_exceeded', key_id: expect.stringMatching(/^key_/) });
    // Another key is not affected.
    expect((await handle('/openai/v1/models', { headers: auth() })).status).toBe(200);
  });
  test("arouter's own Via reaches the provider (RFC 9110 7.6.3), the client network's hops and addresses do not", async () => {
    const fromTheEdge = {
      via: '1.0 corp-proxy.internal:3128',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-host': 'gateway.internal',
      'x-forwarded-proto': 'https',
      'x-real-ip': '203.0.113.7',
      'cf-connecting-ip': '203.0.113.7',
      'true-client-ip': '203.0.113.7',
      forwarded: 'for=203.0.113.7',
    };
    const res = await handle('/openai/v1/models', { headers: { ...auth(), ...fromTheEdge, 'x-trace': 'kept' } });
    expect(res.status).toBe(200);
    const seen = mock.received.at(-1)!.headers;
    expect(seen.via).toBe('1.1 arouter');
    expect(seen['x-trace']).toBe('kept');
    expect(JSON.stringify(seen)).not.toContain('203.0.113.7');
    expect(JSON.stringify(seen)).not.toContain('internal');
    for (const name of Object.keys(fromTheEdge)) if (name !== 'via') expect(seen[name]).toBeUndefined();
  });
  test('the admin token is read from any Bearer header without backtracking: a long run of spaces is a plain 401', async () => {
    // A lazy pattern took time quadratic in such a header (0.1 s for these 16,000 spaces; Bun lets 16 KiB through),
    // before any token check; the parser is now one anchored match and a slice.
    const res = await handle('/admin/keys?account=nobody', { headers: { authorization: `Bearer x${' '.repeat(16_000)}y` } });
    expect(res.status).toBe(401);
    for (const header of [`Bearer\t${ADMIN_TOKEN}`, `  Bearer ${ADMIN_TOKEN}  `]) {
      expect((await handle('/admin/keys?account=nobody', { headers: { authorization: header } })).status).toBe(200);
    }
    for (const header of [`Bearer ${ADMIN_TOKEN}x`, `Bearer ${ADMIN_TOKEN.slice(1)}`, `Basic ${ADMIN_TOKEN}`, 'Bearer ', `Bearer${ADMIN_TOKEN}`]) {
      expect((await handle('/admin/keys?account=nobody', { headers: { authorization: header } })).status).toBe(401);
    }
  });
  test('revoking an id that is not even a well-formed path segment is a 404, not a 500', async () => {
    await expectError(await handle('/admin/keys/%ZZ', { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), 404, 'key_not_found');
  });
  test('admin API with its Redis gone: 503 key_store_unavailable, not a 500', async () => {
    const p = await createTestProxy({ upstream: mock.url });
    try {
      p.redis.disconnect();
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      for (const [path, init] of [
        ['/admin/keys', { method: 'POST', headers: admin, body: '{"account":"acct-down"}' }],
        ['/admin/keys?account=acct-down', { headers: admin }],
        ['/admin/keys/key_1', { method: 'DELETE', headers: admin }],
      ] as const) {
        const res = await p.app.handle(new Request(`http://arouter.test${path}`, init));
        await expectError(res, 503, 'key_store_unavailable');
      }
    } finally {
      await p.close();
    }
  });
  test('admin API validates input', async () => {
    const res = await handle('/admin/keys', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{"account":""}' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('invalid_request');
    const create = (rpm: unknown) =>
      handle('/admin/keys', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ account: 'acct-rpm-check', rpm }) });
    for (const rpm of [-1, 1.5, 1e300, 'lots']) {
      const bad = await create(rpm);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message).toContain('rpm must be a whole number from 0 to 999999999');
    }
    // The answer shows the limit the key was made with.
    const made = await create(30);
    expect(made.status).toBe(201);
    expect(((await made.json()) as { rpm: number }).rpm).toBe(30);
  });
});

test('client gone mid-stream: the upstream request is aborted and the snippet says client_abort', async () => {
  // The recorded stream's content events, over and over: a stream that only ends when arouter cancels it.
  const events = sseEvents(sseFromChunks('openai/chat-stream-include-usage.chunks.jsonl', 'openai')).filter((e) => e.includes('"delta"'));
  let sent = 0;
  let upstreamCancelled = false;
  mock.on('/v1/chat/completions', {
    raw: () =>
      new Response(
        new ReadableStream<Uint8Array>({
          async pull(c) {
            c.enqueue(new TextEncoder().encode(events[sent++ % events.length]!));
            await Bun.sleep(20);
          },
          cancel() {
            upstreamCancelled = true;
          },
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      ),
  });
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${server.port}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { ...auth(), 'content-type': 'application/json' },
    body: '{"model":"gpt-4.1-nano","stream":true,"stream_options":{"include_usage":true}}',
    signal: ac.signal,
  });
  const reader = res.body!.getReader();
  await reader.read();
  const id = res.headers.get('x-arouter-request-id');
  ac.abort();
  await waitFor(() => upstreamCancelled, 5_000, 'upstream cancel');
  const s = await waitFor(() => proxy.snippets.find((x) => x.requestId === id), 5_000, 'snippet');
  expect(s.outcome).toBe('client_abort');
  expect(s.stream).toBe(true);
});

test('client gone before the provider is called (during the key check, say): no upstream call, 499 client_abort', async () => {
  const before = mock.received.length;
  const res = await handle('/openai/v1/chat/completions', {
    method: 'POST',
    headers: { ...auth(), 'content-type': 'application/json' },
    body: '{"model":"gpt-4.1-nano","messages":[]}',
    // Already aborted: its abort event fired before arouter could listen for it, as for a client that leaves mid-auth.
    signal: AbortSignal.abort(),
  });
  await expectError(res, 499, 'client_closed_request');
  expect(mock.received.length).toBe(before);
  const id = res.headers.get('x-arouter-request-id');
  expect(proxy.snippets.find((x) => x.requestId === id)?.outcome).toBe('client_abort');
});

test('an answer in codings the runtime does not decode to plain bytes (stacked, unknown) is a 502, its bytes never relayed unchecked', async () => {
  // The provider echoes its key in an error, as real ones do; gzip applied twice is decoded once, so the masker and
  // the client would see gzip bytes (the content-encoding header dropped) holding the key.
  const body = new TextEncoder().encode(JSON.stringify({ error: { message: `Invalid key ${PROVIDER_SECRET('openai')}` } }));
  const answers: Record<string, Uint8Array> = { 'gzip, gzip': Bun.gzipSync(Bun.gzipSync(body)), compress: body, gzip: Bun.gzipSync(body) };
  const upstream = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: (req) => {
      const coding = req.headers.get('x-test-coding') ?? '';
      return new Response(answers[coding], { status: 401, headers: { 'content-type': 'application/json', 'content-encoding': coding } });
    },
  });
  const p = await createTestProxy({ upstream: `http://127.0.0.1:${upstream.port}` });
  try {
    const k = (await p.createKey()).key;
    const call = (coding: string) =>
      p.app.handle(
        new Request('http://arouter.test/openai/v1/chat/completions', {
          method: 'POST',
          headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json', 'x-test-coding': coding },
          body: '{"model":"gpt-4.1-nano","messages":[]}',
        }),
      );
    for (const coding of ['gzip, gzip', 'compress']) {
      const res = await call(coding);
      const text = await res.clone().text();
      await expectError(res, 502, 'provider_invalid_response');
      expect(text).toContain('content encoding arouter cannot decode');
      expect(text).not.toContain('SENTINEL');
      const s = p.snippets.find((x) => x.requestId === res.headers.get('x-arouter-request-id'));
      expect([s?.status, s?.outcome]).toEqual([502, 'upstream_reset']);
    }
    // One coding the runtime decodes is relayed decoded, the key masked, as always.
    const plain = await call('gzip');
    expect(plain.status).toBe(401);
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await plain.text()).toBe('{"error":{"message":"Invalid key [redacted]"}}');
    expect(p.forwarder.inflight.size).toBe(0);
  } finally {
    upstream.stop(true);
    await p.close();
  }
});

/**
 * One call through a fresh proxy to an upstream that writes `answer` itself (Bun.serve cannot send such heads): a 502
 * provider_invalid_response, recorded as upstream_reset, with nothing left in flight.
 */
async function expectInvalidAnswer(answer: string, body: string): Promise<void> {
  const raw = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data: (s) => void s.write(answer) } });
  const p = await createTestProxy({ upstream: `http://127.0.0.1:${raw.port}` });
  try {
    const k = (await p.createKey()).key;
    const res = await p.app.handle(
      new Request('http://arouter.test/openai/v1/chat/completions', { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' }, body }),
    );
    await expectError(res, 502, 'provider_invalid_response');
    const s = p.snippets.find((x) => x.requestId === res.headers.get('x-arouter-request-id'));
    expect([s?.status, s?.outcome]).toEqual([502, 'upstream_reset']);
    expect(p.forwarder.inflight.size).toBe(0);
  } finally {
    raw.stop(true);
    await p.close();
  }
}

test('a provider head fetch cannot read (too large, not HTTP) is a 502 provider_invalid_response, not "unreachable"', async () => {
  await expectInvalidAnswer(`HTTP/1.1 200 OK\r\n${Array.from({ length: 50 }, (_, i) => `x-big-${i}: ${'v'.repeat(100_000)}`).join('\r\n')}\r\n\r\n`, '{}');
});

test('a provider status outside 200-599 is a 502 with nothing left open, not a 500', async () => {
  await expectInvalidAnswer('HTTP/1.1 600 Odd\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: x\r\n', '{"stream":true}');
});
