// Capture: body kind by content type, never throwing, bounded event keeping, and streams cut early (partial / missing).
import { describe, expect, test } from 'bun:test';
import { gzipSync } from 'node:zlib';
import { bodyKindOf, createCapture, MAX_EVENT_DATA_BYTES, MAX_KEPT_EVENTS, MAX_SSE_EVENT_BYTES } from '../../src/usage/capture.ts';
import { formatById, USAGE_FORMATS } from '../../src/usage/formats/index.ts';
import type { UsageFormat } from '../../src/usage/formats/types.ts';
import { normalizeSnippet } from '../../src/usage/normalize.ts';
import type { Capture, Outcome } from '../../src/usage/snippet.ts';
import { bytewise, captureOf, chunked, chunkLines, fixtureBytes, fixtureText, seededBytes, snippet, sseEventsOf, wireBytes } from './usage-wire.ts';

const enc = (s: string) => new TextEncoder().encode(s);

function normalized(format: string, capture: Capture, outcome: Outcome = 'complete') {
  return normalizeSnippet(snippet({ format, capture, outcome }));
}

describe('body kind', () => {
  test('content types', () => {
    expect(bodyKindOf('text/event-stream')).toBe('sse');
    expect(bodyKindOf('Text/Event-Stream;charset=UTF-8')).toBe('sse');
    expect(bodyKindOf('application/json; charset=utf-8')).toBe('json');
    expect(bodyKindOf('application/problem+json')).toBe('json');
    expect(bodyKindOf('application/stream+json')).toBe('json');
    expect(bodyKindOf(null)).toBe('sniff');
    expect(bodyKindOf('')).toBe('sniff');
    expect(bodyKindOf('text/html')).toBe('none');
    expect(bodyKindOf('application/octet-stream')).toBe('none');
  });

  test('without a content type, a body opening with { or [ (after BOM/whitespace) is read as JSON', () => {
    const body = fixtureBytes('dashscope/native-generation-nonstream.json');
    const c = captureOf('dashscope-native', null, bytewise(body));
    expect(c.kind).toBe('json');
    expect(normalized('dashscope-native', c).input_tokens).toBe(8);
    expect(captureOf('gemini', null, [enc('  \n[{"usageMetadata":{"promptTokenCount":2}}]')]).kind).toBe('json');
  });

  test('anything else is none: no content type and not JSON, HTML, empty JSON body', () => {
    expect(captureOf('openai-chat', null, [enc('data: {"usage":{}}\n\n')])).toEqual({ kind: 'none' });
    expect(captureOf('openai-chat', 'text/html', [fixtureBytes('openai/chat-nonstream.json')])).toEqual({ kind: 'none' });
    expect(captureOf('openai-chat', 'application/json', [])).toEqual({ kind: 'none' });
    expect(captureOf('openai-chat', 'application/json', [enc('<html>502</html>')])).toEqual({ kind: 'none' });
  });
});

