// Every real fixture through capture + normalize, whole, byte by byte, and split in two at every byte: exact canonical numbers.
import { describe, expect, test } from 'bun:test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { providerBySlug } from '../../src/providers/index.ts';
import { captureWholeBody } from '../../src/usage/capture.ts';
import { formatById } from '../../src/usage/formats/index.ts';
import { normalizeSnippet } from '../../src/usage/normalize.ts';
import type { CanonicalUsage, Capture } from '../../src/usage/snippet.ts';
import { FIXTURES_DIR } from '../helpers/env.ts';
import { bytewise, captureOf, contentTypeFromHeaders, snippet, wireBytes, type Wire } from './usage-wire.ts';

const SSE = 'text/event-stream';
const JSON_CT = 'application/json';
// The recorded Dashscope native SSE headers: `text/event-stream;charset=UTF-8` (and gzip, which the proxy decodes first).
const DASHSCOPE_SSE_HEADERS = 'dashscope/native-stream-response-headers.txt';
const DASHSCOPE_SSE = contentTypeFromHeaders(DASHSCOPE_SSE_HEADERS);

type Expected = Omit<CanonicalUsage, 'provider_error'>;

interface Row {
  file: string;
  wire: Wire;
  provider: string;
  path: string;
  contentType: string;
  status: number;
  expected: Expected;
}

function usage(model: string, input: number, cached: number, cacheWrite: number, output: number, reasoning: number,
  status: CanonicalUsage['usage_status'] = 'reported'): Expected {
  return {
    model, input_tokens: input, cached_input_tokens: cached, cache_write_tokens: cacheWrite,
    output_tokens: output, reasoning_tokens: reasoning, usage_status: status,
  };
}

const REQ = 'request-model';

/**
 * Derived by hand from providers.md's mapping and each fixture's content:
 * - xAI: output = completion + reasoning (1 + 228; stream 1 + 290); cached from prompt_tokens_details.
 * - Gemini: output = candidates + thoughts (28 + 244; stream's last chunk 23 + 185).
 * - Anthropic: input = input + cache_creation + cache_read (12 + 0 + 0); stream output from message_delta (30; raw 6).
 * - Cohere: billed_units (12 / 7), not tokens (507 / 10) nor cached_tokens (448).
 * - Dashscope native stream: last event's cumulative usage (8 / 40), no model in the response.
 */
