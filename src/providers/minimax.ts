// MiniMax: native chatcompletion_v2 (errors as HTTP 200 with base_resp) and an OpenAI-style endpoint.
import { openAiStyle, RESPONSE_RETRIEVAL } from './openai-style.ts';

export const minimax = openAiStyle({
  slug: 'minimax',
  displayName: 'MiniMax',
  baseUrl: 'https://api.minimax.chat',
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://platform.minimax.io/docs/api-reference/text-openai-api',
  retrievals: [RESPONSE_RETRIEVAL],
  // Besides its native API: Anthropic-compatible messages (base .../anthropic) and the Responses API, each with its own
  // usage shapes (https://platform.minimax.io/docs/api-reference/text-anthropic-api, .../responses-create).
  formats: [
    [/^\/v1\/text\/chatcompletion_v2$/, { format: 'minimax-native' }],
    [/^\/anthropic\/v1\/messages$/, { format: 'anthropic-messages' }],
    [/^\/v1\/responses(\/|$)/, { format: 'openai-responses' }],
  ],
  // Files (upload, list, retrieve, retrieve_content, delete), cloned voices, and asynchronous video generation (its
  // start too: a kept-off key could never collect the result of a job it started).
  storedObjects: {
    prefixes: ['/v1/files', '/v1/query', '/v1/video_generation', '/v1/get_voice', '/v1/delete_voice'],
    // Its files are named by a numeric `file_id` (voice cloning) or as `mm_file://{id}` in a media URL.
    bodyReferences: { paths: /^\/v1\//, refs: [{ members: ['file_id'], parents: [''] }, { members: ['*'], pattern: /^mm_file:\/\// }], formFields: ['file_id'] },
    source: 'https://platform.minimax.io/docs/api-reference/file-management-list; https://platform.minimax.io/docs/api-reference/video-generation-query',
  },
});
