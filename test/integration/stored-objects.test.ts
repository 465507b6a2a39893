// Keys kept off the providers' stored-object APIs: refused there before any provider call, free everywhere else.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { runCli } from '../../src/cli.ts';
import { PROVIDERS } from '../../src/providers/index.ts';
import { uniqueName } from '../helpers/env.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { ADMIN_TOKEN, createTestProxy, type TestProxy } from '../helpers/proxy-harness.ts';

let mock: MockUpstream;
let proxy: TestProxy;
let server: ReturnType<typeof Bun.serve>;
let base: string;
let keptOff: string;
let open: string;
const account = uniqueName('acct-objects');

const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const handle = (path: string, init: RequestInit = {}) => proxy.app.handle(new Request(`http://arouter.test${path}`, init));
const as = (key: string) => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  mock = await startMockUpstream();
  mock.on('*', { body: '{"ok":true}' });
  proxy = await createTestProxy({ upstream: mock.url });
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (req) => proxy.app.handle(req) });
  base = `http://127.0.0.1:${server.port}`;
  const res = await handle('/admin/keys', { method: 'POST', headers: admin, body: JSON.stringify({ account, storedObjects: false }) });
  expect(res.status).toBe(201);
  keptOff = ((await res.json()) as { key: string }).key;
  open = (await proxy.createKey(account)).key;
});
afterAll(async () => {
  server.stop(true);
  mock.stop();
  await proxy.close();
});

async function expectRefused(res: Response) {
  expect(res.status).toBe(403);
  expect(res.headers.get('x-arouter-request-id')).toBeTruthy();
  const body = (await res.json()) as { error: { type: string; message: string } };
  expect(body.error.type).toBe('stored_objects_not_allowed');
  expect(body.error.message).toContain('storedObjects: false');
}

