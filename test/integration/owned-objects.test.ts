// Keys limited to their own account's stored objects: files and batches through the real SDKs, two accounts apart.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { toFile } from 'openai';
import { uniqueName } from '../helpers/env.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { ADMIN_TOKEN, createTestProxy, type TestProxy } from '../helpers/proxy-harness.ts';

let mock: MockUpstream;
let proxy: TestProxy;
let server: ReturnType<typeof Bun.serve>;
let base: string;
const keys: Record<'a' | 'b' | 'open', string> = { a: '', b: '', open: '' };

/**
 * A provider's file and batch store, in the shapes OpenAI and Anthropic document (no batch or file object was
 * recorded): every object any account made, plus one made outside arouter.
 */
const files = new Map<string, Record<string, unknown>>([['file-outside', { id: 'file-outside', object: 'file', bytes: 1, created_at: 1, filename: 'x.jsonl', purpose: 'batch' }]]);
const batches = new Map<string, Record<string, unknown>>();
const messageBatches = new Map<string, Record<string, unknown>>([['msgbatch_outside', messageBatch('msgbatch_outside')]]);
let seq = 0;

function messageBatch(id: string): Record<string, unknown> {
  return {
    id,
    type: 'message_batch',
    processing_status: 'in_progress',
    request_counts: { processing: 1, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
    ended_at: null,
    created_at: '2026-11-27T00:00:00Z',
    expires_at: '2026-11-28T00:00:00Z',
    cancel_initiated_at: null,
    archived_at: null,
    results_url: null,
  };
}

const json = (body: unknown, status = 200) => ({ status, body: JSON.stringify(body) });
const list = (items: Iterable<Record<string, unknown>>) => {
  const data = [...items];
  return json({ object: 'list', data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
};

function provider(req: Request) {
  const { pathname } = new URL(req.url);
  const sent = mock.received.at(-1)!;
  const m = /^\/v1\/(files|batches|messages\/batches)(?:\/([^/]+))?(\/content)?$/.exec(pathname);
  if (!m) return json({ error: { message: 'no such route' } }, 404);
  const [, kind, id, content] = m;
  if (kind === 'files') {
    if (req.method === 'POST') {
      const file = { id: `file-${++seq}`, object: 'file', bytes: sent.body.byteLength, created_at: 1, filename: 'in.jsonl', purpose: 'batch' };
      files.set(file.id, file);
      return json(file);
    }
    if (!id) return list(files.values());
    if (content) return { body: '{"custom_id":"r1"}\n', headers: { 'content-type': 'application/octet-stream' } };
    return files.has(id) ? json(files.get(id)) : json({ error: { message: 'No such File object' } }, 404);
  }
  if (kind === 'batches') {
    if (req.method === 'POST') {
      const { input_file_id } = JSON.parse(new TextDecoder().decode(sent.body)) as { input_file_id: string };
      const batch = { id: `batch_${++seq}`, object: 'batch', endpoint: '/v1/chat/completions', input_file_id, completion_window: '24h', status: 'validating', output_file_id: null, error_file_id: null, created_at: 1 };
      batches.set(batch.id, batch);
      return json(batch);
    }
    if (!id) return list(batches.values());
    const batch = batches.get(id);
    if (!batch) return json({ error: { message: 'No such batch' } }, 404);
    // Done by the time it is read: the provider has written the output file.
    const out = `file-out-${id}`;
    files.set(out, { id: out, object: 'file', bytes: 10, created_at: 2, filename: 'batch_output.jsonl', purpose: 'batch_output' });
    return json({ ...batch, status: 'completed', output_file_id: out });
  }
  if (req.method === 'POST') {
    const batch = messageBatch(`msgbatch_${++seq}`);
    messageBatches.set(batch.id as string, batch);
    return json(batch);
  }
  if (!id) return list(messageBatches.values());
  return messageBatches.has(id) ? json(messageBatches.get(id)) : json({ type: 'error', error: { type: 'not_found_error', message: 'not found' } }, 404);
}

async function createKey(account: string, storedObjects: boolean | 'own'): Promise<string> {
  const res = await proxy.app.handle(
    new Request('http://arouter.test/admin/keys', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ account, storedObjects }) }),
  );
  expect(res.status).toBe(201);
  const created = (await res.json()) as { key: string; storedObjects: unknown };
  expect(created.storedObjects).toBe(storedObjects);
  return created.key;
}

