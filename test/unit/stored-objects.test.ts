// Which paths reach each provider's stored objects: the declarations, and how leniently a path is read against them.
import { describe, expect, test } from 'bun:test';
import { PROVIDERS, providerBySlug } from '../../src/providers/index.ts';
import { ownedTarget } from '../../src/proxy/owned-objects.ts';
import { reachesStoredObjects } from '../../src/proxy/stored-objects.ts';

const reaches = (slug: string, method: string, path: string, headers: Record<string, string> = {}) => {
  const routes = providerBySlug(slug)?.storedObjects;
  if (!routes) throw new Error(`${slug} declares no stored objects`);
  return reachesStoredObjects(routes, path, method, new Headers(headers));
};

describe('declarations', () => {
  test('only DeepSeek and NVIDIA have no stored-object APIs', () => {
    expect(PROVIDERS.filter((p) => !p.storedObjects).map((p) => p.slug).sort()).toEqual(['deepseek', 'nvidia']);
  });
  test.each(PROVIDERS.filter((p) => p.storedObjects))('$slug: prefixes are lower-case absolute paths without a trailing slash', (p) => {
    for (const prefix of p.storedObjects!.prefixes) {
      expect(prefix).toMatch(/^\/[^A-Z]*[^/]$/);
    }
    expect(p.storedObjects!.source.length).toBeGreaterThan(10);
    // Paths are folded before they are matched: a pattern with a capital letter would never match.
    for (const r of p.storedObjects!.routes ?? []) expect(r.path.source).toBe(r.path.source.toLowerCase());
  });
  test.each(PROVIDERS.filter((p) => p.storedObjects))('$slug: a kept-off key can still make chat completions', (p) => {
    expect(reachesStoredObjects(p.storedObjects!, p.chatCompletionsPath, 'POST', new Headers())).toBe(false);
  });
});

describe('openai', () => {
  test.each([
    ['GET', '/v1/files', true],
    ['POST', '/v1/files', true],
    ['GET', '/v1/files/file-abc/content', true],
    ['DELETE', '/v1/vector_stores/vs_1', true],
    ['GET', '/v1/batches', true],
    ['POST', '/v1/batches/batch_1/cancel', true],
    ['GET', '/v1/responses/resp_1', true],
    ['HEAD', '/v1/responses/resp_1', true],
    ['GET', '/v1/responses/resp_1/input_items', true],
    ['DELETE', '/v1/responses/resp_1', true],
    ['POST', '/v1/responses/resp_1/cancel', true],
    ['GET', '/v1/chat/completions', true],
    ['GET', '/v1/chat/completions/chatcmpl-1/messages', true],
    ['POST', '/v1/chat/completions/chatcmpl-1', true],
    ['POST', '/v1/responses/resp_1/cancel/', true],
    ['POST', '/v1/responses/resp_1/cancel.json', true],
    ['POST', '/v1/chat/completions/chatcmpl-1/', true],
    ['POST', '/v1/chat/completions/', false],
    ['POST', '/v1/responses', false],
    ['POST', '/v1/responses/input_tokens', false],
    ['POST', '/v1/chat/completions', false],
    ['POST', '/v1/embeddings', false],
    ['GET', '/v1/chatkit/threads', true],
    ['DELETE', '/v1/models/ft:gpt-4.1-nano:acme::abc', true],
    ['GET', '/v1/models', false],
    ['GET', '/v1/models/gpt-4.1-nano', false],
    ['GET', '/v1/filesystem', false],
    ['GET', '/v1/files-archive', false],
  ] as const)('%s %s → %p', (method, path, expected) => {
    expect(reaches('openai', method, path)).toBe(expected);
  });

  test('read leniently: doubled slashes, capitals, a trailing slash and suffixes still reach the files API', () => {
    for (const path of ['/v1//files', '/V1/Files', '/v1/files/', '//v1/files', '/v1/FILES/file-1/content', '/v1/files;x', '/v1/files.json']) {
      expect(reaches('openai', 'GET', path)).toBe(true);
    }
  });
});

test('a POST asking to be run as another method is matched as that method too', () => {
  expect(reaches('openai', 'POST', '/v1/responses/resp_1', { 'x-http-method-override': 'GET' })).toBe(true);
  expect(reaches('openai', 'POST', '/v1/responses/resp_1', { 'x-http-method': 'delete' })).toBe(true);
  expect(reaches('openai', 'POST', '/v1/responses/resp_1', { 'x-method-override': 'HEAD' })).toBe(true);
  expect(reaches('openai', 'POST', '/v1/responses/resp_1')).toBe(false);
});

describe('google', () => {
  test.each([
    ['GET', '/v1beta/files', true],
    ['POST', '/upload/v1beta/files', true],
    ['GET', '/download/v1beta/files/abc:download', true],
    ['GET', '/v1beta/batches/b1', true],
    ['POST', '/v1beta/cachedContents', true],
    ['GET', '/v1beta/openai/files', true],
    ['POST', '/v1beta/models/gemini-2.5-flash:batchGenerateContent', true],
    ['POST', '/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent', true],
    ['GET', '/v1beta/models/veo-3.0-generate-001/operations/op1', true],
    ['POST', '/v1beta/models/gemini-2.5-flash:generateContent', false],
    ['POST', '/v1beta/models/gemini-2.5-flash:streamGenerateContent', false],
    ['POST', '/v1beta/models/gemini-2.5-flash:countTokens', false],
    ['GET', '/v1beta/models', false],
    ['POST', '/v1beta/openai/chat/completions', false],
    ['POST', '/v1beta/models/veo-3.0-generate-001:predictLongRunning', true],
    ['GET', '/v1beta/interactions/int_1', true],
    ['DELETE', '/v1beta/interactions/int_1', true],
    ['POST', '/v1beta/interactions/int_1/cancel', true],
    ['POST', '/v1beta/interactions', false],
    ['POST', '/$rpc/google.ai.generativelanguage.v1beta.FileService/ListFiles', true],
    ['POST', '/batch', true],
  ] as const)('%s %s → %p', (method, path, expected) => {
    expect(reaches('google', method, path)).toBe(expected);
  });
});

