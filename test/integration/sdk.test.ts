// Official SDKs pointed at arouter over a real socket: each sees exactly the fixture's content, streaming and not.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { CohereClientV2 } from 'cohere-ai';
import OpenAI from 'openai';
import { anthropicRawSse, fixtureText, sseEvents, sseFromChunks } from '../helpers/fixtures.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { createTestProxy, PROVIDER_SECRET, type TestProxy } from '../helpers/proxy-harness.ts';

/**
 * What a client that did not ask for usage gets from OpenAI: the chunks without the usage-only one, and without the
 * `"usage": null` member that include_usage adds to every other chunk.
 */
function withoutInjectedUsage(chunks: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return chunks
    .filter((c) => (c.choices as unknown[]).length > 0)
    .map(({ usage, ...rest }) => (usage === null ? rest : { ...rest, usage }));
}

let mock: MockUpstream;
let proxy: TestProxy;
let server: ReturnType<typeof Bun.serve>;
let base: string;
let key: string;

beforeAll(async () => {
  mock = await startMockUpstream();
  proxy = await createTestProxy({ upstream: mock.url });
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (req) => proxy.app.handle(req) });
  base = `http://127.0.0.1:${server.port}`;
  key = (await proxy.createKey()).key;
});
afterAll(async () => {
  server.stop(true);
  mock.stop();
  await proxy.close();
});

const jsonLines = (rel: string) => fixtureText(rel).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
const lastReceived = () => mock.received[mock.received.length - 1]!;
const noArouterKey = () => {
  const r = lastReceived();
  expect(JSON.stringify(r.headers) + r.search + new TextDecoder().decode(r.body)).not.toContain(key);
};

