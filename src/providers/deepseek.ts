// DeepSeek: OpenAI-style; with include_usage the usage rides on the finish chunk itself.
import { openAiStyle } from './openai-style.ts';

export const deepseek = openAiStyle({
  slug: 'deepseek',
  displayName: 'DeepSeek',
  baseUrl: 'https://api.deepseek.com',
  chatCompletionsPath: '/chat/completions',
  chatCompletionsSource: 'https://api-docs.deepseek.com/api/create-chat-completion',
  // Chat, and FIM completion on the beta base (/beta/completions), both take stream_options.
  injectUsageOn: /^(\/v1|\/beta)?\/(chat\/)?completions$/,
  // Its Anthropic-compatible endpoint (base https://api.deepseek.com/anthropic): Anthropic's shapes, usage included
  // (https://api-docs.deepseek.com/guides/anthropic_api).
  formats: [[/^\/anthropic\/v1\/messages$/, { format: 'anthropic-messages' }]],
});
