// Price table: lookup (exact, dated snapshot prefix, '-' boundary, per provider), integer cost, file loading and validation.
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { costMicroUsd, loadPriceTable, parsePriceTable, PriceTableError, type ModelPrice } from '../../src/usage/prices.ts';
import type { CanonicalUsage } from '../../src/usage/snippet.ts';

function usage(model: string, input: number, cached: number, write: number, output: number): CanonicalUsage {
  return { model, input_tokens: input, cached_input_tokens: cached, cache_write_tokens: write, output_tokens: output, reasoning_tokens: 0, usage_status: 'reported' };
}

const table = parsePriceTable({
  providers: {
    openai: { 'gpt-4.1': { input: 2, output: 8 }, 'gpt-4.1-nano': { input: 0.1, cached_input: 0.025, output: 0.4 } },
    anthropic: { 'claude-sonnet-4-5': { input: 3, cached_input: 0.3, cache_write: 3.75, output: 15 } },
  },
});

describe('lookup', () => {
  test('exact id wins', () => {
    expect(table.lookup('openai', 'gpt-4.1')?.key).toBe('gpt-4.1');
  });
  test('a dated snapshot takes its longest listed prefix', () => {
    expect(table.lookup('openai', 'gpt-4.1-nano-2025-04-14')?.key).toBe('gpt-4.1-nano');
    expect(table.lookup('openai', 'gpt-4.1-2025-04-14')?.key).toBe('gpt-4.1');
    expect(table.lookup('anthropic', 'claude-sonnet-4-5-20250929')?.key).toBe('claude-sonnet-4-5');
  });
  test('a prefix must end at a dash: gpt-4.1 does not price gpt-4.10', () => {
    expect(table.lookup('openai', 'gpt-4.10')).toBeUndefined();
  });
  test("only a snapshot or alias suffix takes its stem's price: another variant is another model, unpriced", () => {
    expect(table.lookup('openai', 'gpt-4.1-latest')?.key).toBe('gpt-4.1');
    expect(table.lookup('openai', 'gpt-4.1-20250414')?.key).toBe('gpt-4.1');
    expect(table.lookup('openai', 'gpt-4.1-0414')?.key).toBe('gpt-4.1');
    expect(table.lookup('openai', 'gpt-4.1-04-14')?.key).toBe('gpt-4.1');
    expect(table.lookup('openai', 'gpt-4.1-beta')?.key).toBe('gpt-4.1');
    expect(table.lookup('openai', 'gpt-4.1-mini')).toBeUndefined();
    expect(table.lookup('openai', 'gpt-4.1-mini-2025-04-14')).toBeUndefined();
    expect(table.lookup('openai', 'gpt-4.1-nano-batch')).toBeUndefined();
  });
  test('prices are per provider, and unknown or empty models have none', () => {
    expect(table.lookup('groq', 'gpt-4.1')).toBeUndefined();
    expect(table.lookup('openai', 'o3')).toBeUndefined();
    expect(table.lookup('openai', '')).toBeUndefined();
  });
  test('cached_input and cache_write default to the input rate, cache_write_1h to cache_write', () => {
    expect(table.lookup('openai', 'gpt-4.1')?.price).toEqual({ input: 2, cached_input: 2, cache_write: 2, cache_write_1h: 2, output: 8 });
    expect(table.lookup('anthropic', 'claude-sonnet-4-5')?.price.cache_write_1h).toBe(3.75);
  });
});

