// Sentinel keys through every path: neither the arouter key nor the provider key may surface in a response or a log line.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { waitFor } from '../helpers/env.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { createTestProxy, PROVIDER_SECRET, type TestProxy } from '../helpers/proxy-harness.ts';

let mock: MockUpstream;
let proxy: TestProxy;
let key: string;
const seen: string[] = [];

beforeAll(async () => {
  mock = await startMockUpstream();
  proxy = await createTestProxy({ upstream: mock.url, env: { AROUTER_FIRST_BYTE_TIMEOUT_MS: '300' } });
  key = (await proxy.createKey()).key;
});
afterAll(async () => {
  mock.stop();
  await proxy.close();
});

/** Echo everything the provider received back to the client, as a careless or hostile upstream might. */
const echo = (status: number, extra: Record<string, string> = {}) => (req: Request) => {
  const h: Record<string, string> = {};
  req.headers.forEach((v, k) => (h[k] = v));
  const credential = req.headers.get('authorization') ?? req.headers.get('x-api-key') ?? req.headers.get('x-goog-api-key') ?? '';
  return {
    status,
    headers: { 'x-echo-credential': credential, ...extra, ...(status >= 300 && status < 400 ? { location: `https://elsewhere.example/cb?token=${credential.replace(/^Bearer /, '')}` } : {}) },
    body: JSON.stringify({ error: { message: `Incorrect API key provided: ${credential}`, received: h, url: req.url } }),
  };
};

async function call(path: string, init: RequestInit = {}): Promise<string> {
  const res = await proxy.app.handle(new Request(`http://arouter.test${path}`, init));
  const h: string[] = [];
  res.headers.forEach((v, k) => h.push(`${k}: ${v}`));
  const text = `${res.status}\n${h.join('\n')}\n\n${await res.text()}`;
  seen.push(text);
  return text;
}

const cases: Array<[string, number, string]> = [
  ['success echo', 200, '/openai/v1/chat/completions'],
  ['upstream 401', 401, '/openai/v1/chat/completions'],
  ['upstream 500', 500, '/anthropic/v1/messages'],
  ['redirect echoing the key', 302, '/google/v1beta/models/x:generateContent'],
];

for (const [name, status, path] of cases) {
  test(`${name}: no secret in the response`, async () => {
    mock.on(new URL(`http://x${path}`).pathname.replace(/^\/[^/]+/, ''), echo(status));
    const out = await call(path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"model":"m"}' });
    expect(out.startsWith(String(status))).toBe(true);
    expect(out).toContain('[redacted]');
    expect(out).not.toContain(key);
    for (const slug of ['openai', 'anthropic', 'google']) expect(out).not.toContain(PROVIDER_SECRET(slug));
  });
}

test('streamed answer echoing the key: redacted for the client, and never captured into usage', async () => {
  mock.on('/v1/chat/completions', (req) => {
    const credential = req.headers.get('authorization') ?? '';
    // The secret split across two events' chunks, so the redactor has to hold a partial secret back.
    const half = Math.floor(credential.length / 2);
    return {
      status: 400,
      headers: { 'content-type': 'text/event-stream' },
      events: [`data: {"error":{"message":"Incorrect API key provided: ${credential.slice(0, half)}`, `${credential.slice(half)}"}}\n\n`, 'data: [DONE]\n\n'],
    };
  });
  const before = proxy.snippets.length;
  const out = await call('/openai/v1/chat/completions', { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"model":"m","stream":true}' });
  expect(out.startsWith('400')).toBe(true);
  expect(out).toContain('Incorrect API key provided: Bearer [redacted]');
  expect(out).not.toContain(PROVIDER_SECRET('openai'));
  await waitFor(() => proxy.snippets.length > before, 5_000, 'the streamed snippet');
  const snippet = JSON.stringify(proxy.snippets.slice(before));
  expect(snippet).toContain('[redacted]');
  expect(snippet).not.toContain(PROVIDER_SECRET('openai'));
});

test('key in the query string (Gemini style) is stripped before forwarding and never echoed', async () => {
  mock.on('/v1beta/models/x:generateContent', echo(200));
  const out = await call(`/google/v1beta/models/x:generateContent?key=${key}&alt=json`, { method: 'POST', body: '{}' , headers: { 'content-type': 'application/json' } });
  expect(out).not.toContain(key);
  expect(mock.received.at(-1)?.search).toBe('?alt=json');
});

test('key under a percent-encoded parameter name: it authenticates, so it is stripped too', async () => {
  mock.on('/v1beta/models/x:generateContent', echo(200));
  const out = await call(`/google/v1beta/models/x:generateContent?k%65y=${key}&alt=json&q=%7E%20x`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  expect(out.startsWith('200')).toBe(true);
  expect(out).not.toContain(key);
  expect(mock.received.at(-1)?.search).toBe('?alt=json&q=%7E%20x');
});

test('timeout: the JSON error names no secret', async () => {
  mock.on('/v1/slow', { raw: async () => { await Bun.sleep(2_000); return new Response('late'); } });
  const out = await call('/openai/v1/slow', { headers: { authorization: `Bearer ${key}` } });
  expect(out.startsWith('504')).toBe(true);
  expect(out).toContain('provider_timeout');
  expect(out).not.toContain(key);
  expect(out).not.toContain(PROVIDER_SECRET('openai'));
});

test('unknown and malformed keys: the error does not repeat the key', async () => {
  const bogus = 'lr_live_' + 'Z'.repeat(43);
  const out = await call('/openai/v1/models', { headers: { authorization: `Bearer ${bogus}` } });
  expect(out.startsWith('401')).toBe(true);
  expect(out).not.toContain(bogus);
  const odd = await call('/openai/v1/models', { headers: { 'x-api-key': 'sk-not-ours-SENTINEL' } });
  expect(odd.startsWith('401')).toBe(true);
  expect(odd).not.toContain('sk-not-ours-SENTINEL');
});

test('no usage snippet carries a secret: error bodies are captured after redaction', () => {
  // The echo cases above put both credentials into JSON error bodies, which the usage formats keep as provider_error.
  const all = JSON.stringify(proxy.snippets);
  expect(proxy.snippets.length).toBeGreaterThanOrEqual(cases.length);
  expect(all).toContain('[redacted]');
  expect(all).not.toContain(key);
  for (const slug of ['openai', 'anthropic', 'google']) expect(all).not.toContain(PROVIDER_SECRET(slug));
});

test('no log line carries a secret', () => {
  expect(seen.length).toBeGreaterThanOrEqual(cases.length + 3);
  const logs = proxy.logLines.join('\n');
  expect(logs).not.toContain(key);
  for (const slug of ['openai', 'anthropic', 'google']) expect(logs).not.toContain(PROVIDER_SECRET(slug));
});