describe('never throws', () => {
  const contentTypes = ['text/event-stream', 'application/json', null];

  test('random bytes, for every format and body kind, give a capture that normalizes to missing', () => {
    for (const format of USAGE_FORMATS) {
      for (const ct of contentTypes) {
        for (let seed = 1; seed <= 5; seed++) {
          const bytes = seededBytes(seed * 7919 + format.id.length, 3000);
          const c = captureOf(format.id, ct, [bytes.subarray(0, 1000), bytes.subarray(1000)]);
          expect(c.kind === 'error').toBe(false);
          expect(normalized(format.id, c).usage_status).toBe('missing');
        }
      }
    }
  });

  test('invalid UTF-8 inside a real stream does not disturb the usage after it', () => {
    const wire = wireBytes('openai/chat-stream-include-usage.chunks.jsonl', 'openai');
    const poisoned = new Uint8Array([...wire.subarray(0, 400), 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, ...wire.subarray(400)]);
    const u = normalized('openai-chat', captureOf('openai-chat', 'text/event-stream', bytewise(poisoned)));
    expect([u.input_tokens, u.output_tokens, u.usage_status]).toEqual([16, 300, 'reported']);
  });

  test('gzip bytes fed undecoded (the proxy must decode first) give missing, not a throw', () => {
    const gz = gzipSync(fixtureBytes('dashscope/native-generation-stream-raw.sse'));
    const c = captureOf('dashscope-native', 'text/event-stream;charset=UTF-8', [gz]);
    expect(c.kind).toBe('sse');
    expect(normalized('dashscope-native', c).usage_status).toBe('missing');
  });

  test('a JSON body cut at every byte: missing until usage is complete, then partial with the full counts', () => {
    const body = fixtureBytes('openai/chat-nonstream.json');
    const text = new TextDecoder().decode(body);
    // The usage object closes at two-space indent in this pretty-printed body; the cut must include its '}'.
    const closeOfUsage = text.indexOf('\n  }', text.indexOf('"usage"')) + 4;
    expect(text[closeOfUsage - 1]).toBe('}');
    const wrong: number[] = [];
    for (let cut = 0; cut < body.length; cut++) {
      const u = normalized('openai-chat', captureOf('openai-chat', 'application/json', [body.subarray(0, cut)]), 'upstream_reset');
      const want = cut >= closeOfUsage ? ['partial', 16, 363] : ['missing', 0, 0];
      if (!Bun.deepEquals([u.usage_status, u.input_tokens, u.output_tokens], want)) wrong.push(cut);
    }
    expect(wrong).toEqual([]);
  });

  test('a format that throws turns the capture into an error; later feeds are no-ops; normalize gives missing', () => {
    let calls = 0;
    const base = formatById('openai-chat') as UsageFormat;
    const throwing: UsageFormat = {
      ...base,
      sseKeep: () => {
        calls++;
        throw new Error('boom');
      },
    };
    const cap = createCapture(throwing, 'text/event-stream');
    cap.feed(enc('data: {"a":1}\n\n'));
    cap.feed(enc('data: {"a":2}\n\n'));
    const c = cap.finish();
    expect(c).toEqual({ kind: 'error', message: 'usage capture failed: boom' });
    expect(calls).toBe(1);
    expect(cap.finish()).toBe(c);
    expect(normalized('openai-chat', c)).toEqual({
      model: 'request-model', input_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0,
      output_tokens: 0, reasoning_tokens: 0, usage_status: 'missing',
    });
  });

  test('a format that fails while the capture is being set up also becomes an error capture', () => {
    const base = formatById('gemini') as UsageFormat;
    const broken = { ...base, get jsonKeys(): readonly string[] { throw new Error('no keys'); } };
    const cap = createCapture(broken, 'application/json');
    cap.feed(enc('{}'));
    expect(cap.finish()).toEqual({ kind: 'error', message: 'usage capture failed: no keys' });
  });

  test('feeds after finish are ignored', () => {
    const cap = createCapture(formatById('gemini') as UsageFormat, 'text/event-stream');
    const first = cap.finish();
    cap.feed(enc('data: {"usageMetadata":{"promptTokenCount":1}}\n\n'));
    expect(cap.finish()).toEqual(first);
    expect(first).toEqual({ kind: 'sse', events: [] });
  });
});

