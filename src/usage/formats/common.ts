// Helpers every usage format shares: tolerant JSON reading, cheap SSE checks, and the canonical row builder.
import type { CanonicalUsage, SseEventRecord, UsageSnippet } from '../snippet.ts';
import type { LineFormat, UsageFormat } from './types.ts';

export type JsonObject = Record<string, unknown>;

/** Counts as a format reads them, before the canonical invariants are enforced. */
export interface UsageCounts {
  input: number;
  cached: number;
  cacheWrite: number;
  /** The part of cacheWrite with a one-hour lifetime, when the provider says. */
  cacheWrite1h?: number;
  output: number;
  reasoning: number;
}

export interface FormatReading {
  /** null: the response carried no usage at all. */
  counts: UsageCounts | null;
  /** false when the counts are known to be a lower bound even though the body ended (e.g. no Anthropic message_delta). */
  final?: boolean;
  model?: string;
  providerError?: string;
  /** On a retrieval (a GET of a stored object), whether its usage is counted there rather than at its creation. */
  billableOnRetrieval?: boolean;
  /** Names usage that more than one request can report (a background response), so only the first counts it. */
  onceKey?: string;
}

export function asObject(v: unknown): JsonObject | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonObject) : undefined;
}

/** JSON.parse that answers undefined for anything but an object: captured text may be truncated or garbage. */
export function parseObject(text: string | undefined): JsonObject | undefined {
  if (text === undefined) return undefined;
  try {
    return asObject(JSON.parse(text));
  } catch {
    return undefined;
  }
}

export function parseValue(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A token count: a finite non-negative number, floored; anything else counts as 0. */
export function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

/**
 * The input count, cached part included. Some models (xAI's grok-4-1-fast among them) report prompt tokens without
 * their cached part; the total tells which: when it adds up only with the cached tokens counted on top, they were
 * left out of the prompt count. Without a total, or when both readings fit, the prompt count is taken as it is.
 */
export function inputWithCached(prompt: number, cached: number, others: number, total: unknown): number {
  const t = count(total);
  return cached > 0 && t === prompt + cached + others && t !== prompt + others ? prompt + cached : prompt;
}

export function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The captured top-level fields of a JSON body, parsed; a damaged field is simply absent. */
export function parseFields(fields: Readonly<Record<string, string>>): JsonObject {
  const body: JsonObject = {};
  for (const [key, raw] of Object.entries(fields)) {
    const value = parseValue(raw);
    if (value !== undefined) body[key] = value;
  }
  return body;
}

/** Parsed data of the captured SSE events, in arrival order, skipping any that are not JSON objects. */
export function parsedEvents(events: readonly SseEventRecord[]): Array<{ event?: string; body: JsonObject }> {
  const out: Array<{ event?: string; body: JsonObject }> = [];
  for (const e of events) {
    const body = parseObject(e.data);
    if (body) out.push(e.event === undefined ? { body } : { event: e.event, body });
  }
  return out;
}

/** Short text for an error object such as {type, message} or {code, message}. */
export function describeError(v: unknown): string | undefined {
  const o = asObject(v);
  if (!o) return text(v);
  const label = text(o.type) ?? text(o.code) ?? text(o.status) ?? (typeof o.code === 'number' ? String(o.code) : undefined);
  const message = text(o.message);
  const both = label && message ? `${label}: ${message}` : (label ?? message);
  return both?.slice(0, 300);
}

/** Whether some `"key": {` occurs in the text: a cheap test for a non-null object value, no parsing. */
export function hasObjectValue(data: string, key: string): boolean {
  const needle = `"${key}"`;
  for (let at = data.indexOf(needle); at !== -1; at = data.indexOf(needle, at + needle.length)) {
    let k = skipSpaces(data, at + needle.length);
    if (data.charCodeAt(k) !== 0x3a) continue;
    k = skipSpaces(data, k + 1);
    if (data.charCodeAt(k) === 0x7b) return true;
  }
  return false;
}

function skipSpaces(s: string, k: number): number {
  for (;;) {
    const c = s.charCodeAt(k);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return k;
    k++;
  }
}

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/**
 * The canonical row. Counts become non-negative integers and a part never exceeds its whole (cached and
 * cache writes within input, reasoning within output), so cost arithmetic downstream can never go negative.
 */
export function toCanonical(s: UsageSnippet, read: FormatReading): CanonicalUsage {
  // A stored object read back carries the usage of the request that created it, which was recorded then.
  const r = s.formatOptions?.retrieval === true && read.billableOnRetrieval !== true ? { ...read, counts: null } : read;
  const c = r.counts ?? { input: 0, cached: 0, cacheWrite: 0, output: 0, reasoning: 0 };
  const input = count(c.input);
  const cached = Math.min(count(c.cached), input);
  const cacheWrite = Math.min(count(c.cacheWrite), input - cached);
  const output = count(c.output);
  const reasoning = Math.min(count(c.reasoning), output);
  const found = r.counts !== null;
  const usage: CanonicalUsage = {
    model: r.model || s.requestModel,
    input_tokens: input,
    cached_input_tokens: cached,
    cache_write_tokens: cacheWrite,
    output_tokens: output,
    reasoning_tokens: reasoning,
    usage_status: !found ? 'missing' : s.outcome === 'complete' && r.final !== false && !eventsLost(s) ? 'reported' : 'partial',
  };
  if (r.onceKey && found) usage.once_key = r.onceKey;
  const cacheWrite1h = Math.min(count(c.cacheWrite1h), cacheWrite);
  if (cacheWrite1h > 0) usage.cache_write_1h_tokens = cacheWrite1h;
  // Only a 2xx can hide an error in its body; other statuses already say so.
  if (r.providerError && isSuccess(s.status)) usage.provider_error = r.providerError;
  return usage;
}

/**
 * A stream whose capture dropped a usage-bearing event (over the size cap, or cut short at the end) may have lost
 * the latest counts with it: what was kept is a lower bound, not the call's report.
 */
function eventsLost(s: UsageSnippet): boolean {
  return s.capture.kind === 'sse' && s.capture.truncated === true;
}

/** Counts with every part present, to add other counts into. */
export type CountsSum = Required<UsageCounts>;

export function zeroCounts(): CountsSum {
  return { input: 0, cached: 0, cacheWrite: 0, cacheWrite1h: 0, output: 0, reasoning: 0 };
}

/** Adds `c` into `sum`, part by part. */
export function addCounts(sum: CountsSum, c: UsageCounts): void {
  sum.input += c.input;
  sum.cached += c.cached;
  sum.cacheWrite += c.cacheWrite;
  sum.cacheWrite1h += c.cacheWrite1h ?? 0;
  sum.output += c.output;
  sum.reasoning += c.reasoning;
}

/** A batch-results snippet as one canonical usage: every line group summed (the worker writes one row per group). */
function linesTotal(s: UsageSnippet): CanonicalUsage {
  const c = s.capture;
  if (c.kind !== 'lines' || c.groups.length === 0) return toCanonical(s, { counts: null });
  const sum = zeroCounts();
  for (const g of c.groups) addCounts(sum, g);
  const model = c.groups.length === 1 ? c.groups[0]!.model : undefined;
  return toCanonical(s, { counts: sum, final: c.truncated !== true, ...(model ? { model } : {}) });
}

/** A batch-results format: JSON lines read by `read`, priced at `priceFactor` of the table's rates. */
export function linesFormat(id: string, read: LineFormat['read'], priceFactor: number): UsageFormat {
  return { id, jsonKeys: [], sseKeep: () => null, lines: { read, priceFactor }, normalize: linesTotal };
}
