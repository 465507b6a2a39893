// Dashscope (Alibaba): native text-generation (cumulative usage per event, SSE via header) and compatible-mode.
import { batchOutputChoice, OPENAI_STYLE_OWNED, RESPONSE_READ } from './openai-style.ts';
import type { ProviderSpec } from './types.ts';

// Compatible-mode batches write OpenAI-shaped output files; only successful requests are billed, at 50%
// (https://www.alibabacloud.com/help/en/model-studio/batch-interfaces-compatible-with-openai).
const BATCH_OUTPUT = /^\/compatible-mode\/v1\/files\/[^/]+\/content$/;
const BATCH_CHOICE = batchOutputChoice(0.5);
// Its OpenAI Responses-compatible API: the Responses shapes, usage in `usage` or `response.usage`. The current path
// and the legacy one it replaces, both served
// (https://help.aliyun.com/en/model-studio/compatibility-with-openai-responses-api).
const RESPONSES_BASE = '(?:api\\/v2\\/apps\\/protocols\\/)?compatible-mode\\/v1\\/responses';
const RESPONSES = new RegExp(`^\\/${RESPONSES_BASE}(\\/|$)`);
/** A stored response read back whole, usage included: counted when it was created. */
const RESPONSE_GET = new RegExp(`^\\/${RESPONSES_BASE}\\/[^/]+$`);

export const dashscope: ProviderSpec = {
  slug: 'dashscope',
  displayName: 'Alibaba Dashscope',
  baseUrl: 'https://dashscope.aliyuncs.com',
  credential: { header: 'authorization', prefix: 'Bearer ' },
  chatCompletionsPath: '/compatible-mode/v1/chat/completions',
  chatCompletionsSource: 'https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope',
  formatFor(path, method) {
    if (method === 'GET' && BATCH_OUTPUT.test(path)) return BATCH_CHOICE;
    if (method === 'GET' && RESPONSE_GET.test(path)) return RESPONSE_READ;
    if (RESPONSES.test(path)) return { format: 'openai-responses' };
    return path.startsWith('/compatible-mode/') ? { format: 'openai-chat' } : { format: 'dashscope-native' };
  },
  streamRequested: (req) =>
    req.headers.get('x-dashscope-sse') === 'enable' || (req.headers.get('accept') ?? '').includes('text/event-stream'),
  injectStreamUsage: { paths: /^\/compatible-mode\/v1\/chat\/completions$/ },
  // Asynchronous tasks (image and video generation) are readable by any key of the owning cloud account; their start
  // (X-DashScope-Async: enable) is refused too, since a kept-off key could never collect the result.
  storedObjects: {
    prefixes: ['/compatible-mode/v1/files', '/compatible-mode/v1/batches', '/api/v1/files', '/api/v1/tasks', '/api/v1/fine-tunes', '/api/v1/deployments'],
    routes: [
      { methods: ['POST'], path: /^\/api\/v1\/services\//, header: ['x-dashscope-async', /^\s*enable\s*$/i] },
      // A stored response, read, deleted or listed for its input items by id; and cancelled.
      { methods: ['GET', 'DELETE'], path: new RegExp(`^\\/${RESPONSES_BASE}\\/[^/]+`) },
      { methods: ['POST'], path: new RegExp(`^\\/${RESPONSES_BASE}\\/[^/]+\\/cancel(?![a-z0-9_-])`) },
    ],
    owned: OPENAI_STYLE_OWNED('/compatible-mode/v1'),
    bodyReferences: {
      paths: /^\/(?:compatible-mode\/v1\/(?:chat\/completions|responses)|api\/v1\/services\/|api\/v2\/apps\/protocols\/compatible-mode\/v1\/responses)/,
      refs: [
        // Qwen-Long reads uploaded files named in a system message, several joined by commas: `fileid://file-fe-...`.
        { members: ['*'], pattern: /fileid:\/\/([^\s,"'\]]+)/, owned: true },
        // A temporary upload (`oss://...`, resolved with X-DashScope-OssResourceResolve) and a stored response.
        { members: ['*'], pattern: /^oss:\/\// },
        { members: ['previous_response_id'], parents: [''] },
      ],
    },
    source: 'https://www.alibabacloud.com/help/en/model-studio/batch-interfaces-compatible-with-openai; https://www.alibabacloud.com/help/en/model-studio/manage-asynchronous-tasks',
  },
};
