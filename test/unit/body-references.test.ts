// Stored objects named inside request bodies: what each provider's declaration finds, and bodies read two ways.
import { describe, expect, test } from 'bun:test';
import { ArouterError } from '../../src/errors.ts';
import type { Principal } from '../../src/keys/auth.ts';
import { PROVIDERS, providerBySlug } from '../../src/providers/index.ts';
import type { ProviderSpec } from '../../src/providers/types.ts';
import { bodyReferenceReader, type NamedObjects } from '../../src/proxy/body-references.ts';
import { namedObjectCheck } from '../../src/proxy/named-objects.ts';
import { CHECKED_BODY_MAX_BYTES } from '../../src/proxy/request-body.ts';
import type { Ownership } from '../../src/proxy/owned-objects.ts';

const spec = (slug: string): ProviderSpec => {
  const p = providerBySlug(slug);
  if (!p?.storedObjects?.bodyReferences) throw new Error(`${slug} declares no body references`);
  return p;
};
const read = (slug: string, body: unknown): NamedObjects => bodyReferenceReader(spec(slug).storedObjects!.bodyReferences!)(typeof body === 'string' ? body : JSON.stringify(body));
/** The ids of the owned objects a body names, and the members naming objects no account owns. */
const ids = (n: NamedObjects) => ({ ownedIds: n.owned.map((o) => o.id), unownedMembers: n.unowned.map((o) => o.member) });
const thrown = (f: () => unknown): ArouterError | undefined => {
  try {
    f();
  } catch (e) {
    if (e instanceof ArouterError) return e;
    throw e;
  }
  return undefined;
};

