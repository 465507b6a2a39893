// normalizeSnippet and the per-format rules fixtures alone do not exercise (variants built from the real payloads).
import { describe, expect, test } from 'bun:test';
import { providerBySlug, PROVIDERS } from '../../src/providers/index.ts';
import { formatById, USAGE_FORMATS } from '../../src/usage/formats/index.ts';
import { normalizeSnippet } from '../../src/usage/normalize.ts';
import type { CanonicalUsage, Capture, Outcome } from '../../src/usage/snippet.ts';
import { captureWholeBody } from '../../src/usage/capture.ts';
import { MAX_CAPTURED_VALUE_BYTES } from '../../src/usage/json-capture.ts';
import { captureOf, chunked, chunkLines, fixtureText, snippet } from './usage-wire.ts';

const enc = (s: string) => new TextEncoder().encode(s);
type Json = Record<string, unknown>;

function jsonFixture(rel: string): Json {
  return JSON.parse(fixtureText(rel).replace(/^\uFEFF/, '')) as Json;
}

function fromJson(format: string, body: unknown, opts: { status?: number; outcome?: Outcome; formatOptions?: Record<string, boolean> } = {}): CanonicalUsage {
  const capture = captureOf(format, 'application/json', [enc(JSON.stringify(body))]);
  return normalizeSnippet(snippet({ format, capture, ...opts }));
}

function fromSse(format: string, wire: string, outcome: Outcome = 'complete', status = 200): CanonicalUsage {
  const capture = captureOf(format, 'text/event-stream', [enc(wire)]);
  return normalizeSnippet(snippet({ format, capture, outcome, status }));
}

/** [input, cached, cacheWrite, output, reasoning, status] */
function nums(u: CanonicalUsage): [number, number, number, number, number, string] {
  return [u.input_tokens, u.cached_input_tokens, u.cache_write_tokens, u.output_tokens, u.reasoning_tokens, u.usage_status];
}

describe('normalizeSnippet', () => {
  test('an unknown format id throws, naming it', () => {
    expect(() => normalizeSnippet(snippet({ format: 'no-such-format', capture: { kind: 'none' } }))).toThrow(/no-such-format/);
  });

  test('none and error captures are missing with zero counts and the request model', () => {
    for (const capture of [{ kind: 'none' }, { kind: 'error', message: 'x' }] as Capture[]) {
      for (const f of USAGE_FORMATS) {
        const u = normalizeSnippet(snippet({ format: f.id, capture, requestModel: 'm-req' }));
        expect(u).toEqual({
          model: 'm-req', input_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0,
          output_tokens: 0, reasoning_tokens: 0, usage_status: 'missing',
        });
      }
    }
  });

  test('every format a provider module can choose exists', () => {
    const paths = ['/v1/chat/completions', '/v1/responses', '/v1/messages', '/v2/chat', '/v2/embed', '/v1/embeddings',
      '/v1beta/models/gemini-2.0-flash:generateContent', '/v1/text/chatcompletion_v2',
      '/api/v1/services/aigc/text-generation/generation', '/compatible-mode/v1/chat/completions', '/compatibility/v1/chat/completions'];
    for (const p of PROVIDERS) for (const path of paths) expect(formatById(p.formatFor(path, 'POST').format)).toBeDefined();
  });

  test('counts are non-negative integers and parts never exceed their whole', () => {
    const u = fromJson('openai-chat', {
      usage: { prompt_tokens: 10.7, completion_tokens: -5, total_tokens: 6, prompt_tokens_details: { cached_tokens: 50, cache_write_tokens: 3 },
        completion_tokens_details: { reasoning_tokens: '7' } },
    });
    expect(nums(u)).toEqual([10, 10, 0, 0, 0, 'reported']);
  });
});

