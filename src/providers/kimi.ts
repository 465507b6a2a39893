// Kimi (Moonshot): OpenAI-style; stream usage sits in choices[0].usage of the final chunk (unverified: no fixture).
import { FILE_CONTENT, OPENAI_STYLE_OWNED, openAiStyle, RESPONSE_RETRIEVAL } from './openai-style.ts';

export const kimi = openAiStyle({
  slug: 'kimi',
  displayName: 'Kimi (Moonshot)',
  baseUrl: 'https://api.moonshot.cn',
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://platform.kimi.com/docs/api/overview',
  // Batch output files as OpenAI's; the batch API saves 40% (https://platform.kimi.ai/docs/guide/use-batch-api).
  batchOutput: { path: FILE_CONTENT, priceFactor: 0.6 },
  retrievals: [RESPONSE_RETRIEVAL],
  // Its Responses API and Anthropic-compatible messages (base .../anthropic), each with its own usage shapes
  // (platform.kimi.ai/docs/api/overview).
  formats: [
    [/^\/v1\/responses(\/|$)/, { format: 'openai-responses' }],
    [/^\/anthropic\/v1\/messages$/, { format: 'anthropic-messages' }],
  ],
  storedObjects: {
    prefixes: ['/v1/files', '/v1/batches', '/v1/caching'],
    owned: OPENAI_STYLE_OWNED('/v1'),
    bodyReferences: {
      paths: /^\/v1\/chat\/completions(?![a-z0-9_-])/,
      refs: [
        // An uploaded image or video named as `ms://{file id}`.
        { members: ['url'], parents: ['image_url', 'video_url'], pattern: /^ms:\/\/([^\s/?#]+)/, owned: true },
        // A context cache, named in a `cache` role message (`cache_id=...;reset_ttl=...`, in whatever content form).
        { members: ['role'], pattern: /^cache$/i },
      ],
      // The same cache named by header instead.
      headers: ['x-msh-context-cache'],
    },
    source: 'https://platform.kimi.com/docs/api/overview (files, batch, context caching)',
  },
});
