// Groq: OpenAI-style under /openai/v1; streams carry usage (and x_groq.usage) without being asked.
import { OPENAI_STYLE_OWNED, openAiStyle, responseRetrieval } from './openai-style.ts';

export const groq = openAiStyle({
  slug: 'groq',
  displayName: 'Groq',
  baseUrl: 'https://api.groq.com',
  chatCompletionsPath: '/openai/v1/chat/completions',
  chatCompletionsSource: 'https://console.groq.com/docs/openai',
  // Batch output files as OpenAI's, billed at 50% (https://console.groq.com/docs/batch).
  batchOutput: { path: /^\/openai\/v1\/files\/[^/]+\/content$/, priceFactor: 0.5 },
  // Model ids name their maker (`openai/gpt-oss-20b`): `models.retrieve` sends the slash as %2F
  // (https://console.groq.com/docs/models).
  slashedIdReads: /^\/openai\/v1\/models\/[^/]+$/,
  // Its Responses API: the Responses usage shapes (https://console.groq.com/docs/responses-api).
  formats: [[/^\/openai\/v1\/responses(\/|$)/, { format: 'openai-responses' }]],
  retrievals: [responseRetrieval('/openai/v1')],
  storedObjects: { prefixes: ['/openai/v1/files', '/openai/v1/batches'], owned: OPENAI_STYLE_OWNED('/openai/v1'), source: 'https://console.groq.com/docs/batch' },
});