describe('what each provider finds', () => {
  test('openai: files, stored responses and conversations are owned; stores and containers are not', () => {
    const chat = { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'file', file: { file_id: 'file-a' } }] }] };
    expect(ids(read('openai', chat))).toEqual({ ownedIds: ['file-a'], unownedMembers: [] });
    const responses = {
      model: 'm',
      previous_response_id: 'resp_1',
      conversation: { id: 'conv_1' },
      input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-b' }, { type: 'input_image', file_id: 'file-c' }] }],
      tools: [{ type: 'file_search', vector_store_ids: ['vs_1'] }, { type: 'code_interpreter', container: { type: 'auto', file_ids: ['file-d'] } }],
    };
    const found = ids(read('openai', responses));
    // Stored responses and conversations are kept per account like files.
    expect(found.ownedIds.sort()).toEqual(['conv_1', 'file-b', 'file-c', 'file-d', 'resp_1']);
    expect(found.unownedMembers.sort()).toEqual(['vector_store_ids']);
    expect(ids(read('openai', { tools: [{ type: 'code_interpreter', container: 'cntr_1' }] })).unownedMembers).toEqual(['container']);
    expect(ids(read('openai', { tools: [{ type: 'code_interpreter', container: 'auto' }] })).unownedMembers).toEqual([]);
    // An item of a stored response, taken by id; other items' ids are not references.
    const items = { model: 'm', input: [{ type: 'item_reference', id: 'msg_1' }, { type: 'message', id: 'msg_2', role: 'user', content: 'hi' }] };
    expect(ids(read('openai', items))).toEqual({ ownedIds: [], unownedMembers: ['id'] });
    expect(ids(read('openai', { model: 'm', input: [{ type: 'function_call_output', call_id: 'c', output: 'x', id: 'fc_1' }] })).unownedMembers).toEqual([]);
    // A job only a stored-object API can collect; in the foreground it is an ordinary request.
    const collects = (body: unknown) => read('openai', body).ownerCollects.map((o) => o.member);
    expect(collects({ model: 'm', input: 'hi', background: true })).toEqual(['background']);
    expect(collects({ model: 'm', input: 'hi', background: false })).toEqual([]);
    expect(ids(read('xai', { model: 'm', messages: [], deferred: true })).unownedMembers).toEqual(['deferred']);
  });

  test('a plain request, a null member and a JSON schema property of the same name name nothing', () => {
    const schema = { type: 'object', properties: { file_id: { type: 'string' }, conversation: { type: 'string' } } };
    const body = { model: 'm', previous_response_id: null, messages: [{ role: 'user', content: 'what is a file_id?' }], response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } };
    expect(ids(read('openai', body))).toEqual({ ownedIds: [], unownedMembers: [] });
  });

  test('anthropic: a file source and a container upload are owned; a kept container and custom skills are not, built-in skills pass', () => {
    const body = {
      model: 'm',
      container: { skills: [{ type: 'anthropic', skill_id: 'pptx' }, { type: 'custom', skill_id: 'skill_01abc' }] },
      messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: 'file_011' } }, { type: 'container_upload', file_id: 'file_012' }] }],
    };
    const found = ids(read('anthropic', body));
    expect(found.ownedIds.sort()).toEqual(['file_011', 'file_012']);
    expect(found.unownedMembers).toEqual(['skill_id']);
    expect(ids(read('anthropic', { container: 'container_1', messages: [] })).unownedMembers).toEqual(['container']);
    // A batch's requests carry the same in their params.
    const batch = { requests: [{ custom_id: 'r', params: { container: { id: 'container_1', skills: [{ type: 'custom', skill_id: 'skill_01x' }] }, messages: [] } }] };
    expect(ids(read('anthropic', batch)).unownedMembers.sort()).toEqual(['container', 'skill_id']);
  });

  test('google: Files API URIs, caches, file search stores and earlier interactions in either spelling; other URIs are not stored', () => {
    const part = (uri: string) => ({ contents: [{ parts: [{ fileData: { mimeType: 'video/mp4', fileUri: uri } }] }] });
    expect(ids(read('google', part('https://generativelanguage.googleapis.com/v1beta/files/abc'))).unownedMembers).toEqual(['fileUri']);
    expect(ids(read('google', { contents: [{ parts: [{ file_data: { file_uri: 'files/abc' } }] }] })).unownedMembers).toEqual(['file_uri']);
    expect(ids(read('google', part('https://www.youtube.com/watch?v=9hE5-98ZeCg'))).unownedMembers).toEqual([]);
    expect(ids(read('google', part('https://example.com/files/report.pdf'))).unownedMembers).toEqual([]);
    expect(ids(read('google', { cached_content: 'cachedContents/x', contents: [] })).unownedMembers).toEqual(['cached_content']);
    expect(ids(read('google', { generateContentRequest: { cachedContent: 'cachedContents/x' } })).unownedMembers).toEqual(['cachedContent']);
    expect(ids(read('google', { tools: [{ fileSearch: { fileSearchStoreNames: ['fileSearchStores/s'] } }] })).unownedMembers).toEqual(['fileSearchStoreNames']);
  });

  test('dashscope: every fileid:// in any string, several joined by commas, escaped or not', () => {
    const body = { model: 'qwen-long', messages: [{ role: 'system', content: 'fileid://file-fe-1,fileid://file-fe-2' }, { role: 'system', content: 'fileid:\\/\\/file-fe-3' }] };
    const text = JSON.stringify(body).replace('fileid:\\\\/\\\\/', 'fileid:\\/\\/');
    expect(ids(read('dashscope', text)).ownedIds).toEqual(['file-fe-1', 'file-fe-2', 'file-fe-3']);
  });

  test('kimi, minimax, mistral, xai', () => {
    expect(ids(read('kimi', { messages: [{ role: 'user', content: [{ type: 'video_url', video_url: { url: 'ms://file-k1' } }] }] })).ownedIds).toEqual(['file-k1']);
    expect(ids(read('kimi', { messages: [{ role: 'cache', content: 'cache_id=cache-1;reset_ttl=3600' }] })).unownedMembers).toEqual(['role']);
    expect(ids(read('kimi', { messages: [{ role: 'cache', content: [{ type: 'text', text: 'cache_id=cache-1' }] }] })).unownedMembers).toEqual(['role']);
    expect(ids(read('kimi', { messages: [{ role: 'user', content: 'hello' }, { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] }))).toEqual({ ownedIds: [], unownedMembers: [] });
    expect(ids(read('minimax', { model: 'speech', file_id: 123456 })).unownedMembers).toEqual(['file_id']);
    expect(ids(read('minimax', { first_frame_image: 'mm_file://9' })).unownedMembers).toEqual(['*']);
    expect(ids(read('mistral', { model: 'mistral-ocr-latest', document: { type: 'file', file_id: 'f-1' } })).ownedIds).toEqual(['f-1']);
    // A batch job's inline requests, and the agent a job may run.
    const job = { endpoint: '/v1/chat/completions', agent_id: 'ag_1', requests: [{ custom_id: 'r', body: { messages: [{ role: 'user', content: [{ type: 'file', file_id: 'f-3' }] }] } }] };
    expect(ids(read('mistral', job))).toEqual({ ownedIds: ['f-3'], unownedMembers: ['agent_id'] });
    expect(ids(read('xai', { previous_response_id: 'r', input: [{ type: 'input_file', file_id: 'file-x' }] }))).toEqual({ ownedIds: ['file-x'], unownedMembers: ['previous_response_id'] });
  });
});