const ROWS: Row[] = [
  { file: 'openai/chat-nonstream.json', wire: 'body', provider: 'openai', path: '/v1/chat/completions', contentType: JSON_CT, status: 200,
    expected: usage('gpt-4.1-nano-2025-04-14', 16, 0, 0, 363, 0) },
  { file: 'openai/chat-stream-include-usage.chunks.jsonl', wire: 'openai', provider: 'openai', path: '/v1/chat/completions', contentType: SSE, status: 200,
    expected: usage('gpt-4.1-nano-2025-04-14', 16, 0, 0, 300, 0) },
  { file: 'openai/responses-nonstream.json', wire: 'body', provider: 'openai', path: '/v1/responses', contentType: JSON_CT, status: 200,
    expected: usage('gpt-5.3-codex', 7243, 3072, 0, 423, 58) },
  { file: 'openai/error-400.json', wire: 'body', provider: 'openai', path: '/v1/chat/completions', contentType: JSON_CT, status: 400,
    expected: usage(REQ, 0, 0, 0, 0, 0, 'missing') },
  { file: 'anthropic/messages-nonstream.json', wire: 'body', provider: 'anthropic', path: '/v1/messages', contentType: JSON_CT, status: 200,
    expected: usage('claude-sonnet-4-5-20250929', 12, 0, 0, 29, 0) },
  { file: 'anthropic/messages-stream.chunks.jsonl', wire: 'typed', provider: 'anthropic', path: '/v1/messages', contentType: SSE, status: 200,
    expected: usage('claude-sonnet-4-5-20250929', 12, 0, 0, 30, 0) },
  { file: 'anthropic/messages-stream-basic-raw.sse', wire: 'anthropic-raw', provider: 'anthropic', path: '/v1/messages', contentType: SSE, status: 200,
    expected: usage('claude-3-opus-latest', 11, 0, 0, 6, 0) },
  { file: 'gemini/generateContent.json', wire: 'body', provider: 'google', path: '/v1beta/models/gemini-3-pro-preview:generateContent', contentType: JSON_CT, status: 200,
    expected: usage('gemini-3-pro-preview', 9, 0, 0, 272, 244) },
  { file: 'gemini/streamGenerateContent.chunks.jsonl', wire: 'plain', provider: 'google', path: '/v1beta/models/gemini-3-pro-preview:streamGenerateContent', contentType: SSE, status: 200,
    expected: usage('gemini-3-pro-preview', 9, 0, 0, 208, 185) },
  { file: 'gemini/streamGenerateContent.chunks.jsonl', wire: 'json-array', provider: 'google', path: '/v1beta/models/gemini-3-pro-preview:streamGenerateContent', contentType: 'application/json; charset=UTF-8', status: 200,
    expected: usage('gemini-3-pro-preview', 9, 0, 0, 208, 185) },
  { file: 'gemini/error-429.json', wire: 'body', provider: 'google', path: '/v1beta/models/gemini-2.0-flash:generateContent', contentType: JSON_CT, status: 429,
    expected: usage('gemini-2.0-flash', 0, 0, 0, 0, 0, 'missing') },
  { file: 'cohere/chat-v2-nonstream.json', wire: 'body', provider: 'cohere', path: '/v2/chat', contentType: JSON_CT, status: 200,
    expected: usage(REQ, 12, 0, 0, 7, 0) },
  { file: 'cohere/chat-v2-stream.chunks.jsonl', wire: 'typed', provider: 'cohere', path: '/v2/chat', contentType: SSE, status: 200,
    expected: usage(REQ, 12, 0, 0, 7, 0) },
  { file: 'deepseek/chat-nonstream.json', wire: 'body', provider: 'deepseek', path: '/chat/completions', contentType: JSON_CT, status: 200,
    expected: usage('deepseek-chat', 13, 0, 0, 300, 0) },
  { file: 'deepseek/chat-stream.chunks.jsonl', wire: 'openai', provider: 'deepseek', path: '/chat/completions', contentType: SSE, status: 200,
    expected: usage('deepseek-chat', 13, 0, 0, 400, 0) },
  { file: 'groq/chat-nonstream.json', wire: 'body', provider: 'groq', path: '/openai/v1/chat/completions', contentType: JSON_CT, status: 200,
    expected: usage('llama-3.3-70b-versatile', 45, 0, 0, 607, 0) },
  { file: 'groq/chat-stream.chunks.jsonl', wire: 'openai', provider: 'groq', path: '/openai/v1/chat/completions', contentType: SSE, status: 200,
    expected: usage('llama-3.3-70b-versatile', 45, 0, 0, 662, 0) },
  { file: 'mistral/chat-nonstream.json', wire: 'body', provider: 'mistral', path: '/v1/chat/completions', contentType: JSON_CT, status: 200,
    expected: usage('mistral-small-latest', 13, 0, 0, 434, 0) },
  { file: 'mistral/chat-stream.chunks.jsonl', wire: 'openai', provider: 'mistral', path: '/v1/chat/completions', contentType: SSE, status: 200,
    expected: usage('mistral-small-latest', 13, 0, 0, 8, 0) },
  { file: 'xai/chat-nonstream.json', wire: 'body', provider: 'xai', path: '/v1/chat/completions', contentType: JSON_CT, status: 200,
    expected: usage('grok-3-mini', 12, 2, 0, 229, 228) },
  { file: 'xai/chat-stream.chunks.jsonl', wire: 'openai', provider: 'xai', path: '/v1/chat/completions', contentType: SSE, status: 200,
    expected: usage('grok-3-mini', 12, 11, 0, 291, 290) },
  { file: 'dashscope/compatible-chat-nonstream.json', wire: 'body', provider: 'dashscope', path: '/compatible-mode/v1/chat/completions', contentType: JSON_CT, status: 200,
    expected: usage('qwen3-max', 18, 0, 0, 1064, 0) },
  { file: 'dashscope/compatible-chat-stream.chunks.jsonl', wire: 'openai', provider: 'dashscope', path: '/compatible-mode/v1/chat/completions', contentType: SSE, status: 200,
    expected: usage('qwen3-max', 18, 0, 0, 779, 0) },
  { file: 'dashscope/native-generation-nonstream.json', wire: 'body', provider: 'dashscope', path: '/api/v1/services/aigc/text-generation/generation', contentType: JSON_CT, status: 200,
    expected: usage(REQ, 8, 0, 0, 39, 0) },
  { file: 'dashscope/native-generation-stream-raw.sse', wire: 'body', provider: 'dashscope', path: '/api/v1/services/aigc/text-generation/generation', contentType: DASHSCOPE_SSE, status: 200,
    expected: usage(REQ, 8, 0, 0, 40, 0) },
  { file: 'dashscope/native-error-invalid-api-key.json', wire: 'body', provider: 'dashscope', path: '/api/v1/services/aigc/text-generation/generation', contentType: JSON_CT, status: 401,
    expected: usage(REQ, 0, 0, 0, 0, 0, 'missing') },
];

function normalizeRow(row: Row, pieces: Iterable<Uint8Array>): { capture: Capture; result: CanonicalUsage } {
  const provider = providerBySlug(row.provider);
  if (!provider) throw new Error(`no provider ${row.provider}`);
  const choice = provider.formatFor(row.path, 'POST');
  const capture = captureOf(choice.format, row.contentType, pieces);
  const result = normalizeSnippet(snippet({
    format: choice.format,
    capture,
    requestModel: provider.modelFromPath?.(row.path) ?? REQ,
    status: row.status,
    ...(choice.options ? { formatOptions: choice.options } : {}),
  }));
  return { capture, result };
}