describe('openai SDK', () => {
  const client = () => new OpenAI({ apiKey: key, baseURL: `${base}/openai/v1`, maxRetries: 0 });

  test('chat completion, not streamed', async () => {
    mock.on('/v1/chat/completions', { body: fixtureText('openai/chat-nonstream.json') });
    const res = await client().chat.completions.create({ model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'hi' }] });
    expect(res).toEqual(JSON.parse(fixtureText('openai/chat-nonstream.json')));
    expect(lastReceived().headers.authorization).toBe(`Bearer ${PROVIDER_SECRET('openai')}`);
    noArouterKey();
  });

  test('streamed with include_usage: every chunk, usage chunk included', async () => {
    mock.on('/v1/chat/completions', { events: sseEvents(sseFromChunks('openai/chat-stream-include-usage.chunks.jsonl', 'openai')) });
    const stream = await client().chat.completions.create({
      model: 'gpt-4.1-nano',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const got: unknown[] = [];
    for await (const chunk of stream) got.push(chunk);
    expect(got).toEqual(jsonLines('openai/chat-stream-include-usage.chunks.jsonl'));
    noArouterKey();
  });

  test('streamed without include_usage: arouter asks for usage, the client never sees the usage-only chunk', async () => {
    mock.on('/v1/chat/completions', { events: sseEvents(sseFromChunks('openai/chat-stream-include-usage.chunks.jsonl', 'openai')) });
    const stream = await client().chat.completions.create({ model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const got: Array<{ choices: unknown[] }> = [];
    for await (const chunk of stream) got.push(chunk as unknown as { choices: unknown[] });
    const expected = withoutInjectedUsage(jsonLines('openai/chat-stream-include-usage.chunks.jsonl'));
    expect(got).toEqual(expected as unknown as Array<{ choices: unknown[] }>);
    const sent = JSON.parse(new TextDecoder().decode(lastReceived().body)) as { stream_options?: { include_usage?: boolean } };
    expect(sent.stream_options?.include_usage).toBe(true);
  });

  test('a streamed chat with a 2 MiB image inlined: arouter still asks for usage and records the model', async () => {
    mock.on('/v1/chat/completions', { events: sseEvents(sseFromChunks('openai/chat-stream-include-usage.chunks.jsonl', 'openai')) });
    const image = `data:image/png;base64,${'A'.repeat(2 * 1024 * 1024)}`;
    const stream = await client().chat.completions.create({
      model: 'gpt-4.1-nano',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: image } }] }],
      stream: true,
    });
    const got: unknown[] = [];
    for await (const chunk of stream) got.push(chunk);
    expect(got).toEqual(withoutInjectedUsage(jsonLines('openai/chat-stream-include-usage.chunks.jsonl')));
    const sent = JSON.parse(new TextDecoder().decode(lastReceived().body)) as { stream_options?: { include_usage?: boolean }; messages: unknown };
    expect(sent.stream_options?.include_usage).toBe(true);
    expect(JSON.stringify(sent.messages)).toContain(image);
    const s = proxy.snippets.at(-1);
    expect([s?.requestModel, s?.outcome]).toEqual(['gpt-4.1-nano', 'complete']);
  });

  test('streamed without include_usage, events paced apart: the stream still ends after the removed usage chunk', async () => {
    // Each event in its own write, as a real provider sends them: the usage-only chunk then arrives alone, and
    // removing it must not leave the client waiting for a stream end that never comes.
    mock.on('/v1/chat/completions', { events: sseEvents(sseFromChunks('openai/chat-stream-include-usage.chunks.jsonl', 'openai')), gapMs: 3 });
    const stream = await client().chat.completions.create({ model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const got: unknown[] = [];
    const ended = (async () => {
      for await (const chunk of stream) got.push(chunk);
      return true;
    })();
    // A stream that never ends fails the test at its own timeout.
    expect(await ended).toBe(true);
    const expected = withoutInjectedUsage(jsonLines('openai/chat-stream-include-usage.chunks.jsonl'));
    expect(got).toEqual(expected);
  });

  test('responses API', async () => {
    mock.on('/v1/responses', { body: fixtureText('openai/responses-nonstream.json') });
    const res = await client().responses.create({ model: 'gpt-5.3-codex', input: 'hi' });
    expect(res.id).toBe((JSON.parse(fixtureText('openai/responses-nonstream.json')) as { id: string }).id);
    expect(res.usage).toEqual((JSON.parse(fixtureText('openai/responses-nonstream.json')) as { usage: unknown }).usage as typeof res.usage);
  });

  test('provider error passes through untouched', async () => {
    mock.on('/v1/chat/completions', { status: 400, body: fixtureText('openai/error-400.json') });
    let err: unknown;
    try {
      await client().chat.completions.create({ model: 'o1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).error).toEqual((JSON.parse(fixtureText('openai/error-400.json')) as { error: object }).error);
  });
});

describe('openai SDK against providers whose model ids hold a slash', () => {
  // The SDK sends `openai/gpt-oss-20b` in the path as `openai%2Fgpt-oss-20b`; no fixture holds a model object, so the
  // mock answers with the path it was asked for.
  const echoPath = (req: Request) => ({ body: JSON.stringify({ id: 'echo', object: 'model', path: new URL(req.url).pathname }) });

  test('groq: models.retrieve reaches the provider with the %2F as sent', async () => {
    const sent = '/openai/v1/models/openai%2Fgpt-oss-20b';
    mock.on(sent, echoPath);
    const groq = new OpenAI({ apiKey: key, baseURL: `${base}/groq/openai/v1`, maxRetries: 0 });
    const model = (await groq.models.retrieve('openai/gpt-oss-20b')) as unknown as { path: string };
    expect(model.path).toBe(sent);
    expect(lastReceived().method).toBe('GET');
    expect(lastReceived().headers.authorization).toBe(`Bearer ${PROVIDER_SECRET('groq')}`);
  });

  test('nvidia: models.retrieve too', async () => {
    mock.on('/v1/models/meta%2Fllama-3.1-8b-instruct', echoPath);
    const nvidia = new OpenAI({ apiKey: key, baseURL: `${base}/nvidia/v1`, maxRetries: 0 });
    const model = (await nvidia.models.retrieve('meta/llama-3.1-8b-instruct')) as unknown as { path: string };
    expect(model.path).toBe('/v1/models/meta%2Fllama-3.1-8b-instruct');
  });

  test('an encoded slash anywhere else is still refused before any provider call', async () => {
    const before = mock.received.length;
    const openai = new OpenAI({ apiKey: key, baseURL: `${base}/openai/v1`, maxRetries: 0 });
    const groq = new OpenAI({ apiKey: key, baseURL: `${base}/groq/openai/v1`, maxRetries: 0 });
    const refused = [openai.models.retrieve('openai/gpt-oss-20b'), groq.models.delete('openai/gpt-oss-20b'), groq.files.retrieve('file-1/content')];
    for (const call of refused) {
      const err = await call.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('encoded dots, slashes');
    }
    expect(mock.received.length).toBe(before);
  });
});

describe('anthropic SDK', () => {
  const client = () => new Anthropic({ apiKey: key, baseURL: `${base}/anthropic`, maxRetries: 0 });

  test('message, not streamed', async () => {
    mock.on('/v1/messages', { body: fixtureText('anthropic/messages-nonstream.json') });
    const res = await client().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
    expect(res).toEqual(JSON.parse(fixtureText('anthropic/messages-nonstream.json')));
    const r = lastReceived();
    expect(r.headers['x-api-key']).toBe(PROVIDER_SECRET('anthropic'));
    // The SDK sends its own anthropic-version, and a client's value is kept as it is.
    expect(r.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    noArouterKey();
  });

  test('message stream: every event in order', async () => {
    mock.on('/v1/messages', { events: sseEvents(sseFromChunks('anthropic/messages-stream.chunks.jsonl', 'typed')) });
    const stream = await client().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], stream: true });
    const got: unknown[] = [];
    for await (const ev of stream) got.push(ev);
    // The SDK swallows keep-alive pings; every other event arrives as recorded.
    expect(got).toEqual(jsonLines('anthropic/messages-stream.chunks.jsonl').filter((e) => e.type !== 'ping'));
  });

  test('raw recorded stream: final message assembled', async () => {
    mock.on('/v1/messages', { events: sseEvents(anthropicRawSse('anthropic/messages-stream-basic-raw.sse')) });
    const msg = await client().messages.stream({ model: 'claude-3-opus-latest', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.content.length).toBeGreaterThan(0);
  });
});

describe('google genai SDK', () => {
  const client = () => new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: `${base}/google`, apiVersion: 'v1beta' } });

  test('generateContent', async () => {
    mock.on('/v1beta/models/gemini-3-pro-preview:generateContent', { body: fixtureText('gemini/generateContent.json') });
    const res = await client().models.generateContent({ model: 'gemini-3-pro-preview', contents: 'hi' });
    const want = JSON.parse(fixtureText('gemini/generateContent.json')) as { usageMetadata: unknown; responseId: string };
    expect(res.usageMetadata).toEqual(want.usageMetadata as typeof res.usageMetadata);
    expect(res.responseId).toBe(want.responseId);
    expect(lastReceived().headers['x-goog-api-key']).toBe(PROVIDER_SECRET('google'));
    noArouterKey();
  });

  test('generateContentStream', async () => {
    mock.on('/v1beta/models/gemini-3-pro-preview:streamGenerateContent', {
      events: sseEvents(sseFromChunks('gemini/streamGenerateContent.chunks.jsonl', 'plain')),
    });
    const stream = await client().models.generateContentStream({ model: 'gemini-3-pro-preview', contents: 'hi' });
    const got: unknown[] = [];
    for await (const c of stream) got.push(c.usageMetadata);
    expect(got).toEqual(jsonLines('gemini/streamGenerateContent.chunks.jsonl').map((c) => c.usageMetadata));
    expect(lastReceived().search).toBe('?alt=sse');
  });

  test('files.upload (resumable): the upload URL comes back through arouter and the bytes reach the provider', async () => {
    // Google's resumable protocol: a start request answered with the upload URL, then the bytes sent to that URL.
    mock.on('/upload/v1beta/files', {
      raw: (req) =>
        (req.headers.get('x-goog-upload-command') ?? '').includes('start')
          ? new Response('', { headers: { 'x-goog-upload-status': 'active', 'x-goog-upload-url': `${mock.url}/upload/v1beta/files?upload_id=sdk1&upload_protocol=resumable` } })
          : Response.json({ file: { name: 'files/sdk1', mimeType: 'text/plain', sizeBytes: '11' } }, { headers: { 'x-goog-upload-status': 'final' } }),
    });
    const before = mock.received.length;
    const file = await client().files.upload({ file: new Blob(['hello bytes'], { type: 'text/plain' }), config: { mimeType: 'text/plain' } });
    expect(file.name).toBe('files/sdk1');
    const got = mock.received.slice(before);
    expect(got.map((r) => [r.path, r.search, r.headers['x-goog-api-key']])).toEqual([
      ['/upload/v1beta/files', '', PROVIDER_SECRET('google')],
      ['/upload/v1beta/files', '?upload_id=sdk1&upload_protocol=resumable', PROVIDER_SECRET('google')],
    ]);
    expect(new TextDecoder().decode(got[1]?.body)).toBe('hello bytes');
    noArouterKey();
  });
});

describe('cohere SDK', () => {
  const client = () => new CohereClientV2({ token: key, environment: `${base}/cohere` });

  test('chat v2, not streamed', async () => {
    mock.on('/v2/chat', { body: fixtureText('cohere/chat-v2-nonstream.json') });
    const res = await client().chat({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'hi' }] });
    const want = JSON.parse(fixtureText('cohere/chat-v2-nonstream.json')) as { id: string; usage: { billed_units: { input_tokens: number } } };
    expect(res.id).toBe(want.id);
    expect(res.usage?.billedUnits?.inputTokens).toBe(want.usage.billed_units.input_tokens);
    expect(lastReceived().headers.authorization).toBe(`Bearer ${PROVIDER_SECRET('cohere')}`);
    noArouterKey();
  });

  test('chat v2 stream', async () => {
    mock.on('/v2/chat', { events: sseEvents(sseFromChunks('cohere/chat-v2-stream.chunks.jsonl', 'typed')) });
    const stream = await client().chatStream({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'hi' }] });
    const types: string[] = [];
    for await (const ev of stream) types.push(ev.type ?? '');
    expect(types).toEqual(jsonLines('cohere/chat-v2-stream.chunks.jsonl').map((c) => String(c.type)));
  });
});
