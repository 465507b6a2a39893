// Cohere v2 chat/embed and legacy v1: billing is on billed_units (tokens.* also counts template tokens); no model in responses.
import type { CanonicalUsage, UsageSnippet } from '../snippet.ts';
import type { SseKeep, UsageFormat } from './types.ts';
import { asObject, count, parseFields, parsedEvents, toCanonical, type FormatReading, type JsonObject } from './common.ts';

const END: SseKeep = { slot: 'end', mode: 'last' };
const MESSAGE_END = /"type"\s*:\s*"message-end"/;

function keep(event: string | undefined, data: string): SseKeep | null {
  if (event !== undefined) return event === 'message-end' ? END : null;
  return data.includes('message-end') && MESSAGE_END.test(data) ? END : null;
}

function readBilled(billed: JsonObject | undefined): FormatReading {
  if (!billed) return { counts: null };
  return {
    counts: { input: count(billed.input_tokens), cached: 0, cacheWrite: 0, output: count(billed.output_tokens), reasoning: 0 },
  };
}

function read(s: UsageSnippet): FormatReading {
  const c = s.capture;
  if (c.kind === 'json') {
    const body = parseFields(c.fields);
    // v2 chat: usage.billed_units; v2 embed and v1: meta.billed_units; v1 stream's stream-end line: response.meta.billed_units.
    const billed =
      asObject(asObject(body.usage)?.billed_units) ??
      asObject(asObject(body.meta)?.billed_units) ??
      asObject(asObject(asObject(body.response)?.meta)?.billed_units);
    return readBilled(billed);
  }
  if (c.kind !== 'sse') return { counts: null };
  let result: FormatReading = { counts: null };
  for (const { body } of parsedEvents(c.events)) {
    const billed = asObject(asObject(asObject(body.delta)?.usage)?.billed_units);
    if (billed) result = readBilled(billed);
  }
  return result;
}

export const cohere: UsageFormat = {
  id: 'cohere',
  jsonKeys: ['usage', 'meta', 'response'],
  // v1's stream-end line repeats the whole chat history in `response`: only its meta is needed.
  jsonLargeMembers: { response: { meta: true } },
  sseKeep: keep,
  normalize: (s: UsageSnippet): CanonicalUsage => toCanonical(s, read(s)),
};