describe('bounded event keeping', () => {
  test(`a long stream keeps at most ${MAX_KEPT_EVENTS} events; 'last' slots keep only the newest`, () => {
    const events = Array.from({ length: 2000 }, (_, i) =>
      `data:{"usage":{"input_tokens":5,"output_tokens":${i + 1},"total_tokens":${i + 6}}}\n\n`);
    const c = captureOf('dashscope-native', 'text/event-stream', [enc(events.join(''))]);
    if (c.kind !== 'sse') throw new Error(c.kind);
    expect(c.events).toHaveLength(1);
    expect(normalized('dashscope-native', c).output_tokens).toBe(2000);
  });

  test("'append' slots drop their oldest when full and keep the newest, which hold the usage: nothing is lost", () => {
    const start = sseEventsOf('anthropic/messages-stream.chunks.jsonl', 'typed')[0] as string;
    const deltas = Array.from({ length: 40 }, (_, i) =>
      `event: message_delta\ndata: {"type":"message_delta","delta":{},"usage":{"output_tokens":${i + 1}}}\n\n`);
    const c = captureOf('anthropic-messages', 'text/event-stream', [enc(start + deltas.join(''))]);
    if (c.kind !== 'sse') throw new Error(c.kind);
    expect(c.events).toHaveLength(MAX_KEPT_EVENTS);
    expect(c.truncated).toBeUndefined();
    expect(c.events[0]?.event).toBe('message_start');
    const u = normalized('anthropic-messages', c);
    expect([u.input_tokens, u.output_tokens, u.usage_status]).toEqual([12, 40, 'reported']);
  });

  test('a usage-bearing event lost to the size cap makes what was kept a lower bound: partial, not reported', () => {
    const good = 'data: {"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4}}\n\n';
    const huge = `data: {"candidates":[{"inlineData":"${'A'.repeat(MAX_SSE_EVENT_BYTES)}"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":9}}\n\n`;
    const c = captureOf('gemini', 'text/event-stream', chunked(enc(good + huge), 65536));
    if (c.kind !== 'sse') throw new Error(c.kind);
    expect(c.truncated).toBe(true);
    const u = normalized('gemini', c);
    expect([u.input_tokens, u.output_tokens, u.usage_status]).toEqual([3, 4, 'partial']);
  });

  test('an event over the cap followed by a whole usage-bearing one loses nothing: reported', () => {
    const huge = `data: {"candidates":[{"inlineData":"${'A'.repeat(MAX_SSE_EVENT_BYTES)}"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":9}}\n\n`;
    const last = 'data: {"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1295}}\n\n';
    const c = captureOf('gemini', 'text/event-stream', chunked(enc(huge + last), 65536));
    if (c.kind !== 'sse') throw new Error(c.kind);
    expect(c.truncated).toBeUndefined();
    const u = normalized('gemini', c);
    expect([u.input_tokens, u.output_tokens, u.usage_status]).toEqual([3, 1295, 'reported']);
    // A huge content delta in an OpenAI-style stream, usage in its last chunk: the same.
    const delta = `data: {"choices":[{"delta":{"content":"${'x'.repeat(MAX_SSE_EVENT_BYTES)}"}}]}\n\n`;
    const usage = 'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}\n\ndata: [DONE]\n\n';
    const o = normalized('openai-chat', captureOf('openai-chat', 'text/event-stream', chunked(enc(delta + usage), 65536)));
    expect([o.input_tokens, o.output_tokens, o.usage_status]).toEqual([5, 7, 'reported']);
  });

  test('an event over the cap is cut down to its usage-bearing members, so its usage is kept', () => {
    const good = 'data: {"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4}}\n\n';
    const huge = `data: {"candidates":[{"inlineData":"${'A'.repeat(MAX_EVENT_DATA_BYTES)}"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":9},"modelVersion":"gemini-2.5-flash"}\n\n`;
    const c = captureOf('gemini', 'text/event-stream', bytewise(enc(good + huge)));
    if (c.kind !== 'sse') throw new Error(c.kind);
    expect(c.truncated).toBeUndefined();
    expect(c.events.every((e) => e.data.length <= MAX_EVENT_DATA_BYTES)).toBe(true);
    expect(c.events.at(-1)?.data).toBe('{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":9},"modelVersion":"gemini-2.5-flash"}');
    const u = normalized('gemini', c);
    expect([u.input_tokens, u.output_tokens, u.model, u.usage_status]).toEqual([3, 9, 'gemini-2.5-flash', 'reported']);
  });

  test('Responses API: a response.completed event repeating 200 KB of output still yields its usage', () => {
    // The real non-streamed response object, as the terminal event of a stream carries it, with its text inflated.
    const response = JSON.parse(fixtureText('openai/responses-nonstream.json')) as { output: unknown[] };
    response.output.push({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'x'.repeat(200_000) }] });
    const terminal = `event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: 9, response })}\n\n`;
    const c = captureOf('openai-responses', 'text/event-stream', chunked(enc(terminal), 1500));
    if (c.kind !== 'sse') throw new Error(c.kind);
    expect(c.truncated).toBeUndefined();
    expect(Buffer.byteLength(c.events[0]?.data ?? '')).toBeLessThan(1024);
    const u = normalized('openai-responses', c);
    expect([u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_tokens, u.usage_status]).toEqual([7243, 3072, 423, 58, 'reported']);
  });

  test('a stream repeating its growing output in every event keeps the last usage', () => {
    const events = Array.from({ length: 12 }, (_, i) =>
      `data:{"output":{"text":"${'y'.repeat(20_000 * (i + 1))}"},"usage":{"input_tokens":5,"output_tokens":${1000 * (i + 1)}}}\n\n`);
    const c = captureOf('dashscope-native', 'text/event-stream', chunked(enc(events.join('')), 4096));
    if (c.kind !== 'sse') throw new Error(c.kind);
    expect(c.events).toHaveLength(1);
    expect(c.events[0]?.data).toBe('{"usage":{"input_tokens":5,"output_tokens":12000}}');
    expect(normalized('dashscope-native', c).output_tokens).toBe(12000);
  });

  test(`an event over ${MAX_SSE_EVENT_BYTES} bytes is dropped and the capture says so`, () => {
    const good = 'data: {"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4}}\n\n';
    const huge = `data: {"candidates":[{"inlineData":"${'A'.repeat(MAX_SSE_EVENT_BYTES)}"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":9}}\n\n`;
    const c = captureOf('gemini', 'text/event-stream', chunked(enc(good + huge), 64 * 1024));
    if (c.kind !== 'sse') throw new Error(c.kind);
    expect(c.truncated).toBe(true);
    expect(c.events.every((e) => e.data.length <= MAX_EVENT_DATA_BYTES)).toBe(true);
    const u = normalized('gemini', c);
    expect([u.input_tokens, u.output_tokens]).toEqual([3, 4]);
  });
});