describe('cost', () => {
  const sonnet: ModelPrice = { input: 3, cached_input: 0.3, cache_write: 3.75, cache_write_1h: 6, output: 15 };
  test('input includes cached and cache-write tokens, each billed at its own rate', () => {
    // (1000 - 200 - 100) * 3 + 200 * 0.3 + 100 * 3.75 + 50 * 15 = 2100 + 60 + 375 + 750 micro-dollars
    expect(costMicroUsd(usage('m', 1000, 200, 100, 50), sonnet)).toBe(3285);
  });
  test('one-hour cache writes are billed at their own rate, the rest of the writes at the five-minute rate', () => {
    // (1000 - 200 - 100) * 3 + 200 * 0.3 + (100 - 40) * 3.75 + 40 * 6 + 50 * 15 = 2100 + 60 + 225 + 240 + 750
    expect(costMicroUsd({ ...usage('m', 1000, 200, 100, 50), cache_write_1h_tokens: 40 }, sonnet)).toBe(3375);
    // A one-hour count above the writes is capped at the writes.
    expect(costMicroUsd({ ...usage('m', 1000, 0, 100, 0), cache_write_1h_tokens: 500 }, sonnet)).toBe(2700 + 600);
  });
  test('rounds half up once, at the end', () => {
    const nano: ModelPrice = { input: 0.1, cached_input: 0.025, cache_write: 0.1, cache_write_1h: 0.1, output: 0.4 };
    expect(costMicroUsd(usage('m', 16, 0, 0, 363), nano)).toBe(147); // 1.6 + 145.2 = 146.8
    expect(costMicroUsd(usage('m', 20, 20, 0, 0), nano)).toBe(1); // 0.5 → 1
    expect(costMicroUsd(usage('m', 19, 19, 0, 0), nano)).toBe(0); // 0.475 → 0
  });
  test('large counts stay exact', () => {
    expect(costMicroUsd(usage('m', 3_000_000_000, 0, 0, 1_000_000_000), sonnet)).toBe(24_000_000_000);
  });
  test('cached parts larger than the input never make the uncached part negative', () => {
    expect(costMicroUsd(usage('m', 10, 20, 0, 0), sonnet)).toBe(6); // 20 * 0.3
  });
  test('price() marks unknown models price_known 0 with cost 0', () => {
    expect(table.price('openai', usage('gpt-4.1-nano-2025-04-14', 16, 0, 0, 363))).toEqual({ cost_micro_usd: 147, price_known: 1 });
    expect(table.price('openai', usage('not-a-model', 1000, 0, 0, 1000))).toEqual({ cost_micro_usd: 0, price_known: 0 });
  });
});

describe('the shipped table', () => {
  const shipped = loadPriceTable();
  test.each([
    ['openai', 'gpt-4.1-nano-2025-04-14', 'gpt-4.1-nano'],
    ['openai', 'gpt-5.3-codex', 'gpt-5.3-codex'],
    ['anthropic', 'claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
    ['anthropic', 'claude-3-opus-latest', 'claude-3-opus'],
    ['google', 'gemini-3-pro-preview', 'gemini-3-pro-preview'],
    ['xai', 'grok-3-mini', 'grok-3-mini'],
    ['groq', 'llama-3.3-70b-versatile', 'llama-3.3-70b-versatile'],
    ['dashscope', 'qwen3-max', 'qwen3-max'],
    ['dashscope', 'qwen-max', 'qwen-max'],
    ['cohere', 'command-a-03-2025', 'command-a-03-2025'],
  ])('prices %s %s (fixture model)', (provider, model, key) => {
    expect(shipped.lookup(provider, model)?.key).toBe(key);
  });
  test("a listed model's differently priced variants are not priced at its rates", () => {
    // xAI lists grok-3-mini-fast at $0.60 / $4.00 against grok-3-mini's $0.30 / $0.50.
    expect(shipped.lookup('xai', 'grok-3-mini-fast')).toBeUndefined();
    expect(shipped.lookup('xai', 'grok-3-mini-fast-latest')).toBeUndefined();
    expect(shipped.lookup('xai', 'grok-3-mini-latest')?.key).toBe('grok-3-mini');
    expect(shipped.lookup('xai', 'grok-3-mini-beta')?.key).toBe('grok-3-mini');
  });
  test('leaves out models it has no agreed price for', () => {
    expect(shipped.lookup('deepseek', 'deepseek-chat')).toBeUndefined();
    expect(shipped.lookup('mistral', 'mistral-small-latest')).toBeUndefined();
  });
});

describe('loading', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arouter-prices-'));
  test('reads an operator file from the given path (AROUTER_PRICES_FILE)', () => {
    const path = join(dir, 'prices.json');
    writeFileSync(path, JSON.stringify({ _sources: {}, providers: { mistral: { 'mistral-small-latest': { input: 0.1, output: 0.3 } } } }));
    expect(loadPriceTable(path).lookup('mistral', 'mistral-small-latest')?.price.output).toBe(0.3);
  });
  test('a missing file, bad JSON or a bad rate is a PriceTableError, not an empty table', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ nope');
    expect(() => loadPriceTable(join(dir, 'absent.json'))).toThrow(PriceTableError);
    expect(() => loadPriceTable(bad)).toThrow(PriceTableError);
    expect(() => parsePriceTable({ providers: { openai: { x: { input: -1, output: 1 } } } })).toThrow(/providers\/openai\/x\/input/);
    expect(() => parsePriceTable({ providers: { openai: { x: { input: 1, outptu: 1 } } } })).toThrow(PriceTableError);
    let err: unknown;
    try {
      parsePriceTable({});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PriceTableError);
    expect((err as PriceTableError).code).toBe('invalid_price_table');
    expect((err as PriceTableError).status).toBe(500);
  });
});
