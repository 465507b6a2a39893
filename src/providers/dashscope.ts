// Dashscope (Alibaba): native text-generation (cumulative usage per event, SSE via header) and compatible-mode.
import type { ProviderSpec } from './types.ts';

export const dashscope: ProviderSpec = {
  slug: 'dashscope',
  displayName: 'Alibaba Dashscope',
  baseUrl: 'https://dashscope.aliyuncs.com',
  credential: { header: 'authorization', prefix: 'Bearer ' },
  chatCompletionsPath: '/compatible-mode/v1/chat/completions',
  chatCompletionsSource: 'https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope',
  formatFor(path) {
    return path.startsWith('/compatible-mode/') ? { format: 'openai-chat' } : { format: 'dashscope-native' };
  },
  streamRequested: (req) =>
    req.headers.get('x-dashscope-sse') === 'enable' || (req.headers.get('accept') ?? '').includes('text/event-stream'),
  injectStreamUsage: { paths: /^\/compatible-mode\/v1\/chat\/completions$/ },
};