describe('streams cut early', () => {
  function cutAfter(rel: string, wire: 'openai' | 'typed' | 'plain', events: number, format: string, outcome: Outcome = 'client_abort') {
    const all = sseEventsOf(rel, wire);
    return normalized(format, captureOf(format, 'text/event-stream', [enc(all.slice(0, events).join(''))]), outcome);
  }

  test('Anthropic cut after message_start: partial with the input counts', () => {
    const u = cutAfter('anthropic/messages-stream.chunks.jsonl', 'typed', 1, 'anthropic-messages');
    expect(u).toEqual({
      model: 'claude-sonnet-4-5-20250929', input_tokens: 12, cached_input_tokens: 0, cache_write_tokens: 0,
      output_tokens: 1, reasoning_tokens: 0, usage_status: 'partial',
    });
  });

  test('Anthropic cut in the middle of message_start at every byte: missing, never a throw', () => {
    const first = enc(sseEventsOf('anthropic/messages-stream.chunks.jsonl', 'typed')[0] as string);
    const statuses = new Set<string>();
    for (let cut = 0; cut < first.length - 1; cut++) {
      statuses.add(normalized('anthropic-messages', captureOf('anthropic-messages', 'text/event-stream', [first.subarray(0, cut)]), 'upstream_reset').usage_status);
    }
    // Only the very last cuts (data line complete, blank line missing) are dispatched at end of stream.
    expect([...statuses].sort()).toEqual(['missing', 'partial']);
  });

  test('Anthropic raw recording cut before message_delta, outcome complete: still partial (output is a placeholder)', () => {
    const raw = new TextDecoder().decode(wireBytes('anthropic/messages-stream-basic-raw.sse', 'anthropic-raw'));
    const cut = raw.slice(0, raw.indexOf('event: message_delta'));
    const u = normalized('anthropic-messages', captureOf('anthropic-messages', 'text/event-stream', [enc(cut)]));
    expect([u.input_tokens, u.output_tokens, u.usage_status]).toEqual([11, 1, 'partial']);
  });

  test('Gemini cut after the first chunk: partial lower bound', () => {
    const u = cutAfter('gemini/streamGenerateContent.chunks.jsonl', 'plain', 1, 'gemini', 'timeout_idle');
    expect([u.input_tokens, u.output_tokens, u.reasoning_tokens, u.usage_status]).toEqual([9, 190, 185, 'partial']);
  });

  test('cumulative-usage streams cut at every byte after their first usage: never missing, the last whole event counts', () => {
    // Gemini and Dashscope native repeat the running usage in each event and the capture keeps the last one: an event
    // the stream ended inside must not replace it (its usage member may be cut, or its JSON unparsable).
    const cases: Array<[string, Uint8Array]> = [
      ['gemini', wireBytes('gemini/streamGenerateContent.chunks.jsonl', 'plain')],
      // The recording has no blank lines between its events (SOURCES.md); Dashscope's servers send them.
      ['dashscope-native', enc(`${fixtureText('dashscope/native-generation-stream-raw.sse').trimEnd().replaceAll('\nid:', '\n\nid:')}\n\n`)],
    ];
    for (const [format, wire] of cases) {
      const bytes = Buffer.from(wire);
      const firstEnd = bytes.indexOf('\n\n') + 2;
      const wrong: string[] = [];
      // Every complete prefix ends at an event boundary; the expected counts are those of the last whole event in it.
      for (let cut = firstEnd; cut < wire.length; cut++) {
        const u = normalized(format, captureOf(format, 'text/event-stream', [wire.subarray(0, cut)]), 'client_abort');
        const whole = normalized(format, captureOf(format, 'text/event-stream', [wire.subarray(0, bytes.lastIndexOf('\n\n', cut - 2) + 2)]), 'client_abort');
        if (u.usage_status !== 'partial' || u.input_tokens !== whole.input_tokens || u.output_tokens < whole.output_tokens) wrong.push(`${cut}:${u.usage_status}/${u.output_tokens}`);
      }
      expect([format, wrong.slice(0, 5), wrong.length]).toEqual([format, [], 0]);
    }
  });

  test('Dashscope native cut after the third event: partial lower bound', () => {
    const raw = new TextDecoder().decode(fixtureBytes('dashscope/native-generation-stream-raw.sse'));
    const u = normalized('dashscope-native', captureOf('dashscope-native', 'text/event-stream', [enc(raw.slice(0, raw.indexOf('id:4')))]), 'upstream_reset');
    expect([u.input_tokens, u.output_tokens, u.usage_status]).toEqual([8, 3, 'partial']);
  });

  test('OpenAI-style and Cohere streams cut before their final chunk: missing', () => {
    const openai = chunkLines('openai/chat-stream-include-usage.chunks.jsonl').length;
    expect(cutAfter('openai/chat-stream-include-usage.chunks.jsonl', 'openai', openai - 1, 'openai-chat').usage_status).toBe('missing');
    expect(cutAfter('cohere/chat-v2-stream.chunks.jsonl', 'typed', 10, 'cohere').usage_status).toBe('missing');
    const u = cutAfter('openai/chat-stream-include-usage.chunks.jsonl', 'openai', openai - 1, 'openai-chat');
    expect(u.model).toBe('gpt-4.1-nano-2025-04-14');
  });

  test('usage that did arrive before a client abort is kept but marked partial', () => {
    const u = cutAfter('xai/chat-stream.chunks.jsonl', 'openai', 8, 'openai-chat');
    expect([u.input_tokens, u.usage_status]).toEqual([12, 'partial']);
  });
});
