// Rows for a read of batch results: one per model, under the identity of the first read of the same results, so a
// second read replaces those rows (same key, ReplacingMergeTree) instead of counting the batch again.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LineFormat } from '../src/usage/formats/types.ts';
import type { PriceTable } from '../src/usage/prices.ts';
import type { CanonicalUsage, UsageSnippet } from '../src/usage/snippet.ts';
import { buildRow, type UsageRow } from './row.ts';

/** The request id and start time the rows of one batch's results are written under, whichever read carries them. */
export interface ReadIdentity {
  requestId: string;
  ts: number;
}

export type ClaimRead = (s: UsageSnippet) => Promise<ReadIdentity>;

/** Results stay downloadable for weeks (Anthropic: 29 days; OpenAI: until the file is deleted). */
const CLAIM_TTL_S = 400 * 24 * 3600;

/**
 * The first read of some results claims them in Redis (SET NX) with its own id and start time; every later read of
 * the same path by the same account, on any worker, gets that identity back. A job retried after a crash claims
 * again and gets its own identity.
 */
export function redisReadClaims(redis: Redis, prefix: string): ClaimRead {
  return async (s) => {
    const own: ReadIdentity = { requestId: s.requestId, ts: s.ts };
    const digest = createHash('sha256').update(`${s.accountId}\0${s.provider}\0${s.path}`).digest('hex');
    const key = `${prefix}:batch-read:${digest}`;
    if ((await redis.set(key, JSON.stringify(own), 'EX', CLAIM_TTL_S, 'NX')) === 'OK') return own;
    return identityOf(await redis.get(key)) ?? own;
  };
}

function identityOf(raw: string | null): ReadIdentity | null {
  try {
    const v = JSON.parse(raw ?? '') as Partial<ReadIdentity>;
    return typeof v.requestId === 'string' && v.requestId !== '' && typeof v.ts === 'number' ? { requestId: v.requestId, ts: v.ts } : null;
  } catch {
    return null;
  }
}

/**
 * One row per model under `<first read's id>:<model>`, priced at the batch discount. The version is the number of
 * lines read (doubled, plus one when the read was whole), so a complete read replaces a cut one and never the reverse.
 */
export function batchRows(s: UsageSnippet, id: ReadIdentity, format: LineFormat, prices: PriceTable, now: number): UsageRow[] {
  const c = s.capture;
  const at: UsageSnippet = { ...s, requestId: id.requestId, ts: id.ts };
  const whole = s.outcome === 'complete' && !(c.kind === 'lines' && c.truncated === true);
  const version = 2 * (c.kind === 'lines' ? c.lines : 0) + (whole ? 1 : 0);
  const groups = c.kind === 'lines' ? c.groups : [];
  if (groups.length === 0) {
    const none: CanonicalUsage = { model: s.requestModel, input_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0, usage_status: 'missing' };
    return [{ ...buildRow(at, none, prices, now), version }];
  }
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
    const row = buildRow({ ...at, requestId: `${id.requestId}:${g.model}` }, usage, prices, now);
    return { ...row, cost_micro_usd: Math.round(row.cost_micro_usd * format.priceFactor), version };
  });
}
