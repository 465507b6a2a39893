// Rows for a read of batch results: one per model, under the identity of the first read of the same results, so a
// second read replaces those rows (same key, ReplacingMergeTree) instead of counting the batch again.
import { createHash } from 'node:crypto';
import type { LineFormat } from '../src/usage/formats/types.ts';
import type { PriceTable } from '../src/usage/prices.ts';
import type { CanonicalUsage, UsageSnippet } from '../src/usage/snippet.ts';
import type { ReadIdentity } from './claims.ts';
import { buildRow, uint, type UsageRow } from './row.ts';

/**
 * One row per model found (the worker calls it only when there is one) under `<first read's id>:<model>`, in the
 * first reader's account, priced at the batch discount.
 * The version ranks reads by the batched requests they counted, then by whether the read ended normally, so a whole
 * read replaces a cut one and never the reverse (two whole reads tie, and either holds the same counts).
 */
export function batchRows(s: UsageSnippet, id: ReadIdentity, format: LineFormat, prices: PriceTable, now: number): UsageRow[] {
  const c = s.capture;
  const at: UsageSnippet = { ...s, requestId: id.requestId, ts: id.ts, accountId: id.accountId, keyId: id.keyId };
  const whole = s.outcome === 'complete' && !(c.kind === 'lines' && c.truncated === true);
  const groups = c.kind === 'lines' ? c.groups : [];
  // Through uint like every other column: a version ClickHouse cannot parse (1.5, 1e+21) would fail its whole insert
  // on every retry and stall the writer.
  const version = uint(2 * groups.reduce((n, g) => n + uint(g.requests), 0) + (s.outcome === 'complete' ? 1 : 0));
  // The provider's batch discount rides in the snippet; the format's is the fallback.
  const option = s.formatOptions?.priceFactor;
  const factor = typeof option === 'number' && option > 0 && option <= 1 ? option : format.priceFactor;
  return groups.map((g) => {
    const usage: CanonicalUsage = {
      model: g.model || s.requestModel,
      input_tokens: g.input,
      cached_input_tokens: g.cached,
      cache_write_tokens: g.cacheWrite,
      output_tokens: g.output,
      reasoning_tokens: g.reasoning,
      usage_status: whole ? 'reported' : 'partial',
      ...(g.cacheWrite1h > 0 ? { cache_write_1h_tokens: g.cacheWrite1h } : {}),
    };
    const row = buildRow({ ...at, requestId: groupId(id.requestId, g.model) }, usage, prices, now);
    return { ...row, cost_micro_usd: Math.round(row.cost_micro_usd * factor), version };
  });
}

/** `<id>:<model>`, with a long model name (the column holds 256 characters) replaced by its digest, so two long
 *  names sharing a prefix never collapse into one row. */
function groupId(requestId: string, model: string): string {
  const id = `${requestId}:${model}`;
  return id.length <= 256 ? id : `${requestId}:sha256-${createHash('sha256').update(model).digest('hex')}`;
}
