// xAI: OpenAI-style, but completion_tokens excludes reasoning tokens (its fixture: 12 + 1 + 290 = 303 total).
import { openAiStyle, RESPONSE_RETRIEVAL, STORED_RESPONSE } from './openai-style.ts';

export const xai = openAiStyle({
  slug: 'xai',
  displayName: 'xAI',
  baseUrl: 'https://api.x.ai',
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://docs.x.ai/docs/api-reference#chat-completions',
  injectUsageOn: /^\/v1\/chat\/completions$/,
  chatOptions: { reasoningOutsideCompletion: true },
  // /v1/messages is its Anthropic-compatible endpoint: Anthropic's answer and stream shapes, usage included.
  formats: [
    [/^\/v1\/responses(\/|$)/, { format: 'openai-responses' }],
    [/^\/v1\/messages$/, { format: 'anthropic-messages' }],
  ],
  retrievals: [RESPONSE_RETRIEVAL],
  storedObjects: {
    // Collections are searched by id on the same key; video results are fetched by request id.
    prefixes: ['/v1/files', '/v1/batches', '/v1/documents', '/v1/videos'],
    // A deferred completion is fetched later by the request id its creation returned.
    routes: [STORED_RESPONSE, { methods: ['GET'], path: /^\/v1\/chat\/deferred-completion\// }],
    // Its batches are its own shape (requests added to a batch, results read by page): files only.
    owned: [{ path: '/v1/files' }],
    bodyReferences: {
      paths: /^\/v1\/(?:chat\/completions|responses|messages)(?![a-z0-9_-])/,
      refs: [
        { members: ['file_id'], owned: true, where: ['type', ['input_file', 'input_image', 'file']] },
        { members: ['file_id'], owned: true, parents: ['file'] },
        { members: ['previous_response_id'], parents: [''] },
        { members: ['vector_store_ids'], where: ['type', ['file_search']] },
        // A deferred completion is collected from the deferred-completion API, which restricted keys cannot reach.
        { members: ['deferred'], parents: [''], pattern: /^(?:true|1)$/i },
      ],
    },
    source: 'https://docs.x.ai/docs/api-reference; https://docs.x.ai/docs/guides/deferred-chat-completions',
  },
});
