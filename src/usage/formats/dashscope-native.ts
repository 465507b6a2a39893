// Dashscope native generation/embeddings: every stream event carries cumulative usage (last wins); errors are {code, message}.
import type { CanonicalUsage, UsageSnippet } from '../snippet.ts';
import type { SseKeep, UsageFormat } from './types.ts';
import {
  asObject, count, parseFields, parsedEvents, text, toCanonical,
  type FormatReading, type JsonObject, type UsageCounts,
} from './common.ts';

const USAGE: SseKeep = { slot: 'usage', mode: 'last' };
const ERROR: SseKeep = { slot: 'error', mode: 'first' };

function keep(event: string | undefined, data: string): SseKeep | null {
  if (event === 'error') return ERROR;
  return data.includes('"usage"') ? USAGE : null;
}

function countsOf(u: JsonObject): UsageCounts {
  const hasSplit = typeof u.input_tokens === 'number' || typeof u.output_tokens === 'number';
  return {
    // Embeddings report only total_tokens, all of it input.
    input: hasSplit ? count(u.input_tokens) : count(u.total_tokens),
    cached: count(asObject(u.prompt_tokens_details)?.cached_tokens),
    cacheWrite: 0,
    output: count(u.output_tokens),
    reasoning: count(asObject(u.output_tokens_details)?.reasoning_tokens),
  };
}

function errorOf(body: JsonObject): string | undefined {
  const code = text(body.code);
  if (!code) return undefined;
  const message = text(body.message);
  return (message ? `${code}: ${message}` : code).slice(0, 300);
}

function read(s: UsageSnippet): FormatReading {
  const c = s.capture;
  if (c.kind === 'json') {
    const body = parseFields(c.fields);
    const usage = asObject(body.usage);
    return { counts: usage ? countsOf(usage) : null, providerError: errorOf(body) };
  }
  if (c.kind !== 'sse') return { counts: null };
  let usage: JsonObject | undefined;
  let providerError: string | undefined;
  for (const { body } of parsedEvents(c.events)) {
    usage = asObject(body.usage) ?? usage;
    providerError ??= errorOf(body);
  }
  return { counts: usage ? countsOf(usage) : null, providerError };
}

export const dashscopeNative: UsageFormat = {
  id: 'dashscope-native',
  jsonKeys: ['usage', 'code', 'message'],
  sseKeep: keep,
  normalize: (s: UsageSnippet): CanonicalUsage => toCanonical(s, read(s)),
};
