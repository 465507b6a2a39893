// A browser's exchange with a real arouter process that lists its page's origin: the preflight without a key, then
// the call with one, the provider's own CORS headers replaced by arouter's; other origins refused before any provider call.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { waitFor } from '../helpers/env.ts';
import { fixtureBytes, fixtureText } from '../helpers/fixtures.ts';
import { startProxyProcess, type ProxyProcess } from '../helpers/hardening-proc.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';

const PAGE = 'http://localhost:5173';
let mock: MockUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  mock = await startMockUpstream();
  // OpenAI's own answer may carry its CORS policy; the browser must see arouter's instead.
  mock.on('/v1/chat/completions', { headers: { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'x-request-id' }, body: fixtureBytes('openai/chat-nonstream.json') });
  proxy = await startProxyProcess({ upstream: mock.url, env: { AROUTER_CORS_ORIGINS: `https://app.example.com,${PAGE}` } });
}, 30_000);
afterAll(async () => {
  await proxy?.stop();
  mock?.stop();
});

const chat = () => `${proxy.url}/openai/v1/chat/completions`;

test('the preflight is answered with no key and no provider call; the call then reads its answer and request id', async () => {
  const before = mock.received.length;
  const pre = await fetch(chat(), {
    method: 'OPTIONS',
    headers: { origin: PAGE, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-stainless-lang' },
  });
  expect(pre.status).toBe(204);
  expect(pre.headers.get('access-control-allow-origin')).toBe(PAGE);
  expect(pre.headers.get('access-control-allow-methods')).toBe('POST');
  expect(pre.headers.get('access-control-allow-headers')).toBe('authorization,content-type,x-stainless-lang');
  expect(mock.received.length).toBe(before);

  const res = await fetch(chat(), {
    method: 'POST',
    headers: { origin: PAGE, authorization: `Bearer ${proxy.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('access-control-allow-origin')).toBe(PAGE);
  expect(res.headers.get('access-control-expose-headers')).toBe('*');
  expect(res.headers.get('vary')).toContain('Origin');
  expect(res.headers.get('x-arouter-request-id')).toBeTruthy();
  expect(await res.text()).toBe(fixtureText('openai/chat-nonstream.json'));
  expect(mock.received.length).toBe(before + 1);
  // The provider sees a server's request, with no Origin for it to apply browser rules to (Anthropic refuses those).
  expect(mock.received.at(-1)!.headers.origin).toBeUndefined();
});

test("arouter's own errors reach the page too: a bad key's 401 is readable", async () => {
  const res = await fetch(chat(), { method: 'POST', headers: { origin: PAGE, authorization: 'Bearer lr_live_nope' }, body: '{}' });
  expect(res.status).toBe(401);
  expect(res.headers.get('access-control-allow-origin')).toBe(PAGE);
});

test('another origin: its preflight is a 403 naming the setting, its answers carry no policy at all', async () => {
  const before = mock.received.length;
  const pre = await fetch(chat(), { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
  expect(pre.status).toBe(403);
  expect(pre.headers.get('access-control-allow-origin')).toBeNull();
  expect(((await pre.json()) as { error: { type: string } }).error.type).toBe('cors_origin_not_allowed');
  expect(mock.received.length).toBe(before);

  const res = await fetch(chat(), {
    method: 'POST',
    headers: { origin: 'https://evil.example', authorization: `Bearer ${proxy.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);
  // Not even the provider's "*": the operator did not list this origin.
  expect(res.headers.get('access-control-allow-origin')).toBeNull();
  expect(res.headers.get('access-control-expose-headers')).toBeNull();
  await res.arrayBuffer();
});

test('the refused preflight is logged as a refusal, with no client text in the line', async () => {
  const line = await waitFor(() => proxy.logs().find((l) => l.msg === 'request refused' && l.error === 'cors_origin_not_allowed'), 5_000, 'the refusal line');
  expect(line).toMatchObject({ status: 403, method: 'OPTIONS' });
  expect(JSON.stringify(line)).not.toContain('evil.example');
});