describe('openai-chat family', () => {
  test('image and transcription endpoints: Responses-style input_tokens / output_tokens are read (unverified: documented shape)', () => {
    const u = fromJson('openai-chat', { created: 1, data: [], usage: { total_tokens: 4200, input_tokens: 50, output_tokens: 4150, input_tokens_details: { text_tokens: 50, image_tokens: 0 } } });
    expect(nums(u)).toEqual([50, 0, 0, 4150, 0, 'reported']);
  });

  test('a usage object with no token count (Whisper bills seconds) is missing, not zero tokens reported', () => {
    expect(nums(fromJson('openai-chat', { text: 'hi', usage: { type: 'duration', seconds: 3 } }))).toEqual([0, 0, 0, 0, 0, 'missing']);
  });

  test('DeepSeek prompt_cache_hit_tokens is the cached count (real body with a cache hit)', () => {
    const body = jsonFixture('deepseek/chat-nonstream.json');
    body.usage = { ...(body.usage as Json), prompt_cache_hit_tokens: 8, prompt_cache_miss_tokens: 5 };
    expect(nums(fromJson('openai-chat', body))).toEqual([13, 8, 0, 300, 0, 'reported']);
  });

  test('Moonshot top-level cached_tokens (unverified: family rule)', () => {
    const u = fromJson('openai-chat', { model: 'kimi-k2', usage: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25, cached_tokens: 16 } });
    expect([...nums(u), u.model]).toEqual([20, 16, 0, 5, 0, 'reported', 'kimi-k2']);
  });

  test('Kimi stream: usage inside choices[0] of the final chunk (unverified: family rule)', () => {
    const wire = [
      'data: {"id":"c1","model":"kimi-k2","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n',
      'data: {"id":"c1","model":"kimi-k2","choices":[{"index":0,"delta":{},"finish_reason":"stop","usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"cached_tokens":4}}]}\n\n',
      'data: [DONE]\n\n',
    ].join('');
    expect(nums(fromSse('openai-chat', wire))).toEqual([9, 4, 0, 2, 0, 'reported']);
  });

  test('Groq: x_groq.usage alone is enough (the real final chunk without its top-level copy)', () => {
    const lines = chunkLines('groq/chat-stream.chunks.jsonl');
    const last = JSON.parse(lines.at(-1) as string) as Json;
    delete last.usage;
    const wire = `data: ${lines[0]}\n\ndata: ${JSON.stringify(last)}\n\ndata: [DONE]\n\n`;
    expect(nums(fromSse('openai-chat', wire))).toEqual([45, 0, 0, 662, 0, 'reported']);
  });

  test('zero placeholders (MiniMax-style) never win over the real usage, before or after it', () => {
    const zero = '"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}';
    const wire = [
      `data: {"model":"MiniMax-M1","choices":[{"index":0,"delta":{"content":"a"}}],${zero}}\n\n`,
      'data: {"model":"MiniMax-M1","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":7,"total_tokens":37}}\n\n',
      `data: {"model":"MiniMax-M1","choices":[{"index":0,"delta":{}}],${zero}}\n\n`,
    ].join('');
    expect(nums(fromSse('openai-chat', wire))).toEqual([30, 0, 0, 7, 0, 'reported']);
  });

  test('cache_write_tokens and reasoning are read from the details objects', () => {
    const body = jsonFixture('openai/chat-nonstream.json');
    body.usage = { ...(body.usage as Json), prompt_tokens_details: { cached_tokens: 4, cache_write_tokens: 6 }, completion_tokens_details: { reasoning_tokens: 100 } };
    expect(nums(fromJson('openai-chat', body))).toEqual([16, 4, 6, 363, 100, 'reported']);
  });

  test('without the xAI option, reasoning stays inside completion (the same real body reads differently)', () => {
    const body = jsonFixture('xai/chat-nonstream.json');
    expect(nums(fromJson('openai-chat', body))).toEqual([12, 2, 0, 1, 1, 'reported']);
    expect(nums(fromJson('openai-chat', body, { formatOptions: { reasoningOutsideCompletion: true } }))).toEqual([12, 2, 0, 229, 228, 'reported']);
  });

  test('an error chunk inside a 200 stream is a provider error', () => {
    const wire = 'data: {"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":"x"}}]}\n\ndata: {"error":{"type":"server_error","message":"The server had an error"}}\n\n';
    const u = fromSse('openai-chat', wire, 'complete');
    expect([u.usage_status, u.provider_error, u.model]).toEqual(['missing', 'server_error: The server had an error', 'gpt-4.1']);
  });

  test('MiniMax base_resp with a non-zero status on HTTP 200 is a provider error (unverified)', () => {
    const body = { base_resp: { status_code: 1004, status_msg: 'authorized error' } };
    expect(fromJson('openai-chat', body).provider_error).toBe('base_resp 1004: authorized error');
    expect(fromJson('minimax-native', body).provider_error).toBe('base_resp 1004: authorized error');
    expect(fromJson('minimax-native', body, { status: 401 }).provider_error).toBeUndefined();
  });
});

