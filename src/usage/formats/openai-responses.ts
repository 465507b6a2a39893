// OpenAI Responses API (OpenAI, xAI): usage on the body, or on the terminal response.* event of a stream.
import type { CanonicalUsage, UsageSnippet } from '../snippet.ts';
import type { SseKeep, UsageFormat } from './types.ts';
import {
  asObject, count, describeError, inputWithCached, parseFields, parsedEvents, text, toCanonical,
  type FormatReading, type JsonObject, type UsageCounts,
} from './common.ts';

const TERMINAL: SseKeep = { slot: 'terminal', mode: 'last' };
const CREATED: SseKeep = { slot: 'created', mode: 'first' };
const ERROR: SseKeep = { slot: 'error', mode: 'first' };
const TERMINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);
const TERMINAL_TYPE = /"type"\s*:\s*"response\.(?:completed|incomplete|failed)"/;

function keep(event: string | undefined, data: string): SseKeep | null {
  if (event !== undefined) {
    if (TERMINAL_EVENTS.has(event)) return TERMINAL;
    if (event === 'response.created') return CREATED;
    if (event === 'error') return ERROR;
    return null;
  }
  // Without `event:` lines the type is only in the data.
  if (data.includes('"response.') && TERMINAL_TYPE.test(data)) return TERMINAL;
  if (data.includes('"type":"error"')) return ERROR;
  return null;
}

export function countsOf(u: JsonObject): UsageCounts {
  const inputDetails = asObject(u.input_tokens_details);
  const cached = count(inputDetails?.cached_tokens);
  return {
    input: inputWithCached(count(u.input_tokens), cached, count(u.output_tokens), u.total_tokens),
    cached,
    cacheWrite: count(inputDetails?.cache_write_tokens),
    output: count(u.output_tokens),
    reasoning: count(asObject(u.output_tokens_details)?.reasoning_tokens),
  };
}

/**
 * A response object (the body, or `response` inside a stream event). A background response's creating request
 * answers before the model has run, so its usage is first seen, and counted, when it is read back finished.
 */
function readResponse(r: JsonObject): FormatReading {
  const usage = asObject(r.usage);
  const error = r.error === null || r.error === undefined ? undefined : describeError(r.error);
  const background = r.background === true;
  const id = text(r.id);
  // Its streamed creation and every finished read carry the same usage: the first to arrive counts it.
  const once = background && id ? { onceKey: `response:${id}` } : {};
  return { counts: usage ? countsOf(usage) : null, model: text(r.model), providerError: error, billableOnRetrieval: background, ...once };
}

function read(s: UsageSnippet): FormatReading {
  const c = s.capture;
  if (c.kind === 'json') return readResponse(parseFields(c.fields));
  if (c.kind !== 'sse') return { counts: null };
  let result: FormatReading = { counts: null };
  let createdModel: string | undefined;
  let streamError: string | undefined;
  for (const { body } of parsedEvents(c.events)) {
    const response = asObject(body.response);
    if (body.type === 'error') streamError ??= describeError(asObject(body.error) ?? { code: body.code, message: body.message });
    else if (response && body.type === 'response.created') createdModel ??= text(response.model);
    else if (response) result = readResponse(response);
  }
  return {
    ...result,
    model: result.model ?? createdModel,
    providerError: result.providerError ?? streamError,
  };
}

export const openaiResponses: UsageFormat = {
  id: 'openai-responses',
  jsonKeys: ['id', 'model', 'usage', 'error', 'background'],
  sseKeep: keep,
  // A terminal event repeats the whole response (output, instructions, tools): often far over the capture cap.
  sseLargeEvent: { type: true, response: { id: true, model: true, usage: true, error: true, background: true } },
  normalize: (s: UsageSnippet): CanonicalUsage => toCanonical(s, read(s)),
};
