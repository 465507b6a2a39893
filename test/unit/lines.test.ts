// Batch results capture: JSON lines summed per model at every chunk boundary, failed lines unbilled, bounded memory.
import { describe, expect, test } from 'bun:test';
import { providerBySlug, PROVIDERS } from '../../src/providers/index.ts';
import { createCapture, captureWholeBody } from '../../src/usage/capture.ts';
import { formatById } from '../../src/usage/formats/index.ts';
import type { UsageFormat } from '../../src/usage/formats/types.ts';
import { MAX_LINE_BYTES, MAX_LINE_GROUPS } from '../../src/usage/lines.ts';
import { normalizeSnippet } from '../../src/usage/normalize.ts';
import type { Capture } from '../../src/usage/snippet.ts';
import { ANTHROPIC_RESULTS_USAGE, anthropicResults, GEMINI_OUTPUT_USAGE, geminiOutput, OPENAI_OUTPUT_USAGE, openaiOutput } from '../helpers/batches.ts';
import { snippet } from './usage-wire.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const format = (id: string): UsageFormat => formatById(id)!;

function captured(id: string, chunks: Uint8Array[], contentType: string | null = 'application/binary'): Capture {
  const c = createCapture(format(id), contentType);
  for (const chunk of chunks) c.feed(chunk);
  return c.finish();
}

const anthropicExpected: Capture = {
  kind: 'lines',
  lines: 4,
  groups: [{ ...ANTHROPIC_RESULTS_USAGE, cached: 0, cacheWrite: 0, cacheWrite1h: 0, reasoning: 0 }],
};
const geminiExpected: Capture = {
  kind: 'lines',
  lines: 3,
  groups: [{ ...GEMINI_OUTPUT_USAGE, cached: 0, cacheWrite: 0, cacheWrite1h: 0 }],
};
const openaiExpected: Capture = {
  kind: 'lines',
  lines: 4,
  groups: OPENAI_OUTPUT_USAGE.map((g) => ({ ...g, cacheWrite: 0, cacheWrite1h: 0 })),
};

describe('batch results capture', () => {
  test('Anthropic results: succeeded lines summed, errored and expired lines unbilled, any content type', () => {
    const body = enc(anthropicResults());
    expect(captured('anthropic-batch-results', [body])).toEqual(anthropicExpected);
    expect(captured('anthropic-batch-results', [body], 'application/json')).toEqual(anthropicExpected);
    expect(captureWholeBody(format('anthropic-batch-results'), 'application/json', body)).toEqual(anthropicExpected);
  });

  test('OpenAI output: one group per model, chat and Responses bodies, the error line unbilled', () => {
    expect(captured('openai-batch-output', [enc(openaiOutput())], 'application/octet-stream')).toEqual(openaiExpected);
  });

  test('Gemini responses file: keyed and bare response lines summed, the status line unbilled', () => {
    expect(captured('gemini-batch-output', [enc(geminiOutput())], 'application/octet-stream')).toEqual(geminiExpected);
  });

  test('cut in two at every byte boundary: the same capture', () => {
    for (const [id, text, expected] of [
      ['anthropic-batch-results', anthropicResults(), anthropicExpected],
      ['openai-batch-output', openaiOutput(), openaiExpected],
      ['gemini-batch-output', geminiOutput(), geminiExpected],
    ] as const) {
      const body = enc(text);
      for (let cut = 0; cut <= body.byteLength; cut++) {
        expect(captured(id, [body.subarray(0, cut), body.subarray(cut)])).toEqual(expected);
      }
    }
  });

  test('fed one byte at a time, with a last line lacking its newline and CRLF line ends', () => {
    const body = enc(openaiOutput().trimEnd().replaceAll('\n', '\r\n'));
    const bytes = Array.from(body, (b) => Uint8Array.of(b));
    expect(captured('openai-batch-output', bytes)).toEqual(openaiExpected);
  });

  test('a line past the limit is skipped and flagged; the lines after it still count', () => {
    const huge = `{"custom_id":"big","result":{"type":"succeeded","message":{"model":"m","usage":{"input_tokens":1},"pad":"${'x'.repeat(MAX_LINE_BYTES)}"}}}`;
    const body = enc(`${huge}\n${anthropicResults()}`);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < body.byteLength; at += 64 * 1024) pieces.push(body.subarray(at, at + 64 * 1024));
    expect(captured('anthropic-batch-results', pieces)).toEqual({ ...anthropicExpected, truncated: true });
  });

  test('past the group limit, further models share the model "" and the capture is flagged', () => {
    const line = (i: number) => `{"response":{"status_code":200,"body":{"model":"m${i}","usage":{"prompt_tokens":1,"completion_tokens":1}}}}`;
    const c = captured('openai-batch-output', [enc(Array.from({ length: MAX_LINE_GROUPS + 5 }, (_, i) => line(i)).join('\n'))]);
    if (c.kind !== 'lines') throw new Error(c.kind);
    expect(c.groups).toHaveLength(MAX_LINE_GROUPS);
    expect(c.truncated).toBe(true);
    expect(c.groups.find((g) => g.model === '')?.requests).toBe(6);
    expect(c.groups.reduce((n, g) => n + g.input, 0)).toBe(MAX_LINE_GROUPS + 5);
  });

  test('not JSON lines (an input file, garbage): no groups, no throw', () => {
    const input = '{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4.1-nano","messages":[]}}\n';
    expect(captured('openai-batch-output', [enc(input), enc('%PDF-1.7 \u0000\u00ff binary "usage"\n{"usage": broken\n')])).toEqual({ kind: 'lines', groups: [], lines: 3 });
  });

  test('normalized as one total (the worker writes one row per group)', () => {
    const u = normalizeSnippet(snippet({ format: 'openai-batch-output', capture: openaiExpected }));
    expect(u).toMatchObject({ input_tokens: 7275, cached_input_tokens: 3072, output_tokens: 1149, reasoning_tokens: 58, usage_status: 'reported' });
    const cut = normalizeSnippet(snippet({ format: 'anthropic-batch-results', capture: anthropicExpected, outcome: 'client_abort' }));
    expect(cut).toMatchObject({ model: ANTHROPIC_RESULTS_USAGE.model, input_tokens: 24, output_tokens: 58, usage_status: 'partial' });
  });
});