describe('minimax-native (unverified)', () => {
  test('usage.prompt_tokens / completion_tokens, body and stream', () => {
    const u = fromJson('minimax-native', { model: 'MiniMax-Text-01', usage: { total_tokens: 50, prompt_tokens: 40, completion_tokens: 10 }, base_resp: { status_code: 0, status_msg: '' } });
    expect([...nums(u), u.model, u.provider_error]).toEqual([40, 0, 0, 10, 0, 'reported', 'MiniMax-Text-01', undefined]);
    const wire = [
      'data: {"model":"MiniMax-Text-01","choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"total_tokens":0}}\n\n',
      'data: {"model":"MiniMax-Text-01","choices":[],"usage":{"total_tokens":12,"prompt_tokens":9,"completion_tokens":3},"base_resp":{"status_code":0,"status_msg":""}}\n\n',
    ].join('');
    expect(nums(fromSse('minimax-native', wire))).toEqual([9, 0, 0, 3, 0, 'reported']);
  });

  test('a failing base_resp inside a 200 stream is a provider error', () => {
    const u = fromSse('minimax-native', 'data: {"base_resp":{"status_code":1008,"status_msg":"insufficient balance"}}\n\n');
    expect([u.usage_status, u.provider_error]).toEqual(['missing', 'base_resp 1008: insufficient balance']);
  });
});

describe('cached tokens left out of the prompt count', () => {
  // xAI's grok-4-1-fast reports prompt_tokens without the cached part (4142 + 4328 cached + 254 = 8724 total); the
  // total tells the two readings apart. The real fixtures, whose totals include the cache, stay as they are.
  test('chat: when only prompt + cached + completion adds up to the total, input is prompt + cached', () => {
    const body = jsonFixture('xai/chat-nonstream.json');
    body.usage = { prompt_tokens: 4142, completion_tokens: 254, total_tokens: 8724, prompt_tokens_details: { cached_tokens: 4328 } };
    expect(nums(fromJson('openai-chat', body))).toEqual([8470, 4328, 0, 254, 0, 'reported']);
    body.usage = { prompt_tokens: 4142, completion_tokens: 254, total_tokens: 4396, prompt_tokens_details: { cached_tokens: 4000 } };
    expect(nums(fromJson('openai-chat', body))).toEqual([4142, 4000, 0, 254, 0, 'reported']);
    body.usage = { prompt_tokens: 4142, completion_tokens: 254, prompt_tokens_details: { cached_tokens: 4328 } };
    expect(nums(fromJson('openai-chat', body))).toEqual([4142, 4142, 0, 254, 0, 'reported']);
  });

  test('responses: the same rule on input_tokens / output_tokens / total_tokens', () => {
    const body = jsonFixture('openai/responses-nonstream.json');
    body.usage = { input_tokens: 4142, output_tokens: 254, total_tokens: 8724, input_tokens_details: { cached_tokens: 4328 }, output_tokens_details: { reasoning_tokens: 0 } };
    expect(nums(fromJson('openai-responses', body))).toEqual([8470, 4328, 0, 254, 0, 'reported']);
    expect(nums(fromJson('openai-responses', jsonFixture('openai/responses-nonstream.json')))).toEqual([7243, 3072, 0, 423, 58, 'reported']);
  });
});