describe('the same names elsewhere are not references', () => {
  test("an earlier answer sent back: a citation's file, a code run's container and output file", () => {
    const openaiTurns = {
      input: [
        { type: 'code_interpreter_call', id: 'ci_1', container_id: 'cntr_auto1', code: 'print(1)', status: 'completed' },
        { type: 'message', id: 'msg_1', role: 'assistant', content: [{ type: 'output_text', text: 'x', annotations: [{ type: 'file_citation', file_id: 'file-made-by-openai', index: 0 }, { type: 'container_file_citation', container_id: 'cntr_auto1', file_id: 'cfile_1' }] }] },
      ],
    };
    expect(ids(read('openai', openaiTurns))).toEqual({ ownedIds: [], unownedMembers: [] });
    const anthropicTurns = {
      messages: [{ role: 'assistant', content: [{ type: 'bash_code_execution_tool_result', tool_use_id: 't', content: { type: 'bash_code_execution_result', content: [{ type: 'bash_code_execution_output', file_id: 'file_made_by_anthropic' }] } }, { type: 'tool_use', id: 't2', name: 'deploy', input: { container: 'web-1' } }] }],
    };
    expect(ids(read('anthropic', anthropicTurns))).toEqual({ ownedIds: [], unownedMembers: [] });
  });

  test("a function call's arguments, a user's text", () => {
    expect(ids(read('google', { contents: [{ role: 'model', parts: [{ functionCall: { name: 'run', args: { background: true } } }] }] }))).toEqual({ ownedIds: [], unownedMembers: [] });
    expect(ids(read('kimi', { messages: [{ role: 'user', content: 'cache_id=what does this mean?' }] }))).toEqual({ ownedIds: [], unownedMembers: [] });
  });

  test('an item reference may leave its type out; an earlier audio answer is named by id', () => {
    expect(ids(read('openai', { input: [{ id: 'msg_1' }] })).unownedMembers).toEqual(['id']);
    expect(ids(read('openai', { input: [{ type: null, id: 'msg_1' }] })).unownedMembers).toEqual(['id']);
    expect(ids(read('openai', { messages: [{ role: 'assistant', audio: { id: 'audio_1' } }] })).unownedMembers).toEqual(['id']);
  });

  test('Gemini Files API names in every form it takes, and only those', () => {
    const uri = (u: string) => ids(read('google', { contents: [{ parts: [{ fileData: { fileUri: u } }] }] })).unownedMembers.length;
    for (const u of ['files/a', 'v1beta/files/a', '/upload/v1beta/files/a', 'https://generativelanguage.googleapis.com:443/v1beta/files/a', '//generativelanguage.googleapis.com/v1/files/a']) expect(uri(u)).toBe(1);
    for (const u of ['https://example.com/files/a.pdf', 'gs://bucket/files/a', 'https://www.youtube.com/watch?v=x']) expect(uri(u)).toBe(0);
  });
});