describe('which reads are batch results', () => {
  test('GET of Anthropic results and of OpenAI-style file content, and nothing else', () => {
    const anthropic = providerBySlug('anthropic')!;
    const openai = providerBySlug('openai')!;
    expect(anthropic.formatFor('/v1/messages/batches/msgbatch_1/results', 'GET')).toEqual({ format: 'anthropic-batch-results' });
    expect(anthropic.formatFor('/v1/messages/batches/msgbatch_1', 'GET')).toEqual({ format: 'anthropic-messages' });
    expect(anthropic.formatFor('/v1/messages', 'POST')).toEqual({ format: 'anthropic-messages' });
    const output = (priceFactor: number) => ({ format: 'openai-batch-output', options: { priceFactor } });
    expect(openai.formatFor('/v1/files/file-1/content', 'GET')).toEqual(output(0.5));
    expect(providerBySlug('groq')!.formatFor('/openai/v1/files/file-1/content', 'GET')).toEqual(output(0.5));
    expect(providerBySlug('mistral')!.formatFor('/v1/files/file-1/content', 'GET')).toEqual(output(0.5));
    expect(providerBySlug('kimi')!.formatFor('/v1/files/file-1/content', 'GET')).toEqual(output(0.6));
    expect(providerBySlug('dashscope')!.formatFor('/compatible-mode/v1/files/file-batch_output-1/content', 'GET')).toEqual(output(0.5));
    expect(providerBySlug('dashscope')!.formatFor('/compatible-mode/v1/chat/completions', 'POST')).toEqual({ format: 'openai-chat' });
    expect(openai.formatFor('/v1/files/file-1', 'GET')).toEqual({ format: 'openai-chat' });
    expect(openai.formatFor('/v1/files/file-1/content', 'POST')).toEqual({ format: 'openai-chat' });
    expect(providerBySlug('deepseek')!.formatFor('/v1/files/file-1/content', 'GET')).toEqual({ format: 'openai-chat' });
    const google = providerBySlug('google')!;
    expect(google.formatFor('/download/v1beta/files/batch-abc:download', 'GET')).toEqual({ format: 'gemini-batch-output', options: { priceFactor: 0.5 } });
    expect(google.formatFor('/v1beta/files/batch-abc', 'GET')).toEqual({ format: 'gemini' });
    expect(google.formatFor('/v1beta/models/gemini-2.5-flash:generateContent', 'POST')).toEqual({ format: 'gemini' });
  });

  test('only Anthropic batch objects have their provider URLs rewritten', () => {
    const anthropic = providerBySlug('anthropic')!;
    expect(anthropic.bodyUrlPaths?.test('/v1/messages/batches/msgbatch_1')).toBe(true);
    expect(anthropic.bodyUrlPaths?.test('/v1/messages/batches')).toBe(true);
    expect(anthropic.bodyUrlPaths?.test('/v1/messages/batches/msgbatch_1/cancel')).toBe(true);
    expect(anthropic.bodyUrlPaths?.test('/v1/messages/batches/msgbatch_1/results')).toBe(false);
    expect(anthropic.bodyUrlPaths?.test('/v1/messages')).toBe(false);
    expect(PROVIDERS.filter((p) => p.bodyUrlPaths).map((p) => p.slug)).toEqual(['anthropic']);
  });
});
