// One OpenAI SDK client, many providers: /v1/chat/completions routes by the model's provider prefix.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { waitFor } from '../helpers/env.ts';
import { fixtureText, sseEvents, sseFromChunks } from '../helpers/fixtures.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { startPipeline, type Pipeline } from '../helpers/pipeline.ts';
import { ADMIN_TOKEN, PROVIDER_SECRET } from '../helpers/proxy-harness.ts';

const BODY_LIMIT = 64 * 1024;
let mock: MockUpstream;
let pipe: Pipeline;
let server: ReturnType<typeof Bun.serve>;
let client: OpenAI;
let key: string;

beforeAll(async () => {
  mock = await startMockUpstream();
  pipe = await startPipeline(mock.url, { MINIMAX_API_KEY: '', AROUTER_MAX_BODY_BYTES: String(BODY_LIMIT) });
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (req) => pipe.runtime.app.handle(req) });
  key = await pipe.createKey('acct-unified');
  client = new OpenAI({ apiKey: key, baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  server.stop(true);
  await pipe.close();
  mock.stop();
});

interface Case {
  model: string;
  slug: string;
  bare: string;
  path: string;
  json: string;
  chunks: string;
  usage: [number, number];
}
const CASES: Case[] = [
  { model: 'openai/gpt-4.1-nano', slug: 'openai', bare: 'gpt-4.1-nano', path: '/v1/chat/completions', json: 'openai/chat-nonstream.json', chunks: 'openai/chat-stream-include-usage.chunks.jsonl', usage: [16, 363] },
  { model: 'deepseek/deepseek-chat', slug: 'deepseek', bare: 'deepseek-chat', path: '/chat/completions', json: 'deepseek/chat-nonstream.json', chunks: 'deepseek/chat-stream.chunks.jsonl', usage: [13, 300] },
  { model: 'groq/llama-3.3-70b-versatile', slug: 'groq', bare: 'llama-3.3-70b-versatile', path: '/openai/v1/chat/completions', json: 'groq/chat-nonstream.json', chunks: 'groq/chat-stream.chunks.jsonl', usage: [45, 607] },
  { model: 'xai/grok-3-mini', slug: 'xai', bare: 'grok-3-mini', path: '/v1/chat/completions', json: 'xai/chat-nonstream.json', chunks: 'xai/chat-stream.chunks.jsonl', usage: [12, 229] },
  { model: 'mistral/mistral-small-latest', slug: 'mistral', bare: 'mistral-small-latest', path: '/v1/chat/completions', json: 'mistral/chat-nonstream.json', chunks: 'mistral/chat-stream.chunks.jsonl', usage: [13, 434] },
  { model: 'dashscope/qwen3-max', slug: 'dashscope', bare: 'qwen3-max', path: '/compatible-mode/v1/chat/completions', json: 'dashscope/compatible-chat-nonstream.json', chunks: 'dashscope/compatible-chat-stream.chunks.jsonl', usage: [18, 1064] },
];

const lastFor = (slug: string) => [...mock.received].reverse().find((r) => (r.headers.authorization ?? '') === `Bearer ${PROVIDER_SECRET(slug)}`)!;

