// The CORS wrapper on its own: off by default, preflights answered without reaching a route, the policy on answers.
import { describe, expect, test } from 'bun:test';
import { parseCorsOrigins, withCors, type Handler } from '../../src/api/cors.ts';
import { ArouterError } from '../../src/errors.ts';

const APP = 'https://app.example.com';
const preflight = (url: string, origin: string, headers: Record<string, string> = {}) =>
  new Request(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', ...headers } });

function recorder() {
  const calls: Request[] = [];
  const refusals: ArouterError[] = [];
  const handler: Handler = (req) => {
    calls.push(req);
    return new Response('{"ok":true}', { headers: { 'content-type': 'application/json', 'access-control-allow-origin': '*', vary: 'Accept-Encoding' } });
  };
  return { calls, refusals, handler, refused: (_req: Request, _id: string, err: ArouterError) => void refusals.push(err) };
}

describe('parseCorsOrigins', () => {
  test('empty is off; "*" alone; origins lower-cased', () => {
    expect(parseCorsOrigins('')).toBeNull();
    expect(parseCorsOrigins(' , ')).toBeNull();
    expect(parseCorsOrigins('*')).toBe('*');
    expect([...(parseCorsOrigins('https://App.Example.com, http://localhost:5173') as Set<string>)]).toEqual(['https://app.example.com', 'http://localhost:5173']);
  });
  for (const bad of ['*,https://a.example', 'app.example.com', 'https://a.example/', 'https://a.example/path', 'ftp://a.example', 'https://u@a.example']) {
    test(`refuses ${JSON.stringify(bad)}, naming it`, () => expect(() => parseCorsOrigins(bad)).toThrow(/AROUTER_CORS_ORIGINS/));
  }
});

describe('withCors', () => {
  test('off: the handler itself, nothing added or removed', () => {
    const r = recorder();
    expect(withCors(r.handler, { origins: '', newRequestId: () => 'id' })).toBe(r.handler);
  });

  test('a preflight from an allowed origin is answered 204 without reaching a route', async () => {
    const r = recorder();
    const h = withCors(r.handler, { origins: APP, newRequestId: () => 'id', refused: r.refused });
    const res = await h(preflight('http://gw/openai/v1/chat/completions', APP, { 'access-control-request-headers': 'authorization,content-type,x-stainless-os' }));
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toBe('POST');
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization,content-type,x-stainless-os');
    expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0);
    expect(res.headers.get('vary')).toContain('Origin');
    expect(r.calls).toHaveLength(0);
  });

  test('a preflight from another origin, or to the admin API, is a 403 with a reason, recorded as a refusal', async () => {
    const r = recorder();
    const h = withCors(r.handler, { origins: APP, newRequestId: () => 'req-1', refused: r.refused });
    for (const [url, origin] of [['http://gw/openai/v1/chat/completions', 'https://evil.example'], ['http://gw/admin/keys', APP], ['http://gw/admin', APP]] as const) {
      const res = await h(preflight(url, origin));
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      const body = (await res.json()) as { error: { type: string; request_id: string; message: string } };
      expect(body.error.type).toBe('cors_origin_not_allowed');
      expect(body.error.message).toContain('AROUTER_CORS_ORIGINS');
    }
    expect(r.refusals.map((e) => e.status)).toEqual([403, 403, 403]);
    expect(r.calls).toHaveLength(0);
  });

  test("an allowed origin's answer carries arouter's policy in place of the provider's", async () => {
    const r = recorder();
    const h = withCors(r.handler, { origins: `http://localhost:5173,${APP}`, newRequestId: () => 'id' });
    const res = await h(new Request('http://gw/openai/v1/chat/completions', { method: 'POST', headers: { origin: APP }, body: '{}' }));
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-expose-headers')).toBe('*');
    expect(res.headers.get('vary')).toBe('Accept-Encoding, Origin');
    expect(await res.json()).toEqual({ ok: true });
    expect(r.calls).toHaveLength(1);
  });

  test('"*" answers any origin with "*" (an arouter key is a header, never a cookie)', async () => {
    const r = recorder();
    const h = withCors(r.handler, { origins: '*', newRequestId: () => 'id' });
    expect((await h(preflight('http://gw/anthropic/v1/messages', 'http://x.test'))).headers.get('access-control-allow-origin')).toBe('*');
    const res = await h(new Request('http://gw/anthropic/v1/messages', { headers: { origin: 'http://x.test' } }));
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('vary')).toBe('Accept-Encoding');
  });

  test("another origin's answer, or an admin answer, loses the provider's policy and gets none", async () => {
    const r = recorder();
    const h = withCors(r.handler, { origins: APP, newRequestId: () => 'id' });
    for (const url of ['http://gw/openai/v1/models', 'http://gw/admin/keys?account=a']) {
      const res = await h(new Request(url, { headers: { origin: url.includes('admin') ? APP : 'https://evil.example' } }));
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(await res.json()).toEqual({ ok: true });
    }
  });

  test('requests without an Origin (servers, SDKs outside browsers) pass untouched', async () => {
    const r = recorder();
    const h = withCors(r.handler, { origins: APP, newRequestId: () => 'id' });
    const res = await h(new Request('http://gw/openai/v1/models', { method: 'OPTIONS' }));
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(r.calls).toHaveLength(1);
  });
});
