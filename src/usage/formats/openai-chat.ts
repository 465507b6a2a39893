// OpenAI chat/completions/embeddings and every OpenAI-compatible API: usage on the body or on a late stream chunk.
import type { CanonicalUsage, UsageSnippet } from '../snippet.ts';
import type { SseKeep, UsageFormat } from './types.ts';
import {
  asObject, count, describeError, hasObjectValue, inputWithCached, parseFields, parsedEvents, text, toCanonical,
  type FormatReading, type JsonObject, type UsageCounts,
} from './common.ts';

const USAGE: SseKeep = { slot: 'usage', mode: 'last' };
const ERROR: SseKeep = { slot: 'error', mode: 'first' };
const FIRST_CHUNK: SseKeep = { slot: 'first', mode: 'first' };
// MiniMax-style placeholders: a usage object whose total is literally 0 is not the real usage.
const ZERO_TOTAL = /"total_tokens"\s*:\s*0\s*[,}]/;
const ERROR_CHUNK = /^\s*\{\s*"error"\s*:/;

/** Shared with the other OpenAI-family formats: keep usage chunks, the first chunk (model), and error chunks. */
export function keepOpenAiStyleEvent(data: string): SseKeep | null {
  if (data.charCodeAt(0) !== 0x7b && !data.trimStart().startsWith('{')) return null; // [DONE] and the like
  if (data.includes('"usage"') && hasObjectValue(data, 'usage') && !ZERO_TOTAL.test(data)) return USAGE;
  if (ERROR_CHUNK.test(data)) return ERROR;
  return FIRST_CHUNK;
}

/** A usage object that is more than a placeholder: non-zero total (or prompt + completion when no total). */
export function realUsage(v: unknown): JsonObject | undefined {
  const u = asObject(v);
  if (!u) return undefined;
  const total = count(u.total_tokens) || count(u.prompt_tokens) + count(u.completion_tokens);
  return total > 0 ? u : undefined;
}

/** Where a chunk keeps its usage: top level, Kimi's `choices[0].usage`, or Groq's `x_groq.usage`. */
export function chunkUsage(chunk: JsonObject): JsonObject | undefined {
  const choices = chunk.choices;
  const firstChoice = Array.isArray(choices) ? asObject(choices[0]) : undefined;
  return realUsage(chunk.usage) ?? realUsage(firstChoice?.usage) ?? realUsage(asObject(chunk.x_groq)?.usage);
}

const COUNT_NAMES = ['prompt_tokens', 'completion_tokens', 'input_tokens', 'output_tokens'] as const;

/** null for a usage object with no token count at all (Whisper's `{"type":"duration","seconds":…}`): not zero tokens. */
export function countsOf(u: JsonObject, reasoningOutsideCompletion: boolean): UsageCounts | null {
  if (!COUNT_NAMES.some((name) => typeof u[name] === 'number')) return null;
  // The image and transcription endpoints of the same APIs name their counts as the Responses API does.
  if (typeof u.prompt_tokens !== 'number' && typeof u.completion_tokens !== 'number') {
    return { input: count(u.input_tokens), cached: count(asObject(u.input_tokens_details)?.cached_tokens), cacheWrite: 0, output: count(u.output_tokens), reasoning: 0 };
  }
  const promptDetails = asObject(u.prompt_tokens_details);
  const completionDetails = asObject(u.completion_tokens_details);
  const reasoning = count(completionDetails?.reasoning_tokens);
  // The same count under three spellings (OpenAI, DeepSeek, Moonshot); the largest wins so a zero in one never hides another.
  const cached = Math.max(count(promptDetails?.cached_tokens), count(u.prompt_cache_hit_tokens), count(u.cached_tokens));
  const output = count(u.completion_tokens) + (reasoningOutsideCompletion ? reasoning : 0);
  return {
    input: inputWithCached(count(u.prompt_tokens), cached, output, u.total_tokens),
    cached,
    cacheWrite: count(promptDetails?.cache_write_tokens),
    output,
    reasoning,
  };
}

/** A 200 body can still be an error: `error`, or a MiniMax-style `base_resp` with a non-zero status code. */
export function bodyError(body: JsonObject): string | undefined {
  if (body.error !== undefined && body.error !== null) return describeError(body.error);
  const baseResp = asObject(body.base_resp);
  if (baseResp && typeof baseResp.status_code === 'number' && baseResp.status_code !== 0) {
    return `base_resp ${String(baseResp.status_code)}: ${text(baseResp.status_msg) ?? ''}`.trim();
  }
  return undefined;
}

function read(s: UsageSnippet): FormatReading {
  const outside = s.formatOptions?.reasoningOutsideCompletion === true;
  const c = s.capture;
  if (c.kind === 'json') {
    const body = parseFields(c.fields);
    // A non-streamed body's usage is the usage, even if zero (an empty embedding input).
    const usage = asObject(body.usage) ?? chunkUsage(body);
    return { counts: usage ? countsOf(usage, outside) : null, model: text(body.model), providerError: bodyError(body) };
  }
  if (c.kind !== 'sse') return { counts: null };
  let usageChunk: JsonObject | undefined;
  let usage: JsonObject | undefined;
  let firstModel: string | undefined;
  let providerError: string | undefined;
  for (const { body } of parsedEvents(c.events)) {
    firstModel ??= text(body.model);
    providerError ??= bodyError(body);
    const u = chunkUsage(body);
    if (u) {
      usage = u;
      usageChunk = body;
    }
  }
  return {
    counts: usage ? countsOf(usage, outside) : null,
    model: text(usageChunk?.model) ?? firstModel,
    providerError,
  };
}

export const openaiChat: UsageFormat = {
  id: 'openai-chat',
  jsonKeys: ['model', 'usage', 'x_groq', 'error', 'base_resp'],
  sseKeep: (_event, data) => keepOpenAiStyleEvent(data),
  sseLargeEvent: { model: true, usage: true, x_groq: true, error: true, base_resp: true, choices: { usage: true } },
  normalize: (s: UsageSnippet): CanonicalUsage => toCanonical(s, read(s)),
};
