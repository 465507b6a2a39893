// One table drives the shared suite over all twelve providers: a real fixture per call and where the credential goes.
import { anthropicRawSse, fixtureBytes, fixtureText, sseFromChunks } from './fixtures.ts';

export interface ProviderCase {
  name: string;
  slug: string;
  method: 'POST' | 'GET';
  path: string;
  search?: string;
  body?: string;
  /** How the client sends its arouter key. */
  keyIn: 'bearer' | 'x-api-key' | 'x-goog-api-key' | 'api-key' | 'query';
  credentialHeader: string;
  credentialPrefix: string;
  reply: { contentType: string; body: string | Uint8Array; gzip?: boolean };
  /** Fixture is another provider's real payload standing in (no recording exists for this provider). */
  standIn?: string;
  /** Canonical usage the row must hold: input / cached / cache_write / output / reasoning (providers.md mapping). */
  expect: [number, number, number, number, number];
}

const json = (rel: string) => ({ contentType: 'application/json', body: fixtureBytes(rel) });
const sse = (text: string, gzip = false) => ({ contentType: 'text/event-stream', body: text, gzip });
const chat = (model: string, stream = false) => JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) });
const BEARER = { credentialHeader: 'authorization', credentialPrefix: 'Bearer ' } as const;

export const PROVIDER_CASES: ProviderCase[] = [];
// Filled lazily so a missing fixture fails the test that needs it, not module load.
export function providerCases(): ProviderCase[] {
  if (PROVIDER_CASES.length) return PROVIDER_CASES;
  PROVIDER_CASES.push(
    { name: 'openai chat', slug: 'openai', method: 'POST', path: '/v1/chat/completions', body: chat('gpt-4.1-nano'), keyIn: 'bearer', ...BEARER, reply: json('openai/chat-nonstream.json'), expect: [16, 0, 0, 363, 0] },
    { name: 'openai chat stream', slug: 'openai', method: 'POST', path: '/v1/chat/completions', body: chat('gpt-4.1-nano', true), keyIn: 'bearer', ...BEARER, reply: sse(sseFromChunks('openai/chat-stream-include-usage.chunks.jsonl', 'openai')), expect: [16, 0, 0, 300, 0] },
    { name: 'openai responses', slug: 'openai', method: 'POST', path: '/v1/responses', body: JSON.stringify({ model: 'gpt-5.3-codex', input: 'hi' }), keyIn: 'bearer', ...BEARER, reply: json('openai/responses-nonstream.json'), expect: [7243, 3072, 0, 423, 58] },
    { name: 'anthropic messages', slug: 'anthropic', method: 'POST', path: '/v1/messages', body: chat('claude-sonnet-4-5'), keyIn: 'x-api-key', credentialHeader: 'x-api-key', credentialPrefix: '', reply: json('anthropic/messages-nonstream.json'), expect: [12, 0, 0, 29, 0] },
    { name: 'anthropic messages stream', slug: 'anthropic', method: 'POST', path: '/v1/messages', body: chat('claude-sonnet-4-5'), keyIn: 'x-api-key', credentialHeader: 'x-api-key', credentialPrefix: '', reply: sse(sseFromChunks('anthropic/messages-stream.chunks.jsonl', 'typed')), expect: [12, 0, 0, 30, 0] },
    { name: 'anthropic raw sse', slug: 'anthropic', method: 'POST', path: '/v1/messages', body: chat('claude-3-opus-latest'), keyIn: 'x-api-key', credentialHeader: 'x-api-key', credentialPrefix: '', reply: sse(anthropicRawSse('anthropic/messages-stream-basic-raw.sse')), expect: [11, 0, 0, 6, 0] },
    { name: 'google generateContent', slug: 'google', method: 'POST', path: '/v1beta/models/gemini-3-pro-preview:generateContent', body: '{"contents":[{"parts":[{"text":"hi"}]}]}', keyIn: 'x-goog-api-key', credentialHeader: 'x-goog-api-key', credentialPrefix: '', reply: json('gemini/generateContent.json'), expect: [9, 0, 0, 272, 244] },
    { name: 'google stream (key in query)', slug: 'google', method: 'POST', path: '/v1beta/models/gemini-3-pro-preview:streamGenerateContent', search: '?alt=sse', body: '{"contents":[{"parts":[{"text":"hi"}]}]}', keyIn: 'query', credentialHeader: 'x-goog-api-key', credentialPrefix: '', reply: sse(sseFromChunks('gemini/streamGenerateContent.chunks.jsonl', 'plain')), expect: [9, 0, 0, 208, 185] },
    { name: 'deepseek chat', slug: 'deepseek', method: 'POST', path: '/chat/completions', body: chat('deepseek-chat'), keyIn: 'bearer', ...BEARER, reply: json('deepseek/chat-nonstream.json'), expect: [13, 0, 0, 300, 0] },
    { name: 'deepseek stream', slug: 'deepseek', method: 'POST', path: '/chat/completions', body: chat('deepseek-chat', true), keyIn: 'bearer', ...BEARER, reply: sse(sseFromChunks('deepseek/chat-stream.chunks.jsonl', 'openai')), expect: [13, 0, 0, 400, 0] },
    { name: 'xai chat', slug: 'xai', method: 'POST', path: '/v1/chat/completions', body: chat('grok-3-mini'), keyIn: 'bearer', ...BEARER, reply: json('xai/chat-nonstream.json'), expect: [12, 2, 0, 229, 228] },
    { name: 'xai stream', slug: 'xai', method: 'POST', path: '/v1/chat/completions', body: chat('grok-3-mini', true), keyIn: 'bearer', ...BEARER, reply: sse(sseFromChunks('xai/chat-stream.chunks.jsonl', 'openai')), expect: [12, 11, 0, 291, 290] },
    { name: 'kimi chat', slug: 'kimi', method: 'POST', path: '/v1/chat/completions', body: chat('gpt-4.1-nano'), keyIn: 'bearer', ...BEARER, reply: json('openai/chat-nonstream.json'), standIn: 'openai/chat-nonstream.json', expect: [16, 0, 0, 363, 0] },
    { name: 'minimax chat', slug: 'minimax', method: 'POST', path: '/v1/chat/completions', body: chat('gpt-4.1-nano'), keyIn: 'api-key', ...BEARER, reply: json('openai/chat-nonstream.json'), standIn: 'openai/chat-nonstream.json', expect: [16, 0, 0, 363, 0] },
    { name: 'mistral chat', slug: 'mistral', method: 'POST', path: '/v1/chat/completions', body: chat('mistral-small-latest'), keyIn: 'bearer', ...BEARER, reply: json('mistral/chat-nonstream.json'), expect: [13, 0, 0, 434, 0] },
    { name: 'mistral stream', slug: 'mistral', method: 'POST', path: '/v1/chat/completions', body: chat('mistral-small-latest', true), keyIn: 'bearer', ...BEARER, reply: sse(sseFromChunks('mistral/chat-stream.chunks.jsonl', 'openai')), expect: [13, 0, 0, 8, 0] },
    { name: 'groq chat', slug: 'groq', method: 'POST', path: '/openai/v1/chat/completions', body: chat('llama-3.3-70b-versatile'), keyIn: 'bearer', ...BEARER, reply: json('groq/chat-nonstream.json'), expect: [45, 0, 0, 607, 0] },
    { name: 'groq stream', slug: 'groq', method: 'POST', path: '/openai/v1/chat/completions', body: chat('llama-3.3-70b-versatile', true), keyIn: 'bearer', ...BEARER, reply: sse(sseFromChunks('groq/chat-stream.chunks.jsonl', 'openai')), expect: [45, 0, 0, 662, 0] },
    { name: 'cohere chat v2', slug: 'cohere', method: 'POST', path: '/v2/chat', body: chat('command-a-03-2025'), keyIn: 'bearer', ...BEARER, reply: json('cohere/chat-v2-nonstream.json'), expect: [12, 0, 0, 7, 0] },
    { name: 'cohere chat v2 stream', slug: 'cohere', method: 'POST', path: '/v2/chat', body: JSON.stringify({ model: 'command-a-03-2025', messages: [], stream: true }), keyIn: 'bearer', ...BEARER, reply: sse(sseFromChunks('cohere/chat-v2-stream.chunks.jsonl', 'typed')), expect: [12, 0, 0, 7, 0] },
    { name: 'nvidia chat', slug: 'nvidia', method: 'POST', path: '/v1/chat/completions', body: chat('gpt-4.1-nano'), keyIn: 'bearer', ...BEARER, reply: json('openai/chat-nonstream.json'), standIn: 'openai/chat-nonstream.json', expect: [16, 0, 0, 363, 0] },
    { name: 'dashscope native', slug: 'dashscope', method: 'POST', path: '/api/v1/services/aigc/text-generation/generation', body: JSON.stringify({ model: 'qwen-max', input: { messages: [] } }), keyIn: 'bearer', ...BEARER, reply: json('dashscope/native-generation-nonstream.json'), expect: [8, 0, 0, 39, 0] },
    { name: 'dashscope native sse gzip', slug: 'dashscope', method: 'POST', path: '/api/v1/services/aigc/text-generation/generation', body: JSON.stringify({ model: 'qwen-max', input: { messages: [] } }), keyIn: 'bearer', ...BEARER, reply: sse(fixtureText('dashscope/native-generation-stream-raw.sse'), true), expect: [8, 0, 0, 40, 0] },
    { name: 'dashscope compatible', slug: 'dashscope', method: 'POST', path: '/compatible-mode/v1/chat/completions', body: chat('qwen3-max'), keyIn: 'bearer', ...BEARER, reply: json('dashscope/compatible-chat-nonstream.json'), expect: [18, 0, 0, 1064, 0] },
    { name: 'dashscope compatible stream', slug: 'dashscope', method: 'POST', path: '/compatible-mode/v1/chat/completions', body: chat('qwen3-max', true), keyIn: 'bearer', ...BEARER, reply: sse(sseFromChunks('dashscope/compatible-chat-stream.chunks.jsonl', 'openai')), expect: [18, 0, 0, 779, 0] },
  );
  return PROVIDER_CASES;
}
