// Mistral: OpenAI-style; streams carry usage on the final chunk without being asked.
import { openAiStyle } from './openai-style.ts';

export const mistral = openAiStyle({
  slug: 'mistral',
  displayName: 'Mistral',
  baseUrl: 'https://api.mistral.ai',
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://docs.mistral.ai/api/#tag/chat',
});
