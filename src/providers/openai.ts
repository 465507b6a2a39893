// OpenAI: Bearer auth; chat completions report stream usage only when asked; Responses API has its own usage shape.
import { FILE_CONTENT, openAiStyle, RESPONSE_RETRIEVAL } from './openai-style.ts';

export const openai = openAiStyle({
  slug: 'openai',
  displayName: 'OpenAI',
  baseUrl: 'https://api.openai.com',
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://platform.openai.com/docs/api-reference/chat/create',
  injectUsageOn: /^\/v1\/chat\/completions$/,
  formats: [[/^\/v1\/responses(\/|$)/, { format: 'openai-responses' }]],
  // A batch's output file (GET /v1/files/{output_file_id}/content) is where its usage is first seen; the Batch API
  // costs 50% of the synchronous rates (https://openai.com/api/pricing/, "Batch API").
  batchOutput: { path: FILE_CONTENT, priceFactor: 0.5 },
  // Stored completions (store: true) are read back at GET /v1/chat/completions/{id}.
  retrievals: [RESPONSE_RETRIEVAL, [/^\/v1\/chat\/completions\/[^/]+$/, { format: 'openai-chat', options: { retrieval: true } }]],
});
