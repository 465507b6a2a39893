// Keys limited to their own account's stored objects: files and batches through the real SDKs, two accounts apart.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { toFile } from 'openai';
import { runCli } from '../../src/cli.ts';
import { uniqueName } from '../helpers/env.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { ADMIN_TOKEN, createTestProxy, type TestProxy } from '../helpers/proxy-harness.ts';

let mock: MockUpstream;
let proxy: TestProxy;
let server: ReturnType<typeof Bun.serve>;
let base: string;
const keys: Record<'a' | 'b' | 'open' | 'off', string> = { a: '', b: '', open: '', off: '' };
const accounts = { a: uniqueName('acct-a'), b: uniqueName('acct-b') };

/**
 * A provider's file and batch store, in the shapes OpenAI and Anthropic document (no batch or file object was
 * recorded): every object any account made, plus one made outside arouter.
 */
const files = new Map<string, Record<string, unknown>>([['file-outside', { id: 'file-outside', object: 'file', bytes: 1, created_at: 1, filename: 'x.jsonl', purpose: 'batch' }]]);
const batches = new Map<string, Record<string, unknown>>();
const responses = new Map<string, Record<string, unknown>>();
const conversations = new Map<string, Record<string, unknown>>();
const uploads = new Map<string, Uint8Array>();
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
/** One request of a batch input file, in the documented shape. */
const BATCH_LINE = `${JSON.stringify({ custom_id: 'r1', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'hi' }] } })}\n`;

