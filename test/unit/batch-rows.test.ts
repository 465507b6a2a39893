// Rows of a batch-results read: one per model under the first read's identity, half price, versions that let a whole
// read replace a cut one.
import { describe, expect, test } from 'bun:test';
import { formatById } from '../../src/usage/formats/index.ts';
import { loadPriceTable } from '../../src/usage/prices.ts';
import type { Capture, UsageSnippet } from '../../src/usage/snippet.ts';
import { batchRows } from '../../workers/batch-rows.ts';
import { buildRow } from '../../workers/row.ts';
import { OPENAI_OUTPUT_USAGE } from '../helpers/batches.ts';
import { snippet } from './usage-wire.ts';

const prices = loadPriceTable();
const lines = formatById('openai-batch-output')!.lines!;
const capture: Capture = { kind: 'lines', lines: 4, groups: OPENAI_OUTPUT_USAGE.map((g) => ({ ...g, cacheWrite: 0, cacheWrite1h: 0 })) };
const read = (over: Partial<UsageSnippet> = {}): UsageSnippet => ({
  ...snippet({ format: 'openai-batch-output', capture }),
  provider: 'openai',
  requestId: 'second-read',
  ts: 1_800_000_000_000,
  ...over,
});
const first = { requestId: 'first-read', ts: 1_700_000_000_000, accountId: 'first-account', keyId: 'first-key' };

describe('batchRows', () => {
  test('one row per model, under the first read id, time and account, at half the synchronous price', () => {
    const rows = batchRows(read(), first, lines, prices, 0);
    for (const row of rows) expect([row.account_id, row.key_id]).toEqual(['first-account', 'first-key']);
    expect(rows.map((r) => [r.request_id, r.ts, r.model, r.input_tokens, r.output_tokens, r.usage_status])).toEqual([
      ['first-read:gpt-4.1-nano-2025-04-14', 1_700_000_000, 'gpt-4.1-nano-2025-04-14', 32, 726, 'reported'],
      ['first-read:gpt-5.3-codex', 1_700_000_000, 'gpt-5.3-codex', 7243, 423, 'reported'],
    ]);
    for (const row of rows) {
      const g = OPENAI_OUTPUT_USAGE.find((u) => u.model === row.model)!;
      const usage = { model: g.model, input_tokens: g.input, cached_input_tokens: g.cached, cache_write_tokens: 0, output_tokens: g.output, reasoning_tokens: g.reasoning, usage_status: 'reported' as const };
      const standard = buildRow(read(), usage, prices, 0).cost_micro_usd;
      expect(standard).toBeGreaterThan(0);
      expect(row.cost_micro_usd).toBe(Math.round(standard / 2));
      expect(row.price_known).toBe(1);
    }
  });

  test("the provider's batch discount from the snippet's format options, else the format's", () => {
    const standard = batchRows(read({ formatOptions: { priceFactor: 1 } }), first, lines, prices, 0);
    const kimi = batchRows(read({ formatOptions: { priceFactor: 0.6 } }), first, lines, prices, 0);
    const bogus = batchRows(read({ formatOptions: { priceFactor: 7 } }), first, lines, prices, 0);
    const fallback = batchRows(read(), first, lines, prices, 0);
    for (const [i, row] of standard.entries()) {
      expect(kimi[i]!.cost_micro_usd).toBe(Math.round(row.cost_micro_usd * 0.6));
      expect(bogus[i]!.cost_micro_usd).toBe(fallback[i]!.cost_micro_usd);
    }
  });

  test('a whole read outranks a cut one of the same results, whatever order they land in', () => {
    const version = (over: Partial<UsageSnippet>) => batchRows(read(over), first, lines, prices, 0)[0]!;
    const whole = version({});
    // Cut after the last line arrived: the same counts, but the read did not end normally.
    const cutLate = version({ outcome: 'client_abort' });
    expect(cutLate.usage_status).toBe('partial');
    expect(whole.version).toBeGreaterThan(cutLate.version);
    const oneLess = (c: Capture): Capture => (c.kind === 'lines' ? { ...c, groups: c.groups.map((g, i) => (i === 0 ? { ...g, requests: g.requests - 1 } : g)) } : c);
    const cutEarly = version({ outcome: 'client_abort', capture: oneLess(capture) });
    expect(whole.version).toBeGreaterThan(cutEarly.version);
    // A whole read that had to skip a line (over 4 MiB) still outranks a cut read that counted as much.
    const skipped = version({ capture: { ...oneLess(capture), truncated: true } as Capture });
    expect(skipped.usage_status).toBe('partial');
    expect(skipped.version).toBeGreaterThan(cutEarly.version);
  });

  test("a version ClickHouse can always parse, however many requests a read claims (1.5 or 1e+21 failed every insert of the batch)", () => {
    const claimed = (requests: number) => batchRows(read({ capture: { ...capture, groups: [{ ...capture.groups[0]!, requests }] } as Capture }), first, lines, prices, 0)[0]!.version;
    for (const requests of [0.25, 5e20, 1e308, Number.MAX_SAFE_INTEGER]) {
      expect(Number.isSafeInteger(claimed(requests))).toBe(true);
    }
    expect(claimed(3)).toBe(7);
  });

  test("a read's cache reads and writes together never exceed its input", () => {
    const g = { model: 'claude-sonnet-4-5', requests: 1, input: 100, cached: 100, cacheWrite: 100, cacheWrite1h: 0, output: 1, reasoning: 0 };
    const [row] = batchRows(read({ provider: 'anthropic', capture: { kind: 'lines', lines: 1, groups: [g] } }), first, lines, prices, 0);
    expect([row!.input_tokens, row!.cached_input_tokens, row!.cache_write_tokens]).toEqual([100, 100, 0]);
  });

  test('a model name too long for the key is replaced by its digest, so two such names stay apart', () => {
    const long = (tail: string) => `${'m'.repeat(300)}${tail}`;
    const groups = ['a', 'b'].map((t) => ({ model: long(t), requests: 1, input: 1, cached: 0, cacheWrite: 0, cacheWrite1h: 0, output: 1, reasoning: 0 }));
    const rows = batchRows(read({ capture: { kind: 'lines', lines: 2, groups } }), first, lines, prices, 0);
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(2);
    for (const r of rows) expect(r.request_id.length).toBeLessThanOrEqual(256);
  });
});