beforeAll(async () => {
  mock = await startMockUpstream();
  mock.on('*', provider);
  proxy = await createTestProxy({ upstream: mock.url });
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (req) => proxy.app.handle(req) });
  base = `http://127.0.0.1:${server.port}`;
  keys.a = await createKey(uniqueName('acct-a'), 'own');
  keys.b = await createKey(uniqueName('acct-b'), 'own');
  keys.open = await createKey(uniqueName('acct-operator'), true);
});
afterAll(async () => {
  server.stop(true);
  mock.stop();
  await proxy.close();
});

const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${base}/openai/v1`, maxRetries: 0 });
const anthropic = (key: string) => new Anthropic({ apiKey: key, baseURL: `${base}/anthropic`, maxRetries: 0 });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describe('openai files and batches', () => {
  let fileA = '';
  let batchA = '';

  test('an account uploads a file, lists only its own, and reads it; another account cannot see or use it', async () => {
    const a = openai(keys.a);
    fileA = (await a.files.create({ file: await toFile(Buffer.from('{"custom_id":"r1"}\n'), 'in.jsonl'), purpose: 'batch' })).id;
    const ownList = [];
    for await (const f of a.files.list()) ownList.push(f.id);
    expect(ownList).toEqual([fileA]);
    expect((await a.files.retrieve(fileA)).id).toBe(fileA);

    const b = openai(keys.b);
    const seenByB = [];
    for await (const f of b.files.list()) seenByB.push(f.id);
    expect(seenByB).toEqual([]);
    const before = mock.received.length;
    expect(await failure(b.files.retrieve(fileA))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(b.files.content(fileA))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(b.files.delete(fileA))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(b.files.retrieve('file-outside'))).toBeInstanceOf(OpenAI.NotFoundError);
    // Refused without asking the provider.
    expect(mock.received.length).toBe(before);
  });

  test("a batch names only its account's files, and its output file becomes the account's when the batch is read", async () => {
    const a = openai(keys.a);
    const b = openai(keys.b);
    const before = mock.received.length;
    expect(await failure(b.batches.create({ input_file_id: fileA, endpoint: '/v1/chat/completions', completion_window: '24h' }))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(mock.received.length).toBe(before);

    batchA = (await a.batches.create({ input_file_id: fileA, endpoint: '/v1/chat/completions', completion_window: '24h' })).id;
    const done = await a.batches.retrieve(batchA);
    expect(done.status).toBe('completed');
    const out = done.output_file_id!;
    expect(await (await a.files.content(out)).text()).toBe('{"custom_id":"r1"}\n');
    expect(await failure(b.files.content(out))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(b.batches.retrieve(batchA))).toBeInstanceOf(OpenAI.NotFoundError);
    const batchesOfB = [];
    for await (const x of b.batches.list()) batchesOfB.push(x.id);
    expect(batchesOfB).toEqual([]);
    const filesOfA = [];
    for await (const f of a.files.list()) filesOfA.push(f.id);
    expect(filesOfA.sort()).toEqual([fileA, out].sort());
  });

  test('a key with the default still sees every object; own keys stay off the other stored-object APIs', async () => {
    const all = [];
    for await (const f of openai(keys.open).files.list()) all.push(f.id);
    expect(all).toContain('file-outside');
    expect(all).toContain(fileA);
    const res = await fetch(`${base}/openai/v1/vector_stores`, { headers: { authorization: `Bearer ${keys.a}` } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('stored_objects_not_allowed');
  });
});

describe('anthropic message batches', () => {
  test('created, listed and read by its account only', async () => {
    const a = anthropic(keys.a);
    const b = anthropic(keys.b);
    const created = await a.messages.batches.create({ requests: [{ custom_id: 'r1', params: { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] } }] });
    const mine = [];
    for await (const x of a.messages.batches.list()) mine.push(x.id);
    expect(mine).toEqual([created.id]);
    expect((await a.messages.batches.retrieve(created.id)).id).toBe(created.id);
    const theirs = [];
    for await (const x of b.messages.batches.list()) theirs.push(x.id);
    expect(theirs).toEqual([]);
    expect(await failure(b.messages.batches.retrieve(created.id))).toBeInstanceOf(Anthropic.NotFoundError);
    expect(await failure(b.messages.batches.cancel(created.id))).toBeInstanceOf(Anthropic.NotFoundError);
  });
});