describe('the others', () => {
  test.each([
    ['anthropic', 'GET', '/v1/messages/batches', true],
    ['anthropic', 'GET', '/v1/messages/batches/msgbatch_1/results', true],
    ['anthropic', 'GET', '/v1/files/file_1/content', true],
    ['anthropic', 'POST', '/v1/messages', false],
    ['anthropic', 'POST', '/v1/messages/count_tokens', false],
    ['xai', 'GET', '/v1/chat/deferred-completion/abc', true],
    ['xai', 'GET', '/v1/responses/resp_1', true],
    ['xai', 'POST', '/v1/responses', false],
    ['groq', 'GET', '/openai/v1/batches', true],
    ['groq', 'GET', '/v1/files', false],
    ['mistral', 'GET', '/v1/batch/jobs', true],
    ['mistral', 'GET', '/v1/files/f1/content', true],
    ['mistral', 'POST', '/v1/fim/completions', false],
    ['kimi', 'GET', '/v1/files/f1/content', true],
    ['minimax', 'GET', '/v1/files/retrieve_content', true],
    ['minimax', 'GET', '/v1/query/video_generation', true],
    ['minimax', 'POST', '/v1/text/chatcompletion_v2', false],
    ['dashscope', 'GET', '/api/v1/tasks/t1', true],
    ['dashscope', 'GET', '/compatible-mode/v1/batches', true],
    ['dashscope', 'POST', '/api/v1/services/aigc/text-generation/generation', false],
    ['cohere', 'GET', '/v1/datasets', true],
    ['cohere', 'GET', '/v1/embed-jobs/j1', true],
    ['cohere', 'POST', '/v2/chat', false],
    ['anthropic', 'GET', '/v1/vaults', true],
    ['anthropic', 'POST', '/v1/sessions', true],
    ['xai', 'POST', '/v1/documents/search', true],
    ['xai', 'GET', '/v1/videos/req_1', true],
    ['minimax', 'POST', '/v1/video_generation', true],
    ['minimax', 'POST', '/v1/get_voice', true],
    ['kimi', 'GET', '/v1/caching', true],
    ['mistral', 'DELETE', '/v1/models/ft:open-mistral-7b:abc', true],
    ['mistral', 'GET', '/v1/models', false],
    ['dashscope', 'GET', '/api/v1/fine-tunes', true],
  ] as const)('%s %s %s → %p', (slug, method, path, expected) => {
    expect(reaches(slug, method, path)).toBe(expected);
  });
  test("dashscope: an asynchronous task's start is refused, a synchronous call is not", () => {
    const video = '/api/v1/services/aigc/video-generation/video-synthesis';
    expect(reaches('dashscope', 'POST', video, { 'x-dashscope-async': 'enable' })).toBe(true);
    expect(reaches('dashscope', 'POST', video)).toBe(false);
  });
});

describe('owned collections', () => {
  test.each(PROVIDERS.filter((p) => p.storedObjects?.owned))('$slug: each is lower case and is itself a stored-object path', (p) => {
    for (const c of p.storedObjects!.owned!) {
      expect(c.path).toBe(c.path.toLowerCase());
      // A generated collection is made by a generation request on its path; its objects are stored-object paths.
      expect(reachesStoredObjects(p.storedObjects!, c.generated ? `${c.path}/x` : c.path, 'GET', new Headers())).toBe(true);
    }
  });
  test('a path names the collection or one object, its id kept as the client wrote it', () => {
    const routes = providerBySlug('openai')!.storedObjects!;
    expect(ownedTarget(routes, '/v1/files')?.id).toBeNull();
    expect(ownedTarget(routes, '/v1/files/')?.id).toBeNull();
    expect(ownedTarget(routes, '/v1/files/file-AbC')?.id).toBe('file-AbC');
    expect(ownedTarget(routes, '/v1/responses/resp_1/input_items')?.id).toBe('resp_1');
    expect(ownedTarget(routes, '/V1//Files/file-AbC/content')?.id).toBe('file-AbC');
    expect(ownedTarget(routes, '/v1/batches/batch_1/cancel')?.collection.path).toBe('/v1/batches');
    expect(ownedTarget(routes, '/v1/batches/batch_1:cancel')?.id).toBe('batch_1');
    // Path parameters dropped, as a servlet-style server drops them and as the stored-object check reads the path.
    expect(ownedTarget(routes, '/v1/files;x')?.id).toBeNull();
    expect(ownedTarget(routes, '/v1;x/files/file-AbC;y/content')?.id).toBe('file-AbC');
    expect(ownedTarget(routes, '/v1/vector_stores/vs_1')).toBeNull();
    expect(ownedTarget(providerBySlug('mistral')!.storedObjects!, '/v1/batch/jobs/job-1')?.id).toBe('job-1');
  });
});