describe('every fixture is covered', () => {
  test('each file under fixtures/ has a row (or is the recorded headers used above)', () => {
    const files: string[] = [];
    for (const dir of readdirSync(FIXTURES_DIR, { withFileTypes: true })) {
      if (!dir.isDirectory()) continue;
      for (const f of readdirSync(join(FIXTURES_DIR, dir.name))) files.push(`${dir.name}/${f}`);
    }
    const covered = new Set([...ROWS.map((r) => r.file), DASHSCOPE_SSE_HEADERS]);
    expect(files.filter((f) => !covered.has(f))).toEqual([]);
    expect(files.length).toBe(26);
  });

  test('the recorded Dashscope SSE headers name an event stream', () => {
    expect(DASHSCOPE_SSE).toBe('text/event-stream;charset=UTF-8');
  });
});

// Other providers' Anthropic-compatible and Responses endpoints answer in the original's shapes (their docs, cited in
// each provider module); no payload of theirs is recorded, so the original's real fixtures stand in for them.
describe('compatible endpoints of other providers are read in the shapes they answer in', () => {
  const compatible: Array<[original: string, provider: string, path: string]> = [
    ['/v1/messages', 'deepseek', '/anthropic/v1/messages'],
    ['/v1/messages', 'minimax', '/anthropic/v1/messages'],
    ['/v1/messages', 'kimi', '/anthropic/v1/messages'],
    ['/v1/responses', 'groq', '/openai/v1/responses'],
    ['/v1/responses', 'minimax', '/v1/responses'],
    ['/v1/responses', 'kimi', '/v1/responses'],
  ];
  for (const [original, provider, path] of compatible) {
    for (const row of ROWS.filter((r) => r.path === original && r.status === 200)) {
      test(`${provider} ${path}: ${row.file} (${row.wire})`, () => {
        const bytes = wireBytes(row.file, row.wire);
        expect(normalizeRow({ ...row, provider, path }, bytewise(bytes)).result).toEqual(row.expected);
      });
    }
  }
});

describe.each(ROWS.map((r) => [`${r.file} (${r.wire})`, r] as const))('%s', (_name, row) => {
  const bytes = wireBytes(row.file, row.wire);

  test('whole body', () => {
    const { result } = normalizeRow(row, [bytes]);
    expect(result).toEqual(row.expected);
  });

  test('one byte at a time', () => {
    const { result } = normalizeRow(row, bytewise(bytes));
    expect(result).toEqual(row.expected);
  });

  if (bytes.length < 4096) {
    test('split in two at every byte boundary', () => {
      const wrong: string[] = [];
      for (let cut = 0; cut <= bytes.length; cut++) {
        const { result } = normalizeRow(row, [bytes.subarray(0, cut), bytes.subarray(cut)]);
        if (!Bun.deepEquals(result, row.expected)) wrong.push(`cut ${cut}: ${JSON.stringify(result)}`);
      }
      expect(wrong).toEqual([]);
    });
  }

  // The proxy reads small identity-encoded answers whole (captureWholeBody); it must keep what the scanner keeps.
  test('read whole, the capture is the streaming scanner\'s, field for field', () => {
    const choice = providerBySlug(row.provider)?.formatFor(row.path, 'POST');
    const format = choice ? formatById(choice.format) : undefined;
    if (!format) throw new Error(`no format for ${row.file}`);
    expect(captureWholeBody(format, row.contentType, bytes)).toEqual(captureOf(format.id, row.contentType, [bytes]));
  });

  test('the capture holds only usage-bearing parts, never the whole body', () => {
    const { capture } = normalizeRow(row, [bytes]);
    const held = capture.kind === 'sse' ? capture.events.reduce((n, e) => n + e.data.length, 0)
      : capture.kind === 'json' ? Object.values(capture.fields).reduce((n, v) => n + v.length, 0) : 0;
    if (bytes.length > 4096) expect(held).toBeLessThan(bytes.length / 4);
    if (capture.kind === 'sse') expect(capture.events.length).toBeLessThanOrEqual(3);
    expect(capture.kind === 'error').toBe(false);
  });
});

test('the Dashscope native recording (no blank lines between events) is read through its last event', () => {
  const row = ROWS.find((r) => r.file === 'dashscope/native-generation-stream-raw.sse');
  if (!row) throw new Error('row missing');
  const { capture } = normalizeRow(row, [wireBytes(row.file, row.wire)]);
  if (capture.kind !== 'sse') throw new Error(capture.kind);
  expect(capture.events).toHaveLength(1);
  expect(capture.events[0]?.event).toBe('result');
  expect(capture.events[0]?.data).toContain('"finish_reason":"stop"');
});
