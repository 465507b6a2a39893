// Row building: snippet + canonical usage + price → a usage_events row ClickHouse can always parse.
import { describe, expect, test } from 'bun:test';
import { parsePriceTable } from '../../src/usage/prices.ts';
import type { CanonicalUsage, UsageSnippet } from '../../src/usage/snippet.ts';
import { buildRow } from '../../workers/row.ts';

const prices = parsePriceTable({ providers: { openai: { 'gpt-4.1-nano': { input: 0.1, cached_input: 0.025, output: 0.4 } } } });

function snippet(over: Partial<UsageSnippet> = {}): UsageSnippet {
  return {
    v: 1, requestId: 'req_1', ts: 1_700_000_000_999, accountId: 'acct_1', keyId: 'key_1', provider: 'openai', format: 'openai-chat',
    requestModel: 'gpt-4.1-nano', method: 'POST', path: '/v1/chat/completions', status: 200, stream: true, outcome: 'complete',
    latencyMs: 812.7, ttfbMs: 95, bytesIn: 300, bytesOut: 4000, capture: { kind: 'json', fields: { usage: '{"prompt_tokens":16}' } }, ...over,
  };
}

function usage(over: Partial<CanonicalUsage> = {}): CanonicalUsage {
  return {
    model: 'gpt-4.1-nano-2025-04-14', input_tokens: 16, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 363,
    reasoning_tokens: 0, usage_status: 'reported', ...over,
  };
}

describe('buildRow', () => {
  test('maps every column, with ts in seconds and version in ms', () => {
    const row = buildRow(snippet(), usage(), prices, 1_800_000_000_123);
    expect(row).toMatchObject({
      request_id: 'req_1', ts: 1_700_000_000, account_id: 'acct_1', key_id: 'key_1', provider: 'openai', model: 'gpt-4.1-nano-2025-04-14',
      request_model: 'gpt-4.1-nano', format: 'openai-chat', status: 200, stream: 1, outcome: 'complete', error: '', latency_ms: 812,
      ttfb_ms: 95, input_tokens: 16, output_tokens: 363, usage_status: 'reported', inserted_at: 1_800_000_000, version: 1_800_000_000_123,
    });
    expect(JSON.parse(row.raw_usage)).toEqual({ capture: { kind: 'json', fields: { usage: '{"prompt_tokens":16}' } } });
  });

  test('a known model is priced (dated snapshot → base price); an unknown one costs 0 with price_known 0', () => {
    expect(buildRow(snippet(), usage(), prices)).toMatchObject({ cost_micro_usd: 147, price_known: 1 });
    expect(buildRow(snippet(), usage({ model: 'mystery-1' }), prices)).toMatchObject({ cost_micro_usd: 0, price_known: 0, model: 'mystery-1' });
  });

  test("Anthropic's one-hour cache writes reach the price (the shipped rates: $3.75 five-minute, $6 one-hour)", () => {
    const sonnet = parsePriceTable({ providers: { anthropic: { 'claude-sonnet-4-5': { input: 3, cached_input: 0.3, cache_write: 3.75, cache_write_1h: 6, output: 15 } } } });
    const s = snippet({ provider: 'anthropic', format: 'anthropic-messages' });
    const u = usage({ model: 'claude-sonnet-4-5-20250929', input_tokens: 1000, cache_write_tokens: 1000, output_tokens: 0 });
    expect(buildRow(s, u, sonnet).cost_micro_usd).toBe(3750);
    expect(buildRow(s, { ...u, cache_write_1h_tokens: 1000 }, sonnet).cost_micro_usd).toBe(6000);
  });

  test('falls back to the request model when the response named none', () => {
    const row = buildRow(snippet({ requestModel: 'gpt-4.1-nano' }), usage({ model: '' }), prices);
    expect(row.model).toBe('gpt-4.1-nano');
    expect(row.price_known).toBe(1);
  });

  test('keeps format options with the capture, so the event can be normalized again', () => {
    const row = buildRow(snippet({ formatOptions: { reasoningOutsideCompletion: true } }), usage(), prices);
    expect(JSON.parse(row.raw_usage).formatOptions).toEqual({ reasoningOutsideCompletion: true });
  });

  test('coerces what a column cannot take instead of failing the whole batch', () => {
    const row = buildRow(
      snippet({ latencyMs: -5, status: 70_000, ttfbMs: undefined, error: `bad \ud800 surrogate ${'x'.repeat(5000)}` }),
      usage({ input_tokens: 10.9, cached_input_tokens: 50, output_tokens: Number.NaN, reasoning_tokens: 7, usage_status: 'bogus' as CanonicalUsage['usage_status'] }),
      prices,
    );
    expect(row.latency_ms).toBe(0);
    expect(row.status).toBe(65_535);
    expect(row.ttfb_ms).toBe(0);
    expect(row.input_tokens).toBe(10);
    expect(row.cached_input_tokens).toBe(10); // a part never exceeds its whole
    expect(row.output_tokens).toBe(0);
    expect(row.reasoning_tokens).toBe(0);
    expect(row.usage_status).toBe('missing');
    expect(row.error.length).toBe(1024);
    expect(row.error.isWellFormed()).toBe(true);
  });

  test('carries partial/missing status and the provider error through', () => {
    const row = buildRow(snippet({ outcome: 'client_abort', error: 'client went away' }), usage({ usage_status: 'partial', provider_error: 'overloaded_error' }), prices);
    expect(row).toMatchObject({ usage_status: 'partial', outcome: 'client_abort', error: 'client went away', provider_error: 'overloaded_error' });
  });
});
