// NVIDIA NIM: OpenAI-style; stream usage only when asked (unverified: no fixture, follows OpenAI).
import { openAiStyle } from './openai-style.ts';

export const nvidia = openAiStyle({
  slug: 'nvidia',
  displayName: 'NVIDIA',
  baseUrl: 'https://integrate.api.nvidia.com',
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://docs.api.nvidia.com/nim/reference/llm-apis',
  injectUsageOn: /^\/v1\/chat\/completions$/,
  // Model ids name their maker (`meta/llama-3.1-8b-instruct`): `models.retrieve` sends the slash as %2F.
  slashedIdReads: /^\/v1\/models\/[^/]+$/,
});