describe('admin API', () => {
  test('the option is returned at creation and listed; keys default to true', async () => {
    const res = await handle(`/admin/keys?account=${account}`, { headers: admin });
    const { keys } = (await res.json()) as { keys: Array<{ storedObjects: boolean }> };
    expect(keys.map((k) => k.storedObjects).sort()).toEqual([false, true]);
    const created = await handle('/admin/keys', { method: 'POST', headers: admin, body: JSON.stringify({ account: uniqueName('acct') }) });
    expect(((await created.json()) as { storedObjects: boolean }).storedObjects).toBe(true);
  });
  test('a value that is not a boolean, or a misspelt option, is a 400, and no key is made', async () => {
    const other = uniqueName('acct');
    for (const body of [{ account: other, storedObjects: 'no' }, { account: other, stored_objects: false }]) {
      const res = await handle('/admin/keys', { method: 'POST', headers: admin, body: JSON.stringify(body) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('invalid_request');
    }
    expect(await proxy.keys.list(other)).toEqual([]);
  });
  test('the CLI makes such a key with --no-stored-objects, and lists it', async () => {
    const other = uniqueName('acct-cli');
    const out: string[] = [];
    expect(await runCli(['keys', 'create', '--account', other, '--no-stored-objects'], (s) => void out.push(s))).toBe(0);
    expect((JSON.parse(out[0]!) as { storedObjects: boolean }).storedObjects).toBe(false);
    expect(await runCli(['keys', 'list', '--account', other], (s) => void out.push(s))).toBe(0);
    expect((JSON.parse(out[1]!) as { keys: Array<{ storedObjects: boolean }> }).keys.map((k) => k.storedObjects)).toEqual([false]);
    expect(await runCli(['keys', 'create', '--account', other, '--own-stored-objects'], (s) => void out.push(s))).toBe(0);
    expect((JSON.parse(out[2]!) as { storedObjects: unknown }).storedObjects).toBe('own');
    expect(await runCli(['keys', 'create', '--account', other, '--own-stored-objects', '--no-stored-objects'], (s) => void out.push(s))).toBe(1);
    expect(out[3]).toBe('error: --no-stored-objects and --own-stored-objects exclude each other');
  });
  test('the CLI refuses an unknown or misspelt option, and a name that is an option, making no key', async () => {
    const other = uniqueName('acct-cli');
    const out: string[] = [];
    for (const args of [['--no-stored-object'], ['--stored-objects=false'], ['--name', '--no-stored-objects'], ['--rpm', '-5'], ['--rpm', 'abc']]) {
      expect(await runCli(['keys', 'create', '--account', other, ...args], (s) => void out.push(s))).toBe(1);
    }
    // An account id the admin API would refuse is refused here too.
    expect(await runCli(['keys', 'create', '--account', 'not an account'], (s) => void out.push(s))).toBe(1);
    expect(await runCli(['keys', 'list', '--account', other, '--rpm', '5'], (s) => void out.push(s))).toBe(1);
    expect(await runCli(['keys', 'revoke', 'key_1', '--bogus'], (s) => void out.push(s))).toBe(1);
    expect(out).toEqual([
      'error: unknown option --no-stored-object',
      'error: unknown option --stored-objects=false',
      'error: --name needs a value',
      'error: --rpm must be a whole number, 0 or more',
      'error: --rpm must be a whole number, 0 or more',
      'error: --account is required: letters, digits and . _ : @ - (at most 128)',
      'error: unknown option --rpm',
      'error: revoke takes one key id and nothing else',
    ]);
    expect(await proxy.keys.list(other)).toEqual([]);
  });
  test('a key stored before the option existed keeps its access', async () => {
    const created = await proxy.createKey();
    const hash = new Bun.CryptoHasher('sha256').update(created.key).digest('hex');
    await proxy.redis.hdel(`${proxy.keys.prefix}:key:${hash}`, 'storedObjects');
    expect((await proxy.keys.findByHash(hash))?.storedObjects).toBe(true);
    const res = await handle('/openai/v1/files', { headers: as(created.key) });
    expect(res.status).toBe(200);
    expect(mock.received.at(-1)!.path).toBe('/v1/files');
  });
});

describe.each(PROVIDERS.filter((p) => p.storedObjects))('$slug', (p) => {
  const objects = `/${p.slug}${p.storedObjects!.prefixes[0]}`;
  test(`a kept-off key gets 403 at ${objects}, and the provider is not called`, async () => {
    const before = mock.received.length;
    const res = await handle(objects, { headers: as(keptOff) });
    const id = res.headers.get('x-arouter-request-id');
    await expectRefused(res);
    expect(mock.received.length).toBe(before);
    const line = proxy.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.request_id === id);
    expect(line).toMatchObject({ msg: 'request refused', account_id: account, provider: p.slug, status: 403, error: 'stored_objects_not_allowed' });
    expect(typeof line?.key_id).toBe('string');
  });
  test('the same key makes chat completions', async () => {
    const before = mock.received.length;
    const res = await handle(`/${p.slug}${p.chatCompletionsPath}`, { method: 'POST', headers: { ...as(keptOff), 'content-type': 'application/json' }, body: '{"model":"m","messages":[]}' });
    expect(res.status).toBe(200);
    expect(mock.received.length).toBe(before + 1);
    expect(mock.received.at(-1)!.path).toBe(p.chatCompletionsPath);
  });
  test('a key with the default reaches the stored objects', async () => {
    const res = await handle(objects, { headers: as(open) });
    expect(res.status).toBe(200);
    expect(mock.received.at(-1)!.path).toBe(p.storedObjects!.prefixes[0]!);
  });
});

test('spellings a provider may read as its files API are refused too', async () => {
  const before = mock.received.length;
  for (const path of ['/openai/v1//files', '/openai/V1/Files', '/openai/v1/files/', '/openai/v1/%66iles', '/openai/v1/files/file-1/content', '/openai/v1/files;x', '/openai/v1/chat/completions.json', '/openai/v1/chat/completions%3Bx']) {
    await expectRefused(await handle(path, { headers: as(keptOff) }));
  }
  expect(mock.received.length).toBe(before);
});

test('routes that depend on the method: a stored response is refused, making one is not', async () => {
  const before = mock.received.length;
  await expectRefused(await handle('/openai/v1/responses/resp_1', { headers: as(keptOff) }));
  await expectRefused(await handle('/openai/v1/responses/resp_1', { method: 'POST', headers: { ...as(keptOff), 'x-http-method-override': 'GET' } }));
  await expectRefused(await handle('/google/v1beta/models/veo-3.0-generate-001/operations/op1', { method: 'POST', headers: { ...as(keptOff), 'x-http-method-override': 'GET' } }));
  await expectRefused(await handle('/google/$rpc/google.ai.generativelanguage.v1beta.FileService/ListFiles', { method: 'POST', headers: as(keptOff), body: '[]' }));
  expect(mock.received.length).toBe(before);
  const res = await handle('/openai/v1/responses', { method: 'POST', headers: { ...as(keptOff), 'content-type': 'application/json' }, body: '{"model":"m","input":"hi"}' });
  expect(res.status).toBe(200);
  expect(mock.received.at(-1)!.path).toBe('/v1/responses');
});

test('dashscope: stored responses, on the current Responses path and the legacy one, are kept from a kept-off key; a new response is not', async () => {
  const before = mock.received.length;
  const json = { ...as(keptOff), 'content-type': 'application/json' };
  for (const base of ['/dashscope/compatible-mode/v1/responses', '/dashscope/api/v2/apps/protocols/compatible-mode/v1/responses']) {
    await expectRefused(await handle(`${base}/resp_other`, { headers: as(keptOff) }));
    await expectRefused(await handle(`${base}/resp_other/input_items`, { headers: as(keptOff) }));
    await expectRefused(await handle(`${base}/resp_other`, { method: 'DELETE', headers: as(keptOff) }));
    await expectRefused(await handle(base, { method: 'POST', headers: json, body: '{"model":"qwen3-max","input":"hi","previous_response_id":"resp_other"}' }));
  }
  expect(mock.received.length).toBe(before);
  const res = await handle('/dashscope/compatible-mode/v1/responses', { method: 'POST', headers: json, body: '{"model":"qwen3-max","input":"hi"}' });
  expect(res.status).toBe(200);
  expect(mock.received.at(-1)!.path).toBe('/compatible-mode/v1/responses');
});

test('openai: custom voices and their consent recordings are stored objects; a speech in a custom voice names one, a built-in voice does not', async () => {
  const before = mock.received.length;
  const json = { ...as(keptOff), 'content-type': 'application/json' };
  await expectRefused(await handle('/openai/v1/audio/voices', { headers: as(keptOff) }));
  await expectRefused(await handle('/openai/v1/audio/voice_consents/cons_1', { headers: as(keptOff) }));
  await expectRefused(await handle('/openai/v1/audio/speech', { method: 'POST', headers: json, body: '{"model":"gpt-4o-mini-tts","input":"hi","voice":{"id":"voice_other"}}' }));
  expect(mock.received.length).toBe(before);
  const res = await handle('/openai/v1/audio/speech', { method: 'POST', headers: json, body: '{"model":"gpt-4o-mini-tts","input":"hi","voice":"alloy"}' });
  expect(res.status).toBe(200);
  expect(mock.received.length).toBe(before + 1);
});

test("dashscope: a kept-off key may not start an asynchronous task it could never collect, but may call synchronously", async () => {
  const path = '/dashscope/api/v1/services/aigc/video-generation/video-synthesis';
  const body = '{"model":"wan2.2-t2v-plus","input":{"prompt":"x"}}';
  const before = mock.received.length;
  await expectRefused(await handle(path, { method: 'POST', headers: { ...as(keptOff), 'content-type': 'application/json', 'x-dashscope-async': 'enable' }, body }));
  expect(mock.received.length).toBe(before);
  expect((await handle(path, { method: 'POST', headers: { ...as(keptOff), 'content-type': 'application/json' }, body })).status).toBe(200);
});

test('a restriction is only as wide as the declarations: DeepSeek has no stored objects to refuse', async () => {
  const res = await handle('/deepseek/models', { headers: as(keptOff) });
  expect(res.status).toBe(200);
});

describe('through the SDKs', () => {
  test('openai: files.list() is a PermissionDeniedError, chat completions work', async () => {
    const client = new OpenAI({ apiKey: keptOff, baseURL: `${base}/openai/v1`, maxRetries: 0 });
    const err = await client.files.list().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((err as InstanceType<typeof OpenAI.PermissionDeniedError>).status).toBe(403);
    mock.on('/v1/chat/completions', { body: fixtureText('openai/chat-nonstream.json') });
    const res = await client.chat.completions.create({ model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'hi' }] });
    expect(res).toEqual(JSON.parse(fixtureText('openai/chat-nonstream.json')));
  });
  test('anthropic: batches.list() is a PermissionDeniedError, messages work', async () => {
    const client = new Anthropic({ apiKey: keptOff, baseURL: `${base}/anthropic`, maxRetries: 0 });
    const err = await client.messages.batches.list().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
    mock.on('/v1/messages', { body: fixtureText('anthropic/messages-nonstream.json') });
    const res = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    expect(res).toEqual(JSON.parse(fixtureText('anthropic/messages-nonstream.json')));
  });
  test('google: a cached content or an uploaded file named in generateContent is refused; listing models and plain generation work', async () => {
    const ai = new GoogleGenAI({ apiKey: keptOff, httpOptions: { baseUrl: `${base}/google`, apiVersion: 'v1beta' } });
    mock.on('/v1beta/models/gemini-2.5-flash:generateContent', { body: fixtureText('gemini/generateContent.json') });
    const before = mock.received.length;
    const status = (p: Promise<unknown>) => p.then(() => 200, (e: { status?: number }) => e.status);
    expect(await status(ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi', config: { cachedContent: 'cachedContents/of-someone' } }))).toBe(403);
    const file = { fileData: { fileUri: 'https://generativelanguage.googleapis.com/v1beta/files/of-someone', mimeType: 'application/pdf' } };
    expect(await status(ai.models.generateContent({ model: 'gemini-2.5-flash', contents: [{ role: 'user', parts: [file, { text: 'Summarize.' }] }] }))).toBe(403);
    expect(mock.received.length).toBe(before);
    const res = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' });
    expect(res.text).toBeTruthy();
    // A GET on a declared path goes on without a body.
    const list = await handle('/google/v1beta/models', { headers: { 'x-goog-api-key': keptOff } });
    expect(list.status).toBe(200);
    expect(mock.received.at(-1)!.method).toBe('GET');
    // As the client sent it: no Content-Length: 0 that a strict front end could refuse on a GET.
    expect(mock.received.at(-1)!.headers['content-length']).toBeUndefined();
  });
});