describe('openai-responses', () => {
  test('a stored response read back (GET /v1/responses/{id}) does not count its usage again', () => {
    const body = jsonFixture('openai/responses-nonstream.json');
    expect(nums(fromJson('openai-responses', body))).toEqual([7243, 3072, 0, 423, 58, 'reported']);
    expect(nums(fromJson('openai-responses', body, { formatOptions: { retrieval: true } }))).toEqual([0, 0, 0, 0, 0, 'missing']);
  });

  test('a background response is counted when it is read back finished (its creating request had no usage yet)', () => {
    const finished = { ...jsonFixture('openai/responses-nonstream.json'), background: true };
    expect(nums(fromJson('openai-responses', finished, { formatOptions: { retrieval: true } }))).toEqual([7243, 3072, 0, 423, 58, 'reported']);
    const queued = { ...finished, status: 'queued', usage: null };
    expect(nums(fromJson('openai-responses', queued))).toEqual([0, 0, 0, 0, 0, 'missing']);
  });

  test('a background response names its usage by response id (only the first report counts it); nothing else does', () => {
    const plain = jsonFixture('openai/responses-nonstream.json');
    const finished = { ...plain, background: true };
    const key = `response:${plain.id as string}`;
    expect(fromJson('openai-responses', finished, { formatOptions: { retrieval: true } }).once_key).toBe(key);
    expect(fromJson('openai-responses', finished).once_key).toBe(key);
    expect(fromJson('openai-responses', plain).once_key).toBeUndefined();
    expect(fromJson('openai-responses', { ...finished, status: 'queued', usage: null }).once_key).toBeUndefined();
    // Created streamed: the terminal event carries the response, usage and id included.
    const wire = event('response.created', { ...finished, status: 'in_progress', usage: null, output: [] }) + event('response.completed', finished);
    expect(fromSse('openai-responses', wire).once_key).toBe(key);
  });

  test('a stored chat completion read back (GET /v1/chat/completions/{id}) does not count its usage again', () => {
    const body = jsonFixture('openai/chat-nonstream.json');
    expect(nums(fromJson('openai-chat', body, { formatOptions: { retrieval: true } }))).toEqual([0, 0, 0, 0, 0, 'missing']);
  });

  test('OpenAI and xAI mark GET reads of stored objects as retrievals, and nothing else', () => {
    const openai = providerBySlug('openai')!;
    expect(openai.formatFor('/v1/responses/resp_123', 'GET')).toEqual({ format: 'openai-responses', options: { retrieval: true } });
    expect(openai.formatFor('/v1/chat/completions/chatcmpl_1', 'GET')).toEqual({ format: 'openai-chat', options: { retrieval: true } });
    expect(openai.formatFor('/v1/responses', 'POST')).toEqual({ format: 'openai-responses' });
    expect(openai.formatFor('/v1/responses/resp_123/input_items', 'GET')).toEqual({ format: 'openai-responses' });
    expect(openai.formatFor('/v1/chat/completions', 'POST')).toEqual({ format: 'openai-chat' });
    expect(providerBySlug('xai')!.formatFor('/v1/responses/resp_1', 'GET').options).toEqual({ retrieval: true });
    expect(providerBySlug('deepseek')!.formatFor('/chat/completions', 'GET').options).toBeUndefined();
  });

  test('every provider with a Responses API marks a stored response read back as a retrieval (its creation counted it)', () => {
    const reads: Array<[string, string, string]> = [
      ['kimi', '/v1/responses/resp_1', '/v1/responses'],
      ['minimax', '/v1/responses/resp_1', '/v1/responses'],
      ['groq', '/openai/v1/responses/resp_1', '/openai/v1/responses'],
      ['dashscope', '/compatible-mode/v1/responses/resp_1', '/compatible-mode/v1/responses'],
      ['dashscope', '/api/v2/apps/protocols/compatible-mode/v1/responses/resp_1', '/api/v2/apps/protocols/compatible-mode/v1/responses'],
    ];
    const body = jsonFixture('openai/responses-nonstream.json');
    for (const [slug, read, create] of reads) {
      const provider = providerBySlug(slug)!;
      const choice = provider.formatFor(read, 'GET');
      expect([slug, choice]).toEqual([slug, { format: 'openai-responses', options: { retrieval: true } }]);
      expect(nums(fromJson(choice.format, body, { formatOptions: { retrieval: choice.options?.retrieval === true } }))).toEqual([0, 0, 0, 0, 0, 'missing']);
      expect([slug, provider.formatFor(create, 'POST')]).toEqual([slug, { format: 'openai-responses' }]);
      expect([slug, provider.formatFor(`${read}/input_items`, 'GET').options]).toEqual([slug, undefined]);
      expect([slug, provider.formatFor(read, 'DELETE').options]).toEqual([slug, undefined]);
    }
  });

  test("updating a stored chat completion's metadata (POST /v1/chat/completions/{id}) returns it whole: a retrieval too", () => {
    const openai = providerBySlug('openai')!;
    expect(openai.formatFor('/v1/chat/completions/chatcmpl_1', 'POST')).toEqual({ format: 'openai-chat', options: { retrieval: true } });
    expect(openai.formatFor('/v1/chat/completions/chatcmpl_1/messages', 'GET')).toEqual({ format: 'openai-chat' });
  });

  test("OpenAI-shaped APIs at other providers' own paths are read in their own shape", () => {
    const responses = { format: 'openai-responses' };
    expect(providerBySlug('dashscope')!.formatFor('/api/v2/apps/protocols/compatible-mode/v1/responses', 'POST')).toEqual(responses);
    expect(providerBySlug('dashscope')!.formatFor('/api/v1/services/aigc/text-generation/generation', 'POST')).toEqual({ format: 'dashscope-native' });
    expect(providerBySlug('xai')!.formatFor('/v1/messages', 'POST')).toEqual({ format: 'anthropic-messages' });
  });

  test('streamed legacy and FIM completions get include_usage like chat', () => {
    const injects = (slug: string, path: string) => !!providerBySlug(slug)!.injectStreamUsage?.paths.test(path);
    expect(['/v1/chat/completions', '/v1/completions'].map((p) => injects('openai', p))).toEqual([true, true]);
    expect(['/chat/completions', '/v1/chat/completions', '/beta/completions', '/beta/chat/completions'].map((p) => injects('deepseek', p))).toEqual([true, true, true, true]);
    expect(injects('openai', '/v1/completions/x')).toBe(false);
  });

  const response = jsonFixture('openai/responses-nonstream.json');
  const event = (type: string, r: Json) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: 1, response: r })}\n\n`;

  test('stream: response.created (usage null) then response.completed (the real response)', () => {
    const wire = event('response.created', { ...response, status: 'in_progress', usage: null, output: [] }) + event('response.completed', response);
    const u = fromSse('openai-responses', wire);
    expect([...nums(u), u.model]).toEqual([7243, 3072, 0, 423, 58, 'reported', 'gpt-5.3-codex']);
  });

  test('stream cut after response.created: missing, model from response.created', () => {
    const u = fromSse('openai-responses', event('response.created', { ...response, usage: null }), 'client_abort');
    expect([u.usage_status, u.model]).toEqual(['missing', 'gpt-5.3-codex']);
  });

  test('response.incomplete and response.failed also carry usage; failed carries the error', () => {
    expect(nums(fromSse('openai-responses', event('response.incomplete', { ...response, status: 'incomplete' })))[0]).toBe(7243);
    const failed = fromSse('openai-responses', event('response.failed', { ...response, status: 'failed', error: { code: 'server_error', message: 'boom' } }));
    expect([failed.input_tokens, failed.provider_error]).toEqual([7243, 'server_error: boom']);
  });

  test('stream without event lines: the type in the data is enough', () => {
    const wire = `data: ${JSON.stringify({ type: 'response.completed', response })}\n\n`;
    expect(nums(fromSse('openai-responses', wire))[3]).toBe(423);
  });
});

describe('anthropic-messages', () => {
  test('input includes cache reads and writes (real body with cache counts)', () => {
    const body = jsonFixture('anthropic/messages-nonstream.json');
    body.usage = { ...(body.usage as Json), cache_creation_input_tokens: 100, cache_read_input_tokens: 200 };
    expect(nums(fromJson('anthropic-messages', body))).toEqual([312, 200, 100, 29, 0, 'reported']);
  });

  test('one-hour cache writes are told apart in cache_creation, so they can be priced at their own rate', () => {
    const body = jsonFixture('anthropic/messages-nonstream.json');
    body.usage = { ...(body.usage as Json), cache_creation_input_tokens: 100, cache_creation: { ephemeral_5m_input_tokens: 60, ephemeral_1h_input_tokens: 40 } };
    const u = fromJson('anthropic-messages', body);
    expect(nums(u)).toEqual([112, 0, 100, 29, 0, 'reported']);
    expect(u.cache_write_1h_tokens).toBe(40);
    expect(fromJson('anthropic-messages', jsonFixture('anthropic/messages-nonstream.json')).cache_write_1h_tokens).toBeUndefined();
  });

  test('message_delta overlays every non-null field, including changed input counts (server tools)', () => {
    const lines = chunkLines('anthropic/messages-stream.chunks.jsonl');
    const start = lines[0] as string;
    const delta = '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":40,"cache_creation_input_tokens":null,"cache_read_input_tokens":5,"output_tokens":30}}';
    const wire = `event: message_start\ndata: ${start}\n\nevent: message_delta\ndata: ${delta}\n\n`;
    expect(nums(fromSse('anthropic-messages', wire))).toEqual([45, 5, 0, 30, 0, 'reported']);
  });

  test('a reported thinking count (output_tokens_details.thinking_tokens) is the reasoning part of output, whole or streamed', () => {
    const body = jsonFixture('anthropic/messages-nonstream.json');
    body.usage = { ...(body.usage as Json), output_tokens_details: { thinking_tokens: 20 } };
    expect(nums(fromJson('anthropic-messages', body))).toEqual([12, 0, 0, 29, 20, 'reported']);
    const start = chunkLines('anthropic/messages-stream.chunks.jsonl')[0] as string;
    const delta = '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":30,"output_tokens_details":{"thinking_tokens":21}}}';
    const wire = `event: message_start\ndata: ${start}\n\nevent: message_delta\ndata: ${delta}\n\n`;
    expect(nums(fromSse('anthropic-messages', wire))).toEqual([12, 0, 0, 30, 21, 'reported']);
  });

  test('event: error inside a 200 stream is a provider error; usage stays partial', () => {
    const raw = fixtureText('anthropic/messages-stream-basic-raw.sse');
    const wire = `${raw.slice(0, raw.indexOf('event: content_block_stop'))}event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n`;
    const u = fromSse('anthropic-messages', wire, 'complete');
    expect([...nums(u), u.provider_error]).toEqual([11, 0, 0, 1, 0, 'partial', 'overloaded_error: Overloaded']);
  });
});

describe('gemini', () => {
  test('toolUsePromptTokenCount adds to input; cachedContentTokenCount is the cached part', () => {
    const body = jsonFixture('gemini/generateContent.json');
    body.usageMetadata = { ...(body.usageMetadata as Json), toolUsePromptTokenCount: 11, cachedContentTokenCount: 5 };
    expect(nums(fromJson('gemini', body))).toEqual([20, 5, 0, 272, 244, 'reported']);
  });

  test('an error envelope in a 200 body is a provider error', () => {
    const u = fromJson('gemini', jsonFixture('gemini/error-429.json'));
    expect([u.usage_status, u.provider_error]).toEqual(['missing', 'RESOURCE_EXHAUSTED: You exceeded your current quota, please check your plan.']);
  });
});

describe('cohere', () => {
  test('v2 embed and v1 bill on meta.billed_units; output 0 for embeddings', () => {
    const embed = { id: 'e1', embeddings: { float: [[0.1, 0.2]] }, texts: ['hello'], meta: { api_version: { version: '2' }, billed_units: { input_tokens: 3 } } };
    expect(nums(fromJson('cohere', embed))).toEqual([3, 0, 0, 0, 0, 'reported']);
    const v1 = { text: 'Paris.', generation_id: 'g', meta: { billed_units: { input_tokens: 12, output_tokens: 7 } } };
    expect(nums(fromJson('cohere', v1))).toEqual([12, 0, 0, 7, 0, 'reported']);
  });

  test('v1 streaming (JSON lines, application/stream+json): the stream-end line carries response.meta.billed_units', () => {
    const lines = [
      '{"is_finished":false,"event_type":"stream-start","generation_id":"g"}',
      '{"is_finished":false,"event_type":"text-generation","text":"Paris"}',
      '{"is_finished":true,"event_type":"stream-end","response":{"text":"Paris","meta":{"billed_units":{"input_tokens":12,"output_tokens":1}}},"finish_reason":"COMPLETE"}',
    ].join('\n');
    const capture = captureOf('cohere', 'application/stream+json', [enc(lines)]);
    expect(nums(normalizeSnippet(snippet({ format: 'cohere', capture })))).toEqual([12, 0, 0, 1, 0, 'reported']);
  });

  test('v1 streaming: a stream-end response far over the capture cap (a long chat history) still yields its billed units', () => {
    const turn = { role: 'USER', message: 'x'.repeat(1000) };
    const response = { text: 'Paris', chat_history: Array.from({ length: 300 }, () => turn), meta: { billed_units: { input_tokens: 75012, output_tokens: 1 } } };
    const end = JSON.stringify({ is_finished: true, event_type: 'stream-end', response, finish_reason: 'COMPLETE' });
    const bytes = enc(`{"is_finished":false,"event_type":"stream-start","generation_id":"g"}\n${end}\n`);
    expect(bytes.length).toBeGreaterThan(4 * MAX_CAPTURED_VALUE_BYTES);
    for (const size of [1, 7, 4096, bytes.length]) {
      const capture = captureOf('cohere', 'application/stream+json', chunked(bytes, size));
      expect(capture.kind === 'json' && capture.truncated).toBeFalsy();
      expect(nums(normalizeSnippet(snippet({ format: 'cohere', capture })))).toEqual([75012, 0, 0, 1, 0, 'reported']);
    }
    // Read whole (a body already in memory) the same way.
    const whole = captureWholeBody(formatById('cohere')!, 'application/json', enc(end));
    expect(nums(normalizeSnippet(snippet({ format: 'cohere', capture: whole })))).toEqual([75012, 0, 0, 1, 0, 'reported']);
  });

  test('v1 streaming: a stream-end response over 4 MiB is flagged truncated, never thrown', () => {
    const response = { text: 'x'.repeat(5 * 1024 * 1024), meta: { billed_units: { input_tokens: 1, output_tokens: 1 } } };
    const bytes = enc(JSON.stringify({ event_type: 'stream-end', response }));
    const capture = captureOf('cohere', 'application/stream+json', chunked(bytes, 65536));
    expect(capture).toMatchObject({ kind: 'json', truncated: true });
    expect(normalizeSnippet(snippet({ format: 'cohere', capture })).usage_status).not.toBe('reported');
  });
});

describe('dashscope-native', () => {
  test('embeddings report only total_tokens, all of it input', () => {
    const body = { output: { embeddings: [{ text_index: 0, embedding: [0.1] }] }, usage: { total_tokens: 7 }, request_id: 'r' };
    expect(nums(fromJson('dashscope-native', body))).toEqual([7, 0, 0, 0, 0, 'reported']);
  });

  test('cached and reasoning details are read when present', () => {
    const body = jsonFixture('dashscope/native-generation-nonstream.json');
    body.usage = { ...(body.usage as Json), prompt_tokens_details: { cached_tokens: 3 }, output_tokens_details: { reasoning_tokens: 20 } };
    expect(nums(fromJson('dashscope-native', body))).toEqual([8, 3, 0, 39, 20, 'reported']);
  });

  test('an error event inside the stream is a provider error', () => {
    const wire = 'id:1\nevent:error\n:HTTP_STATUS/400\ndata:{"code":"InvalidParameter","message":"bad input","request_id":"r"}\n';
    const u = fromSse('dashscope-native', wire);
    expect([u.usage_status, u.provider_error]).toEqual(['missing', 'InvalidParameter: bad input']);
  });

  test('the real error body on its real status (401) is missing without a provider error', () => {
    const u = fromJson('dashscope-native', jsonFixture('dashscope/native-error-invalid-api-key.json'), { status: 401 });
    expect([u.usage_status, u.provider_error]).toEqual(['missing', undefined]);
  });
});