/** The bytes of the form's `file` part, as a provider keeps an upload (RFC 7578). */
function uploadedFile(form: Uint8Array, type: string): Uint8Array {
  const boundary = /boundary=("?)([^";]+)\1/.exec(type)?.[2] ?? '';
  const text = Buffer.from(form).toString('latin1');
  const part = text.indexOf('name="file"');
  const start = text.indexOf('\r\n\r\n', part) + 4;
  return Buffer.from(text.slice(start, text.indexOf(`\r\n--${boundary}`, start)), 'latin1');
}
/** A page of a list as both providers page them: `limit`, and `after` (OpenAI) or `after_id` (Anthropic). */
function list(items: Iterable<Record<string, unknown>>, search: URLSearchParams) {
  const all = [...items];
  const after = search.get('after') ?? search.get('after_id');
  const from = after ? all.findIndex((x) => x.id === after) + 1 : 0;
  const limit = Number(search.get('limit') ?? 20);
  const data = all.slice(from, from + limit);
  return json({ object: 'list', data, has_more: from + limit < all.length, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
}

/** Generation endpoints answer with the recorded responses. */
const ANSWERS: Record<string, string> = {
  '/v1/chat/completions': 'openai/chat-nonstream.json',
  '/v1/responses': 'openai/responses-nonstream.json',
  '/v1/messages': 'anthropic/messages-nonstream.json',
};

function provider(req: Request) {
  const { pathname, searchParams } = new URL(req.url);
  const sent = mock.received.at(-1)!;
  // Each stored response made gets an id of its own; a stream is the documented pair of events around the response.
  if (pathname === '/v1/responses' && req.method === 'POST') {
    const r = { ...(JSON.parse(fixtureText(ANSWERS[pathname]!)) as Record<string, unknown>), id: `resp_${++seq}` };
    responses.set(r.id as string, r);
    if (!new TextDecoder().decode(sent.body).includes('"stream":true')) return json(r);
    const event = (type: string, response: unknown) => `event: ${type}\ndata: ${JSON.stringify({ type, response })}\n\n`;
    return { events: [event('response.created', { ...r, status: 'in_progress', usage: null, output: [] }), event('response.completed', r)], headers: { 'content-type': 'text/event-stream' } };
  }
  if (pathname === '/v1/conversations' && req.method === 'POST') {
    const c = { id: `conv_${++seq}`, object: 'conversation', created_at: 1, metadata: {} };
    conversations.set(c.id, c);
    return json(c);
  }
  const conversation = /^\/v1\/conversations\/([^/]+)$/.exec(pathname);
  if (conversation) return conversations.has(conversation[1]!) ? json(conversations.get(conversation[1]!)) : json({ error: { message: 'not found' } }, 404);
  const stored = /^\/v1\/responses\/([^/]+)(\/cancel)?$/.exec(pathname);
  if (stored) {
    const r = responses.get(stored[1]!);
    if (!r) return json({ error: { message: 'not found' } }, 404);
    if (stored[2]) return json({ ...r, status: 'cancelled' });
    if (req.method === 'DELETE') return json({ id: r.id, object: 'response.deleted', deleted: true });
    return json(r);
  }
  const answer = ANSWERS[pathname];
  if (answer) return { body: fixtureText(answer), headers: { 'content-type': 'application/json' } };
  const m = /^\/v1\/(files|batches|messages\/batches)(?:\/([^/]+))?(\/content)?$/.exec(pathname);
  if (!m) return json({ error: { message: 'no such route' } }, 404);
  const [, kind, id, content] = m;
  if (kind === 'files') {
    if (req.method === 'POST') {
      const file = { id: `file-${++seq}`, object: 'file', bytes: sent.body.byteLength, created_at: 1, filename: 'in.jsonl', purpose: 'batch' };
      uploads.set(file.id, uploadedFile(sent.body, sent.headers['content-type'] ?? ''));
      files.set(file.id, file);
      return json(file);
    }
    if (!id) return list(files.values(), searchParams);
    if (content) return { body: uploads.get(id) ?? '{"custom_id":"r1"}\n', headers: { 'content-type': 'application/octet-stream' } };
    return files.has(id) ? json(files.get(id)) : json({ error: { message: 'No such File object' } }, 404);
  }
  if (kind === 'batches') {
    if (req.method === 'POST') {
      const { input_file_id } = JSON.parse(new TextDecoder().decode(sent.body)) as { input_file_id: string };
      const batch = { id: `batch_${++seq}`, object: 'batch', endpoint: '/v1/chat/completions', input_file_id, completion_window: '24h', status: 'validating', output_file_id: null, error_file_id: null, created_at: 1 };
      batches.set(batch.id, batch);
      return json(batch);
    }
    if (!id) return list(batches.values(), searchParams);
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
  if (!id) return list(messageBatches.values(), searchParams);
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
  keys.a = await createKey(accounts.a, 'own');
  keys.b = await createKey(accounts.b, 'own');
  keys.open = await createKey(uniqueName('acct-operator'), true);
  keys.off = await createKey(uniqueName('acct-off'), false);
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
    fileA = (await a.files.create({ file: await toFile(Buffer.from(BATCH_LINE), 'in.jsonl'), purpose: 'batch' })).id;
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
    // Another spelling of the reference, which a case-insensitive JSON reader would take: refused, not passed on.
    for (const body of [{ input_file_id: fileA, INPUT_FILE_ID: 'file-outside' }, { Input_File_Id: 'file-outside' }]) {
      const spelt = await failure(a.batches.create({ endpoint: '/v1/chat/completions', completion_window: '24h', ...body } as unknown as OpenAI.BatchCreateParams));
      expect(spelt).toBeInstanceOf(OpenAI.BadRequestError);
      expect(String((spelt as Error).message)).toContain('the only spelling arouter checks');
    }
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

describe('what a list and a create may reveal or take', () => {
  test("a list's cursors never name another account's object, and paging reads past pages holding none of the account's", async () => {
    // Five objects made outside arouter, then one of B's: on the provider's first four pages of two B has nothing.
    for (let i = 0; i < 5; i++) files.set(`file-foreign-${i}`, { id: `file-foreign-${i}`, object: 'file', bytes: 1, created_at: 1, filename: 'x', purpose: 'batch' });
    const b = openai(keys.b);
    const mine = (await b.files.create({ file: await toFile(Buffer.from('x'), 'b.jsonl'), purpose: 'batch' })).id;
    const raw = await fetch(`${base}/openai/v1/files?limit=2`, { headers: { authorization: `Bearer ${keys.b}` } });
    const page = (await raw.json()) as { data: Array<{ id: string }>; first_id: string | null; last_id: string | null };
    expect(page.data.map((f) => f.id)).toEqual([mine]);
    expect([page.first_id, page.last_id]).toEqual([mine, mine]);
    const seen = [];
    for await (const f of b.files.list({ limit: 2 })) seen.push(f.id);
    expect(seen).toEqual([mine]);
    // The walk is bounded: five provider pages per request at most.
    const calls = mock.received.length;
    await fetch(`${base}/openai/v1/files?limit=1`, { headers: { authorization: `Bearer ${keys.b}` } });
    expect(mock.received.length - calls).toBe(5);
  });

  test('a POST asking to run as another method, and a create body arouter cannot read as the provider would, are refused', async () => {
    const before = mock.received.length;
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`${base}/openai/v1/batches`, { method: 'POST', headers: { authorization: `Bearer ${keys.b}`, ...headers }, body });
    const override = await post({ 'content-type': 'application/json', 'x-http-method-override': 'GET' }, '{}');
    expect(override.status).toBe(403);
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', 'input_file_id=file-outside&endpoint=%2Fv1%2Fchat%2Fcompletions'],
      ['application/json', 'not json'],
      // UTF-7 spells quotes in letters: the provider could read another object than arouter did.
      ['application/json; charset=utf-7', '{"input_file_id":"file-outside"}'],
    ] as const) {
      const res = await post({ 'content-type': type }, body);
      expect(res.status).toBe(400);
    }
    // A create is a few hundred bytes: over the 32 MiB every checked body is held to, it is refused unread.
    const huge = await post({ 'content-type': 'application/json' }, `{"pad":"${'x'.repeat(32 * 1024 * 1024)}"}`);
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: { message: string } }).error.message).toContain('33554432');
    expect(mock.received.length).toBe(before);
    // A member named twice (once through an escape) means one thing to JSON.parse and maybe another to the provider:
    // what reaches the provider is the object arouter checked, encoded again, naming only B's own file.
    const own = (await openai(keys.b).files.create({ file: await toFile(Buffer.from(BATCH_LINE), 'b2.jsonl'), purpose: 'batch' })).id;
    const twice = `{"input\\u005ffile_id":"file-outside","input_file_id":"${own}","endpoint":"/v1/chat/completions","completion_window":"24h"}`;
    const res = await post({ 'content-type': 'application/json' }, twice);
    expect(res.status).toBe(200);
    const sent = new TextDecoder().decode(mock.received.at(-1)!.body);
    expect(sent).not.toContain('file-outside');
    expect(JSON.parse(sent)).toMatchObject({ input_file_id: own });
  });

  test('a key limited to its own objects is stored so that an older pod reads it as kept off entirely', async () => {
    const created = await proxy.createKey();
    const own = await proxy.keys.create(uniqueName('acct-own'), { storedObjects: 'own' });
    const hash = (k: string) => new Bun.CryptoHasher('sha256').update(k).digest('hex');
    const fields = await proxy.redis.hgetall(`${proxy.keys.prefix}:key:${hash(own.key)}`);
    expect(fields.storedObjects).toBe('0');
    expect(fields.ownStoredObjects).toBe('1');
    expect((await proxy.keys.findByHash(hash(own.key)))?.storedObjects).toBe('own');
    expect((await proxy.keys.findByHash(hash(created.key)))?.storedObjects).toBe(true);
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

  test("a batch's requests are read like messages: another account's file named in one is not found", async () => {
    const fileA = (await anthropic(keys.a).beta.files.upload({ file: await toFile(Buffer.from('%PDF-1.4'), 'a.pdf', { type: 'application/pdf' }) })).id;
    const before = mock.received.length;
    const params = { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user' as const, content: [{ type: 'document' as const, source: { type: 'file' as const, file_id: fileA } }] }] };
    expect(await failure(anthropic(keys.b).beta.messages.batches.create({ requests: [{ custom_id: 'r1', params }] }))).toBeInstanceOf(Anthropic.NotFoundError);
    expect(mock.received.length).toBe(before);
    expect((await anthropic(keys.a).beta.messages.batches.create({ requests: [{ custom_id: 'r1', params }] })).id).toStartWith('msgbatch_');
  });
});

describe('stored objects named inside a request', () => {
  const fileMessage = (fileId: string) => [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'Summarize it.' }, { type: 'file' as const, file: { file_id: fileId } }] }];

  test("a chat completion may name its account's file; another account's is a 404 and a kept-off key's any file a 403, before any provider call", async () => {
    const a = openai(keys.a);
    const fileA = (await a.files.create({ file: await toFile(Buffer.from('notes'), 'notes.txt'), purpose: 'user_data' })).id;
    const answer = await a.chat.completions.create({ model: 'gpt-4.1-nano', messages: fileMessage(fileA) });
    expect(answer.id).toBe((JSON.parse(fixtureText('openai/chat-nonstream.json')) as { id: string }).id);
    // The provider got the body as the SDK sent it: read, not re-encoded.
    const sent = mock.received.at(-1)!;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(JSON.parse(new TextDecoder().decode(sent.body))).toEqual({ model: 'gpt-4.1-nano', messages: fileMessage(fileA) });

    const before = mock.received.length;
    expect(await failure(openai(keys.b).chat.completions.create({ model: 'gpt-4.1-nano', messages: fileMessage(fileA) }))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(openai(keys.b).chat.completions.create({ model: 'gpt-4.1-nano', messages: fileMessage('file-outside') }))).toBeInstanceOf(OpenAI.NotFoundError);
    const off = await failure(openai(keys.off).chat.completions.create({ model: 'gpt-4.1-nano', messages: fileMessage(fileA) }));
    expect(off).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((off as InstanceType<typeof OpenAI.PermissionDeniedError>).message).toContain('"file_id"');
    expect(mock.received.length).toBe(before);
    // A key with the default is not read at all, and a restricted key's plain chat goes through.
    await openai(keys.open).chat.completions.create({ model: 'gpt-4.1-nano', messages: fileMessage('file-outside') });
    await openai(keys.off).chat.completions.create({ model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'hi' }] });
    expect(mock.received.length).toBe(before + 2);
  });

  test('the Responses API: a stored response to continue is refused to restricted keys; a file goes by its owner', async () => {
    const b = openai(keys.b);
    const fileB = (await b.files.create({ file: await toFile(Buffer.from('b'), 'b.txt'), purpose: 'user_data' })).id;
    const before = mock.received.length;
    // Another account's stored response is not found for an own key, and no stored response is named by a kept-off one.
    expect(await failure(openai(keys.b).responses.create({ model: 'gpt-4.1-nano', input: 'and then?', previous_response_id: 'resp_from_someone' }))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(openai(keys.off).responses.create({ model: 'gpt-4.1-nano', input: 'and then?', previous_response_id: 'resp_from_someone' }))).toBeInstanceOf(OpenAI.PermissionDeniedError);
    // A background response is collected from the stored response, which a kept-off key cannot read.
    const background = await failure(openai(keys.off).responses.create({ model: 'gpt-4.1-nano', input: 'hi', background: true }));
    expect((background as Error).message).toContain('"background"');
    expect(await failure(openai(keys.a).responses.create({ model: 'gpt-4.1-nano', input: [{ role: 'user', content: [{ type: 'input_file', file_id: fileB }] }] }))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(mock.received.length).toBe(before);
    const ok = await b.responses.create({ model: 'gpt-4.1-nano', input: [{ role: 'user', content: [{ type: 'input_file', file_id: fileB }] }] });
    expect(ok.output as unknown).toEqual((JSON.parse(fixtureText('openai/responses-nonstream.json')) as { output: unknown }).output);
  });

  test('anthropic: a document whose source is a file, through the SDK', async () => {
    const a = anthropic(keys.a);
    const b = anthropic(keys.b);
    const fileA = (await a.beta.files.upload({ file: await toFile(Buffer.from('%PDF-1.4'), 'doc.pdf', { type: 'application/pdf' }) })).id;
    const ask = (client: Anthropic) =>
      client.beta.messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 64,
        betas: ['files-api-2025-04-14'],
        messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: fileA } }, { type: 'text', text: 'Summarize.' }] }],
      });
    const before = mock.received.length;
    expect(await failure(ask(b))).toBeInstanceOf(Anthropic.NotFoundError);
    expect(await failure(ask(anthropic(keys.off)))).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(mock.received.length).toBe(before);
    expect((await ask(a)).id).toBe((JSON.parse(fixtureText('anthropic/messages-nonstream.json')) as { id: string }).id);
  });

  test('a body naming a file twice, or compressed, is refused rather than read one way by arouter and another by the provider', async () => {
    const before = mock.received.length;
    const post = (headers: Record<string, string>, body: string | Uint8Array) =>
      fetch(`${base}/openai/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${keys.a}`, 'content-type': 'application/json', ...headers }, body });
    const twice = await post({}, '{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file\\u005fid":"file-outside","file_id":"file-1"}}]}]}');
    expect(twice.status).toBe(400);
    expect(((await twice.json()) as { error: { message: string } }).error.message).toContain('twice');
    const zipped = await post({ 'content-encoding': 'gzip' }, Bun.gzipSync(new TextEncoder().encode('{"model":"m","messages":[]}')));
    expect(zipped.status).toBe(400);
    expect(mock.received.length).toBe(before);
  });
});

