// Which paths reach each provider's stored objects: the declarations, and how leniently a path is read against them.
import { describe, expect, test } from 'bun:test';
import { PROVIDERS, providerBySlug } from '../../src/providers/index.ts';
import { reachesStoredObjects } from '../../src/proxy/stored-objects.ts';

const reaches = (slug: string, method: string, path: string) => {
  const routes = providerBySlug(slug)?.storedObjects;
  if (!routes) throw new Error(`${slug} declares no stored objects`);
  return reachesStoredObjects(routes, path, method);
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
  });
  test.each(PROVIDERS.filter((p) => p.storedObjects))('$slug: a kept-off key can still make chat completions', (p) => {
    expect(reachesStoredObjects(p.storedObjects!, p.chatCompletionsPath, 'POST')).toBe(false);
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
    ['POST', '/v1/responses', false],
    ['POST', '/v1/responses/input_tokens', false],
    ['POST', '/v1/chat/completions', false],
    ['POST', '/v1/embeddings', false],
    ['GET', '/v1/models', false],
    ['GET', '/v1/filesystem', false],
  ] as const)('%s %s → %p', (method, path, expected) => {
    expect(reaches('openai', method, path)).toBe(expected);
  });

  test('read leniently: doubled slashes, capitals and a trailing slash still reach the files API', () => {
    for (const path of ['/v1//files', '/V1/Files', '/v1/files/', '//v1/files', '/v1/FILES/file-1/content']) {
      expect(reaches('openai', 'GET', path)).toBe(true);
    }
  });
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
  ] as const)('%s %s %s → %p', (slug, method, path, expected) => {
    expect(reaches(slug, method, path)).toBe(expected);
  });
});
