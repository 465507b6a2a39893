// Anthropic: x-api-key auth, anthropic-version default, messages usage cumulative over message_start/message_delta.
import type { ProviderSpec } from './types.ts';

export const anthropic: ProviderSpec = {
  slug: 'anthropic',
  displayName: 'Anthropic',
  baseUrl: 'https://api.anthropic.com',
  credential: { header: 'x-api-key', prefix: '' },
  defaultHeaders: { 'anthropic-version': '2023-06-01' },
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://platform.claude.com/docs/en/cli-sdks-libraries/libraries/openai-sdk',
  formatFor(path) {
    return path === '/v1/chat/completions' ? { format: 'openai-chat' } : { format: 'anthropic-messages' };
  },
  // Its OpenAI compatibility layer documents stream_options as fully supported.
  injectStreamUsage: { paths: /^\/v1\/chat\/completions$/ },
};