describe.each(CASES)('$model', (c) => {
  test('not streamed: routed, model rewritten, rest of the body byte for byte, exact usage row', async () => {
    mock.on(c.path, { body: fixtureText(c.json) });
    const raw = await client.chat.completions
      .create({ model: c.model, messages: [{ role: 'user', content: 'hi "there"' }], temperature: 0.25, user: 'u-1' })
      .withResponse();
    expect(raw.data).toEqual(JSON.parse(fixtureText(c.json)));
    const id = raw.response.headers.get('x-arouter-request-id')!;
    const r = lastFor(c.slug);
    expect(r.path).toBe(c.path);
    const sent = new TextDecoder().decode(r.body);
    const body = JSON.parse(sent) as Record<string, unknown>;
    expect(body.model).toBe(c.bare);
    expect(body).toEqual({ model: c.bare, messages: [{ role: 'user', content: 'hi "there"' }], temperature: 0.25, user: 'u-1' });
    expect(sent).not.toContain(key);
    const row = await waitFor(async () => (await pipe.rows<{ provider: string; input_tokens: number; output_tokens: number; usage_status: string }>(`request_id = '${id}'`))[0], 15_000, 'row');
    expect(row.provider).toBe(c.slug);
    expect([Number(row.input_tokens), Number(row.output_tokens)]).toEqual(c.usage);
    expect(row.usage_status).toBe('reported');
  });

  test('streamed without include_usage: the client stream is what it asked for, the row still has usage', async () => {
    const flavor = 'openai' as const;
    mock.on(c.path, { events: sseEvents(sseFromChunks(c.chunks, flavor)) });
    const stream = await client.chat.completions.create({ model: c.model, messages: [{ role: 'user', content: 'hi' }], stream: true }).withResponse();
    const id = stream.response.headers.get('x-arouter-request-id')!;
    let chunks = 0;
    let usageOnly = 0;
    for await (const ch of stream.data) {
      chunks++;
      if (ch.choices.length === 0) usageOnly++;
    }
    expect(chunks).toBeGreaterThan(1);
    expect(usageOnly).toBe(0);
    const row = await waitFor(async () => (await pipe.rows<{ input_tokens: number; usage_status: string; stream: number }>(`request_id = '${id}'`))[0], 15_000, 'row');
    expect(Number(row.input_tokens)).toBe(c.usage[0]);
    expect(row.usage_status).toBe('reported');
    expect(Number(row.stream)).toBe(1);
  });
});

test('unknown provider prefix: 400 naming the accepted prefixes', async () => {
  const res = await fetch(`http://127.0.0.1:${server.port}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4.1-nano', messages: [] }),
  });
  expect(res.status).toBe(400);
  const err = (await res.json()) as { error: { message: string } };
  expect(err.error.message).toContain('anthropic/');
  expect(err.error.message).toContain('google/');
  // A known prefix with nothing after it is a missing model, not an unknown provider.
  const empty = await fetch(`http://127.0.0.1:${server.port}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/', messages: [] }),
  });
  expect(empty.status).toBe(400);
  expect(((await empty.json()) as { error: { message: string } }).error.message).toBe('"model" names no model after "openai/", e.g. "openai/gpt-4.1-nano".');
});

test('a body over the limit is a 413, counted in bytes, also when it arrives chunked with no length', async () => {
  const url = `http://127.0.0.1:${server.port}/v1/chat/completions`;
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const sent = mock.received.length;
  // 30,000 three-byte characters: under the limit in characters, over it in bytes.
  const wide = JSON.stringify({ model: 'openai/gpt-4.1-nano', messages: [{ role: 'user', content: '語'.repeat(30_000) }] });
  expect(wide.length).toBeLessThan(BODY_LIMIT);
  const declared = await fetch(url, { method: 'POST', headers, body: wide });
  expect(declared.status).toBe(413);
  const bytes = new TextEncoder().encode(wide);
  const chunked = new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (let i = 0; i < bytes.length; i += 8192) ctrl.enqueue(bytes.subarray(i, i + 8192));
      ctrl.close();
    },
  });
  const streamed = await fetch(url, { method: 'POST', headers, body: chunked, duplex: 'half' } as RequestInit);
  expect(streamed.status).toBe(413);
  expect(((await streamed.json()) as { error: { type: string } }).error.type).toBe('request_too_large');
  expect(mock.received.length).toBe(sent);
});

test('read whole to pick the provider, a chat body is limited to 32 MiB here even when the streaming limit is higher', async () => {
  const wide = await startPipeline(mock.url, {});
  try {
    const k = await wide.createKey('acct-unified-wide');
    const before = mock.received.length;
    const chunk = new Uint8Array(1 << 20).fill(0x20);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent === 0) c.enqueue(new TextEncoder().encode('{"model":"openai/gpt-4.1-nano","messages":[]'));
        if (sent++ < 40) c.enqueue(chunk);
        else c.close();
      },
    });
    const init = { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' }, body, duplex: 'half' };
    const res = await wide.runtime.app.handle(new Request('http://arouter.test/v1/chat/completions', init as RequestInit));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('/<provider>/');
    expect(mock.received.length).toBe(before);
  } finally {
    await wide.close();
  }
});