describe('references in the other places providers read them', () => {
  test('an interaction content uri, a computer screenshot, a reasoning item by id alone, an untyped Mistral file chunk', () => {
    expect(ids(read('google', { input: [{ type: 'document', uri: 'https://generativelanguage.googleapis.com/v1beta/files/x' }] })).unownedMembers).toEqual(['uri']);
    expect(ids(read('openai', { input: [{ type: 'computer_call_output', call_id: 'c', output: { type: 'computer_screenshot', file_id: 'file-s' } }] })).ownedIds).toEqual(['file-s']);
    expect(ids(read('openai', { input: [{ type: 'reasoning', id: 'rs_1', summary: [] }] })).unownedMembers).toEqual(['id']);
    expect(ids(read('openai', { input: [{ type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'gAAA' }] })).unownedMembers).toEqual([]);
    // No content to stand in for the stored item (SDKs send back `encrypted_content: null`): read by id, so checked.
    for (const none of [null, '', 0, false]) {
      expect(ids(read('openai', { input: [{ type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: none }] })).unownedMembers).toEqual(['id']);
    }
    expect(ids(read('mistral', { document: { file_id: 'f-2' } })).ownedIds).toEqual(['f-2']);
  });

  test('the long s of case-insensitive parsers, an id member in another case, a flag spelt otherwise', () => {
    expect(ids(read('openai', '{"conver\\u017fation":"c"}')).ownedIds).toEqual(['c']);
    expect(ids(read('openai', { conversation: { ID: 'conv_1' } })).ownedIds).toEqual(['conv_1']);
    expect(read('openai', { background: 'True' }).ownerCollects.map((o) => o.member)).toEqual(['background']);
    expect(ids(read('xai', { deferred: 1 })).unownedMembers).toEqual(['deferred']);
  });
});

describe('a body read one way by arouter and another by a provider', () => {
  test('names are matched in any case, as lenient parsers match them; two spellings of one name in an object are refused', () => {
    expect(ids(read('openai', { messages: [{ content: [{ type: 'file', file: { File_Id: 'file-a' } }] }] })).ownedIds).toEqual(['file-a']);
    expect(thrown(() => read('openai', '{"messages":[{"content":[{"type":"file","file":{"file_id":"a","FILE_ID":"b"}}]}]}'))?.status).toBe(400);
  });

  test('a checked member given twice in one object is refused, in any spelling', () => {
    for (const body of ['{"file_id":"mine","file_id":"theirs"}', '{"file\\u005fid":"theirs","file_id":"mine"}', '{"a":{"previous_response_id":null,"previous_response_id":"r"}}']) {
      expect(thrown(() => read('openai', body))?.status).toBe(400);
    }
    // A condition's member too: a first-wins parser would read this object as an item reference.
    expect(thrown(() => read('openai', '{"input":[{"type":"item_reference","type":"message","id":"msg_1"}]}'))?.status).toBe(400);
  });

  test('a name spelled with escapes is read as the provider reads it, and strings holding quotes and backslashes do not confuse the count', () => {
    expect(ids(read('openai', '{"m":"a\\"b\\\\","file":{"file\\u005fid":"file-\\u0061"}}')).ownedIds).toEqual(['file-a']);
    expect(ids(read('openai', '{"note":"\\"file_id\\": \\"x\\"","k":"file_id"}'))).toEqual({ ownedIds: [], unownedMembers: [] });
  });

  test('a pattern read anywhere sees the value JSON.parse drops for a repeated member', () => {
    const body = '{"messages":[{"role":"system","content":"fileid://file-theirs","content":"hi"}]}';
    expect(ids(read('dashscope', body)).ownedIds).toEqual(['file-theirs']);
  });

  test('not JSON (NaN is JSON to some parsers) is refused; deep nesting does not overflow', () => {
    expect(thrown(() => read('openai', '{"file_id": NaN}'))?.status).toBe(400);
    expect(thrown(() => read('openai', 'file_id=x'))?.status).toBe(400);
    expect(thrown(() => read('openai', '[{"file":{"file_id":"f"}}]'))?.status).toBe(400);
    const deep = `{"input":${'['.repeat(5000)}{"type":"input_file","file_id":"f"}${']'.repeat(5000)}}`;
    expect(ids(read('openai', deep)).ownedIds).toEqual(['f']);
  });
});

