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
  test('empty is off; "*" alone; origins as browsers send them (lower case, no default port)', () => {
    expect(parseCorsOrigins('')).toBeNull();
    expect(parseCorsOrigins(' , ')).toBeNull();
    expect(parseCorsOrigins('*')).toBe('*');
    expect([...(parseCorsOrigins('https://App.Example.com, http://localhost:5173,https://b.example:443') as Set<string>)]).toEqual(['https://app.example.com', 'http://localhost:5173', 'https://b.example']);
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
    expect(res.headers.get('x-arouter-request-id')).toBe('id');
    expect(res.headers.get('access-control-allow-private-network')).toBeNull();
    expect(r.calls).toHaveLength(0);
    const pna = await h(preflight('http://gw/openai/v1/models', APP, { 'access-control-request-private-network': 'true' }));
    expect(pna.headers.get('access-control-allow-private-network')).toBe('true');
  });

  test('a preflight from another origin, or to the admin API, health or metrics, is a 403 with a reason, recorded as a refusal', async () => {
    const r = recorder();
    const h = withCors(r.handler, { origins: APP, newRequestId: () => 'req-1', refused: r.refused });
    const refused = [['http://gw/openai/v1/chat/completions', 'https://evil.example'], ['http://gw/admin/keys', APP], ['http://gw/admin', APP], ['http://gw/metrics', APP], ['http://gw/healthz', APP], ['http://gw/readyz', APP]] as const;
    for (const [url, origin] of refused) {
      const res = await h(preflight(url, origin));
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      const body = (await res.json()) as { error: { type: string; request_id: string; message: string } };
      expect(body.error.type).toBe('cors_origin_not_allowed');
      expect(body.error.message).toContain('AROUTER_CORS_ORIGINS');
    }
    expect(r.refusals.map((e) => e.status)).toEqual(refused.map(() => 403));
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
    // The provider gets a server's request: no Origin to apply its own browser rules to.
    expect(r.calls[0]!.headers.get('origin')).toBeNull();
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
    for (const url of ['http://gw/openai/v1/models', 'http://gw/admin/keys?account=a', 'http://gw/metrics']) {
      const res = await h(new Request(url, { headers: { origin: url.includes('models') ? 'https://evil.example' : APP } }));
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('vary')).toBe('Accept-Encoding, Origin');
      expect(await res.json()).toEqual({ ok: true });
    }
  });

  test('requests without an Origin (servers, SDKs outside browsers) reach the route; with a list, caches are told to key on Origin', async () => {
    const r = recorder();
    const listed = withCors(r.handler, { origins: APP, newRequestId: () => 'id' });
    const res = await listed(new Request('http://gw/openai/v1/models', { method: 'OPTIONS' }));
    expect(res.headers.get('access-control-allow-origin')).toBe('*'); // the provider's, untouched
    expect(res.headers.get('vary')).toBe('Accept-Encoding, Origin');
    const any = withCors(r.handler, { origins: '*', newRequestId: () => 'id' });
    expect((await any(new Request('http://gw/openai/v1/models'))).headers.get('vary')).toBe('Accept-Encoding');
    expect(r.calls).toHaveLength(2);
  });
});
