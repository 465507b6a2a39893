// Turns a captured usage snippet into one canonical usage row (runs in the worker).
import { formatById } from './formats/index.ts';
import type { CanonicalUsage, UsageSnippet } from './snippet.ts';

/** Throws only when the snippet names a format this build does not know. */
export function normalizeSnippet(s: UsageSnippet): CanonicalUsage {
  const format = formatById(s.format);
  if (!format) throw new Error(`unknown usage format id '${s.format}' (provider ${s.provider}, request ${s.requestId})`);
  if (s.capture.kind === 'none' || s.capture.kind === 'error') return missingUsage(s);
  return format.normalize(s);
}

/** No token counts: the provider reported none, or they could not be read. */
export function missingUsage(s: UsageSnippet): CanonicalUsage {
  return {
    model: s.requestModel,
    input_tokens: 0,
    cached_input_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: 0,
    reasoning_tokens: 0,
    usage_status: 'missing',
  };
}