describe('the check', () => {
  const principal = (storedObjects: Principal['storedObjects'], accountId = 'acct-a'): Principal => ({ accountId, keyId: 'k', storedObjects, secret: 's' });
  const ownership: Ownership = {
    owners: async (_p, list) => list.map((id) => (id.startsWith('mine') ? 'acct-a' : id === 'unknown' ? null : 'acct-b')),
    claim: async () => {},
    assign: async () => [],
  };
  const named = namedObjectCheck(ownership);
  const openai = spec('openai');
  const call = (storedObjects: Principal['storedObjects']) => ({ requestId: 'r', provider: openai, path: '/v1/chat/completions', search: '', principal: principal(storedObjects), startedAt: 0 });
  const body = (id: string) => new TextEncoder().encode(JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: id } }] }] }));
  const outcome = (p: Promise<void>) => p.then(() => 'ok', (e: unknown) => (e instanceof ArouterError ? `${e.status} ${e.code}` : String(e)));
  const json = new Headers({ 'content-type': 'application/json' });

  test('applies to bodies on declared paths, read leniently', () => {
    expect(named.applies(openai, '/v1/chat/completions')).toBe(true);
    expect(named.applies(openai, '/V1//Chat/Completions;x')).toBe(true);
    expect(named.applies(openai, '/v1/responses/input_tokens')).toBe(true);
    expect(named.applies(openai, '/v1;x/chat;y/completions')).toBe(true);
    expect(named.applies(spec('dashscope'), '/compatible-mode;x/v1/chat/completions')).toBe(true);
    expect(named.applies(openai, '/v1/embeddings')).toBe(false);
    expect(named.applies(spec('google'), '/v1beta/models/gemini-2.5-flash:streamGenerateContent')).toBe(true);
  });

  test("an own key names its account's files; another account's or an unrecorded one is a 404; a kept-off key names none", async () => {
    expect(await outcome(named.check(call('own'), json, body('mine-1')))).toBe('ok');
    expect(await outcome(named.check(call('own'), json, body('theirs')))).toBe('404 object_not_found');
    expect(await outcome(named.check(call('own'), json, body('unknown')))).toBe('404 object_not_found');
    expect(await outcome(named.check(call(false), json, body('mine-1')))).toBe('403 stored_objects_not_allowed');
    expect(await outcome(named.check(call(true), json, body('theirs')))).toBe('ok');
    // Without an ownership store an own key is kept off.
    expect(await outcome(namedObjectCheck(undefined).check(call('own'), json, body('mine-1')))).toBe('403 stored_objects_not_allowed');
  });

  test("a stored response: an own key continues its account's, a kept-off key none; a background flag only for own keys", async () => {
    const naming = (id: string) => new TextEncoder().encode(`{"previous_response_id":"${id}","input":"hi"}`);
    expect(await outcome(named.check(call('own'), json, naming('mine-resp')))).toBe('ok');
    expect(await outcome(named.check(call('own'), json, naming('resp_theirs')))).toBe('404 object_not_found');
    const err = await named.check(call(false), json, naming('mine-resp')).then(() => null, (e: unknown) => e as ArouterError);
    expect(err?.status).toBe(403);
    expect(err?.message).toContain('"previous_response_id"');
    const background = new TextEncoder().encode('{"input":"hi","background":true}');
    expect(await outcome(named.check(call('own'), json, background))).toBe('ok');
    expect(await outcome(named.check(call(false), json, background))).toBe('403 stored_objects_not_allowed');
    expect(await outcome(named.check(call('own'), json, new Uint8Array(0)))).toBe('ok');
  });

  test('a form is read for its field names only: a field naming a stored file is refused, an upload is not', async () => {
    const mistral = { ...call('own'), provider: spec('mistral'), path: '/v1/audio/transcriptions' };
    const form = (name: string) => {
      const f = new FormData();
      f.set('model', 'voxtral-mini-latest');
      f.set(name, name === 'file' ? new Blob([new Uint8Array([0xff, 0xfe, 0x00])]) : 'file-of-someone');
      return new Response(f);
    };
    for (const [name, expected] of [['file', 'ok'], ['file_id', '403 stored_objects_not_allowed'], ['a[0][file_id]', '403 stored_objects_not_allowed']] as const) {
      const res = form(name);
      const headers = new Headers({ 'content-type': res.headers.get('content-type')! });
      expect(await outcome(named.check(mistral, headers, new Uint8Array(await res.arrayBuffer())))).toBe(expected);
    }
    // Names written so that a lenient parser reads file_id where a naive reading would not; two names for a part.
    const raw = (disposition: string) => new TextEncoder().encode(`--b\r\nContent-Disposition: ${disposition}\r\n\r\nfile-of-someone\r\n--b--\r\n`);
    const formType = new Headers({ 'content-type': 'multipart/form-data; boundary=b' });
    for (const [disposition, expected] of [
      ['form-data; name ="file_id"', '403 stored_objects_not_allowed'],
      ['form-data; x="; name=y"; name="file_id"', '403 stored_objects_not_allowed'],
      ['form-data;\r\n name="file_id"', '403 stored_objects_not_allowed'],
      ["form-data; name*=utf-8''file_id", '400 invalid_request'],
      ['form-data; name*0="file"; name*1="_id"', '400 invalid_request'],
      ['form-data; name="model"; name="file_id"', '400 invalid_request'],
      ['form-data; name="model"', 'ok'],
    ] as const) {
      expect(await outcome(named.check(mistral, formType, raw(disposition)))).toBe(expected);
    }
    expect(await outcome(named.check(mistral, new Headers({ 'content-type': 'multipart/form-data' }), raw('form-data; name="model"')))).toBe('400 invalid_request');
  });

  test('a body labelled a form where the endpoint takes none is refused, not left unread', async () => {
    const gemini = { ...call('own'), provider: spec('google'), path: '/v1beta/models/gemini-2.5-flash:generateContent' };
    const body = new TextEncoder().encode('{"cachedContent":"cachedContents/x"}');
    expect(await outcome(named.check(gemini, new Headers({ 'content-type': 'multipart/form-data; boundary=b' }), body))).toBe('400 invalid_request');
  });

  test('a body over the checked limit is a 413 before it is parsed', async () => {
    expect(await outcome(named.check(call('own'), json, new Uint8Array(CHECKED_BODY_MAX_BYTES + 1)))).toBe('413 request_too_large');
  });

  test("a header naming a stored object is refused too (Kimi's context cache)", async () => {
    const kimi = { ...call('own'), provider: spec('kimi') };
    const plain = new TextEncoder().encode('{"model":"kimi-k2","messages":[{"role":"user","content":"hi"}]}');
    expect(await outcome(named.check(kimi, json, plain))).toBe('ok');
    const cached = new Headers({ 'content-type': 'application/json', 'X-Msh-Context-Cache': 'cache-abc' });
    expect(await outcome(named.check(kimi, cached, plain))).toBe('403 stored_objects_not_allowed');
    expect(await outcome(named.check(kimi, cached, new Uint8Array(0)))).toBe('403 stored_objects_not_allowed');
  });

  test('a body the provider could read as other text is refused: another charset, a content coding, bytes that are not UTF-8', async () => {
    const ok = body('mine-1');
    expect(await outcome(named.check(call('own'), new Headers({ 'content-type': 'application/json; charset=utf-16' }), ok))).toBe('400 invalid_request');
    expect(await outcome(named.check(call('own'), new Headers({ 'content-type': 'application/json', 'content-encoding': 'gzip' }), ok))).toBe('400 invalid_request');
    expect(await outcome(named.check(call('own'), json, new Uint8Array([0x7b, 0xff, 0x7d])))).toBe('400 invalid_request');
    expect(await outcome(named.check(call('own'), new Headers({ 'content-type': 'application/json; charset=UTF-8' }), ok))).toBe('ok');
  });
});

describe('declarations', () => {
  test.each(PROVIDERS.filter((p) => p.storedObjects?.bodyReferences))('$slug: path patterns are lower case', (p) => {
    const refs = p.storedObjects!.bodyReferences!;
    expect(refs.paths.source).toBe(refs.paths.source.toLowerCase());
    expect(refs.refs.length).toBeGreaterThan(0);
  });
  // The unified endpoint's way in is read too, where the provider's compatible endpoint can name a stored object.
  test.each(PROVIDERS.filter((p) => p.storedObjects?.bodyReferences && p.slug !== 'cohere'))('$slug: its chat completions path is read', (p) => {
    expect(namedObjectCheck(undefined).applies(p, p.chatCompletionsPath)).toBe(true);
  });
});