test('the key may ride in ?key= as on the provider routes; /v1/usage answers for its account', async () => {
  const res = await fetch(`http://127.0.0.1:${server.port}/v1/usage?key=${key}`);
  expect(res.status).toBe(200);
  expect(((await res.json()) as { account_id: string }).account_id).toBe('acct-unified');
});

test('provider without a key: 503', async () => {
  let status = 0;
  try {
    await client.chat.completions.create({ model: 'minimax/MiniMax-M1', messages: [{ role: 'user', content: 'hi' }] });
  } catch (e) {
    status = (e as { status: number }).status;
  }
  expect(status).toBe(503);
});

test('GET /v1/models lists priced models of configured providers as provider/model', async () => {
  const models = await client.models.list();
  const ids = models.data.map((m) => m.id);
  expect(ids).toContain('openai/gpt-4.1-nano');
  expect(ids.every((id) => /^[a-z]+\/.+/.test(id))).toBe(true);
  expect(ids.some((id) => id.startsWith('minimax/'))).toBe(false);
});

test('refusals on the unified route are counted like the provider routes', async () => {
  const before = await refusals();
  const res = await fetch(`http://127.0.0.1:${server.port}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer lr_live_unknown-key-for-the-unified-route-0000', 'content-type': 'application/json' },
    body: '{"model":"openai/gpt-4.1-nano","messages":[]}',
  });
  expect(res.status).toBe(401);
  let status = 0;
  await client.chat.completions.create({ model: 'minimax/MiniMax-M1', messages: [{ role: 'user', content: 'hi' }] }).catch((e: { status: number }) => {
    status = e.status;
  });
  expect(status).toBe(503);
  const after = await refusals();
  expect(after.get('unknown authentication_error') ?? 0).toBe((before.get('unknown authentication_error') ?? 0) + 1);
  expect(after.get('minimax provider_not_configured') ?? 0).toBe((before.get('minimax provider_not_configured') ?? 0) + 1);
});

test('a restricted key names no stored object it does not own here either: the same check as on the provider routes', async () => {
  const restricted = async (storedObjects: false | 'own') => {
    const res = await pipe.runtime.app.handle(
      new Request('http://arouter.test/admin/keys', {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ account: `acct-unified-${String(storedObjects)}`, storedObjects }),
      }),
    );
    expect(res.status).toBe(201);
    return new OpenAI({ apiKey: ((await res.json()) as { key: string }).key, baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0 });
  };
  mock.on('/v1/chat/completions', { body: fixtureText('openai/chat-nonstream.json') });
  const messages = [{ role: 'user' as const, content: [{ type: 'file' as const, file: { file_id: 'file-of-another-account' } }] }];
  const before = mock.received.length;
  const off = await restricted(false);
  const own = await restricted('own');
  expect(await off.chat.completions.create({ model: 'openai/gpt-4.1-nano', messages }).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.PermissionDeniedError);
  expect(await own.chat.completions.create({ model: 'openai/gpt-4.1-nano', messages }).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  expect(mock.received.length).toBe(before);
  await own.chat.completions.create({ model: 'openai/gpt-4.1-nano', messages: [{ role: 'user', content: 'hi' }] });
  expect(mock.received.length).toBe(before + 1);
  // A method override would make the POST a read of the operator's stored chat completions: refused, as on /openai/...
  const hi = { model: 'openai/gpt-4.1-nano', messages: [{ role: 'user' as const, content: 'hi' }] };
  for (const client of [off, own]) {
    const refused = await client.chat.completions.create(hi, { headers: { 'x-http-method-override': 'GET' } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
  }
  expect(mock.received.length).toBe(before + 1);
});

/** arouter_refused_total by "provider type", read from the runtime's /metrics. */
async function refusals(): Promise<Map<string, number>> {
  const text = await (await pipe.runtime.app.handle(new Request('http://arouter.test/metrics'))).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^arouter_refused_total\{provider="([^"]*)",type="([^"]*)"\} (\d+)$/gm)) out.set(`${m[1]} ${m[2]}`, Number(m[3]));
  return out;
}