describe('stored responses kept per account', () => {
  test('a response an own key makes is its account\'s: read, continued, cancelled and deleted by it, not found by another', async () => {
    const a = openai(keys.a);
    const b = openai(keys.b);
    const made = await a.responses.create({ model: 'gpt-4.1-nano', input: 'hi' });
    expect((await a.responses.retrieve(made.id)).id).toBe(made.id);
    const next = await a.responses.create({ model: 'gpt-4.1-nano', input: 'and then?', previous_response_id: made.id });
    expect(next.id).not.toBe(made.id);
    const before = mock.received.length;
    expect(await failure(b.responses.retrieve(made.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(b.responses.delete(made.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(b.responses.create({ model: 'gpt-4.1-nano', input: 'x', previous_response_id: made.id }))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(mock.received.length).toBe(before);
    // A key with the default makes responses that belong to no account.
    const theirs = await openai(keys.open).responses.create({ model: 'gpt-4.1-nano', input: 'hi' });
    expect(await failure(a.responses.retrieve(theirs.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(b.responses.cancel(made.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect((await a.responses.cancel(made.id)).status).toBe('cancelled');
    await a.responses.delete(made.id);
    expect(mock.received.at(-1)!.method).toBe('DELETE');
  });

  test("an own key's request body over the checked limit is a 413 saying why, before any provider call", async () => {
    const before = mock.received.length;
    const big = `{"model":"gpt-4.1-nano","input":"${'x'.repeat(33 * 1024 * 1024)}"}`;
    const res = await fetch(`${base}/openai/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${keys.a}`, 'content-type': 'application/json' }, body: big });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('read whole to check');
    expect(mock.received.length).toBe(before);
  });

  test('streamed, the id is recorded from the first event while the client gets every event; background responses are the owner\'s to collect', async () => {
    const a = openai(keys.a);
    const stream = await a.responses.create({ model: 'gpt-4.1-nano', input: 'hi', stream: true });
    const types: string[] = [];
    let id = '';
    for await (const e of stream) {
      types.push(e.type);
      if (e.type === 'response.created') id = e.response.id;
    }
    expect(types).toEqual(['response.created', 'response.completed']);
    expect((await a.responses.retrieve(id)).id).toBe(id);
    expect(await failure(openai(keys.b).responses.retrieve(id))).toBeInstanceOf(OpenAI.NotFoundError);

    const queued = await a.responses.create({ model: 'gpt-4.1-nano', input: 'hi', background: true });
    expect((await a.responses.retrieve(queued.id)).id).toBe(queued.id);
  });
});

describe('conversations kept per account', () => {
  test("an own key's conversation is its account's: read and named by responses there, not found elsewhere", async () => {
    const a = openai(keys.a);
    const b = openai(keys.b);
    const conv = await a.conversations.create({});
    expect((await a.conversations.retrieve(conv.id)).id).toBe(conv.id);
    expect((await a.responses.create({ model: 'gpt-4.1-nano', input: 'hi', conversation: conv.id })).object).toBe('response');
    const before = mock.received.length;
    expect(await failure(b.conversations.retrieve(conv.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(b.responses.create({ model: 'gpt-4.1-nano', input: 'hi', conversation: conv.id }))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(openai(keys.off).responses.create({ model: 'gpt-4.1-nano', input: 'hi', conversation: conv.id }))).toBeInstanceOf(OpenAI.PermissionDeniedError);
    // A conversation's items are read like a response's input: another account's file is not found in them either.
    const fileB = (await b.files.create({ file: await toFile(Buffer.from('b'), 'b.txt'), purpose: 'user_data' })).id;
    const before2 = mock.received.length;
    const items = [{ type: 'message' as const, role: 'user' as const, content: [{ type: 'input_file' as const, file_id: fileB }] }];
    expect(await failure(a.conversations.create({ items }))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await failure(a.conversations.items.create(conv.id, { items }))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(mock.received.length).toBe(before2);
    expect(mock.received.length - before).toBe(1);
  });
});

describe("a batch's input file", () => {
  test('its request lines are read like requests: a line naming another account\'s file or stored response is not found, and no batch is made', async () => {
    const a = openai(keys.a);
    const fileB = (await openai(keys.b).files.create({ file: await toFile(Buffer.from('b'), 'b.txt'), purpose: 'user_data' })).id;
    const fileA = (await a.files.create({ file: await toFile(Buffer.from('a'), 'a.txt'), purpose: 'user_data' })).id;
    const line = (body: unknown) => JSON.stringify({ custom_id: 'r', method: 'POST', url: '/v1/responses', body });
    const upload = async (lines: string[]) => (await a.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'in.jsonl'), purpose: 'batch' })).id;
    const plain = line({ model: 'gpt-4.1-nano', input: 'hi' });
    const create = (input: string) => a.batches.create({ input_file_id: input, endpoint: '/v1/responses', completion_window: '24h' });
    for (const bad of [
      line({ model: 'gpt-4.1-nano', input: [{ role: 'user', content: [{ type: 'input_file', file_id: fileB }] }] }),
      line({ model: 'gpt-4.1-nano', input: 'x', previous_response_id: 'resp_of_someone' }),
    ]) {
      const input = await upload([plain, bad]);
      const batchesBefore = batches.size;
      expect(await failure(create(input))).toBeInstanceOf(OpenAI.NotFoundError);
      expect(batches.size).toBe(batchesBefore);
    }
    // A line given its body twice could be run with the other one.
    const twice = await upload([`{"custom_id":"r","url":"/v1/responses","body":{"input":"hi"},"body":{"input":[{"type":"input_file","file_id":"${fileB}"}]}}`]);
    expect(await failure(create(twice))).toBeInstanceOf(OpenAI.BadRequestError);
    // Whatever the line's url says, its body is read; a line arouter cannot read as a request is refused.
    const elsewhere = await upload([JSON.stringify({ custom_id: 'r', method: 'POST', url: 'https://api.openai.com/v1/responses', body: { input: [{ type: 'input_file', file_id: fileB }] } })]);
    expect(await failure(create(elsewhere))).toBeInstanceOf(OpenAI.NotFoundError);
    for (const unreadable of ['{"custom_id":"r","body":{"input":"hi", "temperature": NaN}}', `${plain}\u2028${plain}`, JSON.stringify({ custom_id: 'r', body: '{"input":"hi"}' })]) {
      const batchesBefore = batches.size;
      expect(await failure(create(await upload([unreadable])))).toBeInstanceOf(OpenAI.BadRequestError);
      expect(batches.size).toBe(batchesBefore);
    }
    // Mistral takes a job's requests inline too: read the same way, before any provider call.
    const before = mock.received.length;
    const inline = { endpoint: '/v1/chat/completions', model: 'mistral-small-latest', requests: [{ custom_id: 'r', body: { messages: [{ role: 'user', content: [{ type: 'file', file_id: 'file-of-someone' }] }] } }] };
    const job = await fetch(`${base}/mistral/v1/batch/jobs`, { method: 'POST', headers: { authorization: `Bearer ${keys.a}`, 'content-type': 'application/json' }, body: JSON.stringify(inline) });
    expect(job.status).toBe(404);
    expect(mock.received.length).toBe(before);
    const fine = await upload([plain, line({ model: 'gpt-4.1-nano', input: [{ role: 'user', content: [{ type: 'input_file', file_id: fileA }] }] })]);
    expect((await create(fine)).input_file_id).toBe(fine);
  });
});

describe('an operator assigning objects to an account', () => {
  /** The CLI against the proxy's own key prefix, its output parsed. */
  async function cli(...args: string[]): Promise<{ code: number; out: unknown }> {
    const lines: string[] = [];
    const saved = process.env.AROUTER_KEY_PREFIX;
    process.env.AROUTER_KEY_PREFIX = proxy.keys.prefix;
    try {
      const code = await runCli(args, (s) => void lines.push(s));
      return { code, out: code === 0 ? JSON.parse(lines[0]!) : lines[0] };
    } finally {
      if (saved === undefined) delete process.env.AROUTER_KEY_PREFIX;
      else process.env.AROUTER_KEY_PREFIX = saved;
    }
  }

  test('an object made outside arouter is nobody\'s until assigned; an assignment replaces the owner and says whose it was', async () => {
    files.set('file-legacy', { id: 'file-legacy', object: 'file', bytes: 1, created_at: 1, filename: 'old.jsonl', purpose: 'batch' });
    expect(await failure(openai(keys.a).files.retrieve('file-legacy'))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await cli('objects', 'owner', '--provider', 'openai', 'file-legacy')).toEqual({ code: 0, out: { provider: 'openai', objects: [{ id: 'file-legacy', account: null }] } });

    expect((await cli('objects', 'assign', '--provider', 'openai', '--account', accounts.a, 'file-legacy')).out).toEqual({
      provider: 'openai',
      account: accounts.a,
      objects: [{ id: 'file-legacy', previous: null }],
    });
    expect((await openai(keys.a).files.retrieve('file-legacy')).id).toBe('file-legacy');
    expect(await failure(openai(keys.b).files.retrieve('file-legacy'))).toBeInstanceOf(OpenAI.NotFoundError);

    const moved = await cli('objects', 'assign', '--provider', 'openai', '--account', accounts.b, 'file-legacy');
    expect((moved.out as { objects: unknown }).objects).toEqual([{ id: 'file-legacy', previous: accounts.a }]);
    expect((await openai(keys.b).files.retrieve('file-legacy')).id).toBe('file-legacy');
    expect(await failure(openai(keys.a).files.retrieve('file-legacy'))).toBeInstanceOf(OpenAI.NotFoundError);
  });

  test('a provider without per-account objects, a bad account, no ids or an unknown option: exit 1, nothing assigned', async () => {
    for (const args of [
      ['--provider', 'deepseek', '--account', accounts.a, 'x'],
      ['--provider', 'openai', '--account', 'not an account', 'file-x'],
      ['--provider', 'openai', '--account', accounts.a],
      ['--provider', 'openai', '--acount', accounts.a, 'file-x'],
    ]) {
      const r = await cli('objects', 'assign', ...args);
      expect(r.code).toBe(1);
      expect(String(r.out)).toStartWith('error: ');
    }
    expect(await cli('objects', 'owner', '--provider', 'openai', 'file-x')).toEqual({ code: 0, out: { provider: 'openai', objects: [{ id: 'file-x', account: null }] } });
  });
});
