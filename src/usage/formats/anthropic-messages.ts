// Anthropic messages: message_start's usage overlaid by every message_delta; `event: error` inside a 200 stream.
import type { CanonicalUsage, UsageSnippet } from '../snippet.ts';
import type { SseKeep, UsageFormat } from './types.ts';
import {
  asObject, count, describeError, parseFields, parsedEvents, text, toCanonical,
  type FormatReading, type JsonObject, type UsageCounts,
} from './common.ts';

const START: SseKeep = { slot: 'start', mode: 'first' };
const DELTA: SseKeep = { slot: 'delta', mode: 'append' };
const ERROR: SseKeep = { slot: 'error', mode: 'first' };
const TYPE_OF = /"type"\s*:\s*"(message_start|message_delta|error)"/;

function keep(event: string | undefined, data: string): SseKeep | null {
  // The wire always names the event; data's own `type` is the fallback for a stream relayed without `event:` lines.
  const type = event ?? TYPE_OF.exec(data)?.[1];
  if (type === 'message_start') return START;
  if (type === 'message_delta') return DELTA;
  if (type === 'error') return ERROR;
  return null;
}

export function countsOf(u: JsonObject): UsageCounts {
  const cacheWrite = count(u.cache_creation_input_tokens);
  const cacheRead = count(u.cache_read_input_tokens);
  return {
    // Anthropic's input_tokens excludes cache reads and writes; canonical input includes them.
    input: count(u.input_tokens) + cacheWrite + cacheRead,
    cached: cacheRead,
    cacheWrite,
    // Writes with a one-hour lifetime cost more than five-minute ones; usage splits them in cache_creation.
    cacheWrite1h: count(asObject(u.cache_creation)?.ephemeral_1h_input_tokens),
    output: count(u.output_tokens),
    // Within output_tokens, reported where the API counts thinking (output_tokens_details, newer API versions).
    reasoning: count(asObject(u.output_tokens_details)?.thinking_tokens),
  };
}

function readStream(events: ReturnType<typeof parsedEvents>): FormatReading {
  let usage: JsonObject | undefined;
  let model: string | undefined;
  let sawDelta = false;
  let providerError: string | undefined;
  for (const { event, body } of events) {
    const type = event ?? text(body.type);
    if (type === 'message_start') {
      const message = asObject(body.message);
      model ??= text(message?.model);
      const start = asObject(message?.usage);
      if (start) usage = { ...start, ...usage };
    } else if (type === 'message_delta') {
      const delta = asObject(body.usage);
      if (!delta) continue;
      sawDelta = true;
      usage ??= {};
      for (const [k, v] of Object.entries(delta)) if (v !== null && v !== undefined) usage[k] = v;
    } else if (type === 'error') {
      providerError ??= describeError(body.error ?? body);
    }
  }
  // Without a message_delta the output count is message_start's placeholder: a lower bound, whatever the outcome.
  return { counts: usage ? countsOf(usage) : null, final: sawDelta, model, providerError };
}

function read(s: UsageSnippet): FormatReading {
  const c = s.capture;
  if (c.kind === 'json') {
    const body = parseFields(c.fields);
    const usage = asObject(body.usage);
    const error = body.type === 'error' || body.error ? describeError(body.error) : undefined;
    return { counts: usage ? countsOf(usage) : null, model: text(body.model), providerError: error };
  }
  if (c.kind === 'sse') return readStream(parsedEvents(c.events));
  return { counts: null };
}

export const anthropicMessages: UsageFormat = {
  id: 'anthropic-messages',
  jsonKeys: ['type', 'model', 'usage', 'error'],
  sseKeep: keep,
  normalize: (s: UsageSnippet): CanonicalUsage => toCanonical(s, read(s)),
};
