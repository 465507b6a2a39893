// Anthropic: x-api-key auth, anthropic-version default, messages usage cumulative over message_start/message_delta.
import type { ProviderSpec } from './types.ts';

export const anthropic: ProviderSpec = {
  slug: 'anthropic',
  displayName: 'Anthropic',
  baseUrl: 'https://api.anthropic.com',
  credential: { header: 'x-api-key', prefix: '' },
  defaultHeaders: { 'anthropic-version': '2023-06-01' },
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://docs.anthropic.com/en/api/openai-sdk',
  formatFor(path) {
    return path === '/v1/chat/completions' ? { format: 'openai-chat' } : { format: 'anthropic-messages' };
  },
};
