// MiniMax native chatcompletion_v2 (unverified: no genuine payload): OpenAI-like usage, errors as HTTP 200 with base_resp.
import type { CanonicalUsage, UsageSnippet } from '../snippet.ts';
import type { SseKeep, UsageFormat } from './types.ts';
import { asObject, count, parseFields, parsedEvents, text, toCanonical, type FormatReading, type JsonObject } from './common.ts';
import { bodyError, keepOpenAiStyleEvent, realUsage } from './openai-chat.ts';

const ERROR: SseKeep = { slot: 'error', mode: 'first' };
const FAILED_BASE_RESP = /"base_resp"\s*:\s*\{[^}]*"status_code"\s*:\s*-?[1-9]/;

function keep(_event: string | undefined, data: string): SseKeep | null {
  if (data.includes('"base_resp"') && FAILED_BASE_RESP.test(data)) return ERROR;
  return keepOpenAiStyleEvent(data);
}

function countsOf(u: JsonObject): FormatReading['counts'] {
  return { input: count(u.prompt_tokens), cached: 0, cacheWrite: 0, output: count(u.completion_tokens), reasoning: 0 };
}

function read(s: UsageSnippet): FormatReading {
  const c = s.capture;
  if (c.kind === 'json') {
    const body = parseFields(c.fields);
    const usage = asObject(body.usage);
    return { counts: usage ? countsOf(usage) : null, model: text(body.model), providerError: bodyError(body) };
  }
  if (c.kind !== 'sse') return { counts: null };
  let usage: JsonObject | undefined;
  let model: string | undefined;
  let providerError: string | undefined;
  for (const { body } of parsedEvents(c.events)) {
    model ??= text(body.model);
    providerError ??= bodyError(body);
    // Content chunks carry a zero placeholder; the real usage is the last non-zero one.
    usage = realUsage(body.usage) ?? usage;
  }
  return { counts: usage ? countsOf(usage) : null, model, providerError };
}

export const minimaxNative: UsageFormat = {
  id: 'minimax-native',
  jsonKeys: ['model', 'usage', 'base_resp'],
  sseKeep: keep,
  normalize: (s: UsageSnippet): CanonicalUsage => toCanonical(s, read(s)),
};
