// One usage_events row from a snippet, its canonical usage and its price: every field coerced to what its column takes.
import type { PriceTable } from '../src/usage/prices.ts';
import type { CanonicalUsage, UsageSnippet, UsageStatus } from '../src/usage/snippet.ts';

/** The canonical usage columns, with the same names and meaning as CanonicalUsage (providers.md). */
type UsageColumns = Pick<
  CanonicalUsage,
  'input_tokens' | 'cached_input_tokens' | 'cache_write_tokens' | 'output_tokens' | 'reasoning_tokens' | 'usage_status'
>;

/** Column names and JSONEachRow value types of usage_events (see migrations.ts). */
export interface UsageRow extends UsageColumns {
  request_id: string;
  /** Unix seconds; the column is DateTime('UTC'). */
  ts: number;
  account_id: string;
  key_id: string;
  provider: string;
  model: string;
  request_model: string;
  format: string;
  method: string;
  path: string;
  status: number;
  stream: 0 | 1;
  outcome: string;
  error: string;
  provider_error: string;
  latency_ms: number;
  ttfb_ms: number;
  bytes_in: number;
  bytes_out: number;
  cost_micro_usd: number;
  price_known: 0 | 1;
  raw_usage: string;
  inserted_at: number;
  version: number;
}

const USAGE_STATUSES: readonly UsageStatus[] = ['reported', 'partial', 'missing'];
const UINT16_MAX = 65_535;
const UINT32_MAX = 4_294_967_295;

/*
 * A row ClickHouse cannot parse would fail its whole batch on every retry and stall the writer, so nothing from a
 * snippet reaches a column unchecked: integers are clamped into range, strings made well-formed and bounded.
 */
/** A whole number from 0 to `max` (0 for anything that is not a finite positive number): every integer column's value. */
export function uint(n: unknown, max = Number.MAX_SAFE_INTEGER): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.min(Math.trunc(n), max) : 0;
}

function text(s: unknown, maxChars: number): string {
  if (typeof s !== 'string') return '';
  const t = s.length > maxChars ? s.slice(0, maxChars) : s;
  return t.toWellFormed();
}

/** Everything needed to normalize the event again later (after a normalizer fix), without the row's own fields. */
function rawUsage(s: UsageSnippet): string {
  const raw = s.formatOptions ? { formatOptions: s.formatOptions, capture: s.capture } : { capture: s.capture };
  return text(JSON.stringify(raw), 256 * 1024);
}

/** The row for one event, priced from its sanitized counts (unknown model: cost 0, price_known 0). */
export function buildRow(s: UsageSnippet, u: CanonicalUsage, prices: PriceTable, nowMs: number = Date.now()): UsageRow {
  const input = uint(u.input_tokens);
  const output = uint(u.output_tokens);
  const usage: CanonicalUsage = {
    model: text(u.model || s.requestModel, 256),
    input_tokens: input,
    // The parts can never exceed their whole; a normalizer slip must not produce negative uncached input.
    cached_input_tokens: Math.min(uint(u.cached_input_tokens), input),
    // Cache reads and writes are both parts of input: together they cannot exceed it either.
    cache_write_tokens: Math.min(uint(u.cache_write_tokens), input - Math.min(uint(u.cached_input_tokens), input)),
    output_tokens: output,
    reasoning_tokens: Math.min(uint(u.reasoning_tokens), output),
    usage_status: USAGE_STATUSES.includes(u.usage_status) ? u.usage_status : 'missing',
  };
  if (u.cache_write_1h_tokens) usage.cache_write_1h_tokens = Math.min(uint(u.cache_write_1h_tokens), usage.cache_write_tokens);
  const provider = text(s.provider, 64);
  const priced = prices.price(provider, usage);
  return {
    request_id: text(s.requestId, 256),
    ts: uint(Math.floor(s.ts / 1000), UINT32_MAX),
    account_id: text(s.accountId, 256),
    key_id: text(s.keyId, 256),
    provider,
    model: usage.model,
    request_model: text(s.requestModel, 256),
    format: text(s.format, 64),
    method: text(s.method, 16),
    path: text(s.path, 2048),
    status: uint(s.status, UINT16_MAX),
    stream: s.stream ? 1 : 0,
    outcome: text(s.outcome, 32),
    error: text(s.error, 1024),
    provider_error: text(u.provider_error, 1024),
    input_tokens: usage.input_tokens,
    cached_input_tokens: usage.cached_input_tokens,
    cache_write_tokens: usage.cache_write_tokens,
    output_tokens: usage.output_tokens,
    reasoning_tokens: usage.reasoning_tokens,
    usage_status: usage.usage_status,
    latency_ms: uint(s.latencyMs, UINT32_MAX),
    ttfb_ms: uint(s.ttfbMs, UINT32_MAX),
    bytes_in: uint(s.bytesIn),
    bytes_out: uint(s.bytesOut),
    cost_micro_usd: uint(priced.cost_micro_usd),
    price_known: priced.price_known,
    raw_usage: rawUsage(s),
    inserted_at: Math.floor(nowMs / 1000),
    version: Math.trunc(nowMs),
  };
}
