// The shared suite: every provider, a real fixture replayed byte for byte, checked on both sides of the proxy.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { providerCases } from '../helpers/provider-cases.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { createTestProxy, PROVIDER_SECRET, type TestProxy } from '../helpers/proxy-harness.ts';
import { waitFor } from '../helpers/env.ts';
import { PROVIDERS } from '../../src/providers/index.ts';

let mock: MockUpstream;
let proxy: TestProxy;
let key: string;

beforeAll(async () => {
  mock = await startMockUpstream();
  proxy = await createTestProxy({ upstream: mock.url });
  key = (await proxy.createKey()).key;
});
afterAll(async () => {
  mock.stop();
  await proxy.close();
});

const bytes = (b: string | Uint8Array) => (typeof b === 'string' ? new TextEncoder().encode(b) : b);

function keyed(c: { keyIn: string }, headers: Record<string, string>, search: string): { headers: Record<string, string>; search: string } {
  if (c.keyIn === 'bearer') return { headers: { ...headers, authorization: `Bearer ${key}` }, search };
  if (c.keyIn === 'query') return { headers, search: `${search}${search ? '&' : '?'}key=${key}` };
  return { headers: { ...headers, [c.keyIn]: key }, search };
}

test('the suite covers all twelve providers', () => {
  const covered = new Set(providerCases().map((c) => c.slug));
  expect([...covered].sort()).toEqual(PROVIDERS.map((p) => p.slug).sort());
});

describe.each(providerCases())('$name', (c) => {
  test('bytes through unchanged, credential in place, arouter key nowhere upstream', async () => {
    const path = c.path;
    mock.on(path, { body: c.reply.body, headers: { 'content-type': c.reply.contentType }, gzip: c.reply.gzip ?? false });
    const before = mock.received.length;
    const { headers, search } = keyed(c, { 'content-type': 'application/json', 'x-custom-trace': 'abc' }, c.search ?? '');
    const res = await proxy.app.handle(
      new Request(`http://arouter.test/${c.slug}${path}${search}`, { method: c.method, headers, ...(c.body ? { body: c.body } : {}) }),
    );
    const got = new Uint8Array(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(res.headers.get('x-arouter-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(Buffer.from(got).equals(Buffer.from(bytes(c.reply.body)))).toBe(true);

    expect(mock.received.length).toBe(before + 1);
    const r = mock.received[mock.received.length - 1]!;
    expect(r.method).toBe(c.method);
    expect(r.path).toBe(path);
    expect(r.search).toBe(c.search ?? '');
    expect(r.headers[c.credentialHeader]).toBe(c.credentialPrefix + PROVIDER_SECRET(c.slug));
    expect(r.headers['x-custom-trace']).toBe('abc');
    expect(r.headers.via).toBe('1.1 arouter');
    if (c.body) expect(new TextDecoder().decode(r.body)).toContain('"messages"' in JSON.parse(c.body) ? '"messages"' : '{');
    const everything = JSON.stringify(r.headers) + r.search + new TextDecoder().decode(r.body);
    expect(everything).not.toContain(key);
    if (c.slug === 'anthropic') expect(r.headers['anthropic-version']).toBe('2023-06-01');

    // The snippet is pushed just after the answer goes out, so it may trail the response by a turn of the loop.
    const id = res.headers.get('x-arouter-request-id');
    const snippet = await waitFor(() => proxy.snippets.find((s) => s.requestId === id), 5_000, 'the snippet');
    expect(snippet?.provider).toBe(c.slug);
    expect(snippet?.status).toBe(200);
    expect(snippet?.outcome).toBe('complete');
  });
});

test('a small JSON answer: its snippet is pushed before the answer goes out; metrics and the access line follow, the exchange in flight until then', async () => {
  const c = providerCases().find((x) => x.name === 'openai chat')!;
  mock.on(c.path, { body: c.reply.body, headers: { 'content-type': c.reply.contentType } });
  const { headers } = keyed(c, { 'content-type': 'application/json' }, '');
  const res = await proxy.app.handle(new Request(`http://arouter.test/${c.slug}${c.path}`, { method: c.method, headers, body: c.body! }));
  const id = res.headers.get('x-arouter-request-id');
  expect(res.status).toBe(200);
  // Already with the producer (and its crash journal): a process killed now has the usage of what it answered.
  const snippet = proxy.snippets.find((s) => s.requestId === id);
  expect(snippet?.capture.kind).toBe('json');
  // The rest of the bookkeeping waits for the next turn, and a drain would still wait for this exchange.
  expect(proxy.forwarder.inflight.size).toBe(1);
  await waitFor(() => proxy.forwarder.inflight.size === 0, 5_000, 'the bookkeeping');
});
