// Gemini generateContent / streamGenerateContent: cumulative usageMetadata, the last one wins; thoughts sit outside candidates.
import type { CanonicalUsage, UsageSnippet } from '../snippet.ts';
import type { SseKeep, UsageFormat } from './types.ts';
import {
  asObject, count, describeError, parseFields, parsedEvents, text, toCanonical,
  type FormatReading, type JsonObject, type UsageCounts,
} from './common.ts';

const USAGE: SseKeep = { slot: 'usage', mode: 'last' };
const ERROR: SseKeep = { slot: 'error', mode: 'first' };
const ERROR_CHUNK = /^\s*\{\s*"error"\s*:/;

function keep(_event: string | undefined, data: string): SseKeep | null {
  if (data.includes('"usageMetadata"')) return USAGE;
  if (ERROR_CHUNK.test(data)) return ERROR;
  return null;
}

export function countsOf(m: JsonObject): UsageCounts {
  const thoughts = count(m.thoughtsTokenCount);
  return {
    input: count(m.promptTokenCount) + count(m.toolUsePromptTokenCount),
    cached: count(m.cachedContentTokenCount),
    cacheWrite: 0,
    output: count(m.candidatesTokenCount) + thoughts,
    reasoning: thoughts,
  };
}

/** One response object: a whole body, one element of the streamed array, or one SSE chunk. */
function readChunk(chunk: JsonObject): FormatReading {
  const usage = asObject(chunk.usageMetadata);
  return {
    counts: usage ? countsOf(usage) : null,
    model: text(chunk.modelVersion),
    providerError: chunk.error ? describeError(chunk.error) : undefined,
  };
}

function read(s: UsageSnippet): FormatReading {
  const c = s.capture;
  if (c.kind === 'json') return readChunk(parseFields(c.fields));
  if (c.kind !== 'sse') return { counts: null };
  let result: FormatReading = { counts: null };
  let providerError: string | undefined;
  for (const { body } of parsedEvents(c.events)) {
    const chunk = readChunk(body);
    providerError ??= chunk.providerError;
    if (chunk.counts) result = chunk;
  }
  return { ...result, providerError };
}

export const gemini: UsageFormat = {
  id: 'gemini',
  jsonKeys: ['usageMetadata', 'modelVersion', 'error'],
  sseKeep: keep,
  normalize: (s: UsageSnippet): CanonicalUsage => toCanonical(s, read(s)),
};
