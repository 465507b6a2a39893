// SSE event filter: drops exactly arouter's own usage-only chunk, every other byte identical, at every chunk boundary.
import { describe, expect, test } from 'bun:test';
import { createSseEventFilter, isUsageOnlyChunk, withoutNullUsage } from '../../src/usage/sse-filter.ts';
import { bytewise, chunkLines, concat, sseEventsOf } from './usage-wire.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function filterAll(pieces: Iterable<Uint8Array>, drop: (data: string) => boolean = isUsageOnlyChunk, maxBuffered?: number): Uint8Array {
  const filter = createSseEventFilter(drop, maxBuffered === undefined ? {} : { maxBufferedEventBytes: maxBuffered });
  const out: Uint8Array[] = [];
  for (const p of pieces) out.push(...filter.push(p));
  out.push(...filter.end());
  return concat(out);
}

/** The wire stream and what the client must get: the same events minus the usage-only one. */
function streamCase(rel: string, lineEnd = '\n'): { wire: Uint8Array; expected: Uint8Array; dropped: string[] } {
  const events = sseEventsOf(rel, 'openai').map((e) => e.replaceAll('\n', lineEnd));
  const dropped = events.filter((e) => isUsageOnlyChunk(e.slice('data: '.length).trimEnd()));
  return { wire: enc(events.join('')), expected: enc(events.filter((e) => !dropped.includes(e)).join('')), dropped };
}

describe('the null usage include_usage adds to every other chunk', () => {
  test('withoutNullUsage removes the member and one comma, wherever it sits; anything else is untouched', () => {
    const cut = (s: string) => dec(withoutNullUsage(enc(s)));
    expect(cut('data: {"a":1,"usage":null,"b":2}\n\n')).toBe('data: {"a":1,"b":2}\n\n');
    expect(cut('data: {"a":1,"usage":null}\n\n')).toBe('data: {"a":1}\n\n');
    expect(cut('data: {"usage":null,"a":1}\n\n')).toBe('data: {"a":1}\n\n');
    const inString = enc('data: {"c":"say \\"usage\\":null"}\n\n');
    expect(withoutNullUsage(inString)).toBe(inString);
    const real = enc('data: {"choices":[],"usage":{"total_tokens":3}}\n\n');
    expect(withoutNullUsage(real)).toBe(real);
    // A choice's own usage comes first; the chunk's member, after the choices, is the one removed.
    expect(cut('data: {"choices":[{"usage":null,"i":0}],"usage":null}\n\n')).toBe('data: {"choices":[{"usage":null,"i":0}]}\n\n');
  });

  test('the real OpenAI stream, whole and split in two at every 97th byte: the usage-only chunk gone and every "usage":null with it', () => {
    const events = sseEventsOf('openai/chat-stream-include-usage.chunks.jsonl', 'openai');
    const wire = enc(events.join(''));
    const expected = events.filter((e) => !e.includes('"choices":[]')).map((e) => e.replace(',"usage":null', '')).join('');
    expect(expected).not.toContain('"usage"');
    const rewrite = { rewrite: withoutNullUsage };
    const run = (pieces: Uint8Array[]) => {
      const f = createSseEventFilter(isUsageOnlyChunk, rewrite);
      const out: Uint8Array[] = [];
      for (const p of pieces) out.push(...f.push(p));
      out.push(...f.end());
      return dec(concat(out));
    };
    expect(run([wire])).toBe(expected);
    const wrong: number[] = [];
    for (let cut = 1; cut < wire.length; cut += 97) if (run([wire.subarray(0, cut), wire.subarray(cut)]) !== expected) wrong.push(cut);
    expect(wrong).toEqual([]);
  });
  test('an event larger than the buffer loses its "usage":null too, however it is cut; a stream cut inside one ends as it came', () => {
    // Over the buffer limit an event streams through undecided; its end is held back so the member can still go.
    const big = `data: {"choices":[{"delta":{"content":"${'x'.repeat(6000)}"}}],"usage":null,"obfuscation":"${'o'.repeat(300)}"}\n\n`;
    const wire = enc(`data: {"choices":[],"usage":null,"a":1}\n\n${big}data: {"choices":[],"usage":{"total_tokens":3}}\n\n`);
    const expected = `data: {"choices":[],"a":1}\n\n${big.replace(',"usage":null', '')}`;
    const run = (pieces: Iterable<Uint8Array>) => {
      const f = createSseEventFilter(isUsageOnlyChunk, { rewrite: withoutNullUsage, maxBufferedEventBytes: 1024 });
      const out: Uint8Array[] = [];
      for (const p of pieces) out.push(...f.push(p));
      out.push(...f.end());
      return dec(concat(out));
    };
    expect(run([wire])).toBe(expected);
    expect(run(bytewise(wire))).toBe(expected);
    const wrong: number[] = [];
    for (let cut = 1; cut < wire.length; cut++) if (run([wire.subarray(0, cut), wire.subarray(cut)]) !== expected) wrong.push(cut);
    expect(wrong).toEqual([]);
    // The provider stops inside the big event: what came is passed on as it came, the held-back end included.
    const cutShort = wire.subarray(0, wire.length - 60 - big.length + 5000);
    expect(run([cutShort])).toBe(`data: {"choices":[],"a":1}\n\n${dec(cutShort).slice(dec(cutShort).indexOf('data: {"choices":[{'))}`);
  });
});

describe('drops only the usage-only chunk', () => {
  for (const rel of ['openai/chat-stream-include-usage.chunks.jsonl', 'xai/chat-stream.chunks.jsonl', 'dashscope/compatible-chat-stream.chunks.jsonl']) {
    test(`${rel}: whole and one byte at a time`, () => {
      const { wire, expected, dropped } = streamCase(rel);
      expect(dropped).toHaveLength(1);
      expect(dropped[0]).toContain('"choices":[]');
      expect(expected.length).toBe(wire.length - enc(dropped[0] as string).length);
      expect(filterAll([wire])).toEqual(expected);
      expect(filterAll(bytewise(wire))).toEqual(expected);
    });
  }

  test('xai (small): split in two at every byte boundary, with LF, CRLF and CR line ends', () => {
    for (const lineEnd of ['\n', '\r\n', '\r']) {
      const { wire, expected, dropped } = streamCase('xai/chat-stream.chunks.jsonl', lineEnd);
      expect(dropped).toHaveLength(1);
      const wrong: number[] = [];
      for (let cut = 0; cut <= wire.length; cut++) {
        if (!Bun.deepEquals(filterAll([wire.subarray(0, cut), wire.subarray(cut)]), expected)) wrong.push(cut);
      }
      expect(wrong).toEqual([]);
      expect(filterAll(bytewise(wire))).toEqual(expected);
    }
  });

  for (const rel of ['deepseek/chat-stream.chunks.jsonl', 'groq/chat-stream.chunks.jsonl', 'mistral/chat-stream.chunks.jsonl']) {
    test(`${rel}: usage rides on a chunk with choices, so nothing is dropped`, () => {
      const { wire, dropped } = streamCase(rel);
      expect(dropped).toHaveLength(0);
      expect(filterAll(bytewise(wire))).toEqual(wire);
    });
  }
});

describe('framing', () => {
  test('each event is emitted as soon as its blank line arrives, not before', () => {
    const events = sseEventsOf('xai/chat-stream.chunks.jsonl', 'openai');
    const filter = createSseEventFilter(isUsageOnlyChunk);
    for (const e of events) {
      const bytes = enc(e);
      expect(filter.push(bytes.subarray(0, bytes.length - 1))).toEqual([]);
      const out = concat(filter.push(bytes.subarray(bytes.length - 1)));
      expect(dec(out)).toBe(isUsageOnlyChunk(e.slice(6).trimEnd()) ? '' : e);
    }
    expect(filter.end()).toEqual([]);
  });

  test('the LF after a CR that ended an event goes with that event, kept or dropped', () => {
    const usageOnly = chunkLines('xai/chat-stream.chunks.jsonl').at(-1) as string;
    const filter = createSseEventFilter(isUsageOnlyChunk);
    expect(dec(concat(filter.push(enc('data: a\r\n\r'))))).toBe('data: a\r\n\r');
    expect(dec(concat(filter.push(enc(`\ndata: ${usageOnly}\r\n\r`))))).toBe('\n');
    expect(dec(concat(filter.push(enc('\ndata: [DONE]\r\n\r\n'))))).toBe('data: [DONE]\r\n\r\n');
  });

  test('trailing bytes that never formed a complete event are flushed unchanged at end', () => {
    const filter = createSseEventFilter(() => true);
    expect(filter.push(enc('data: {"choices":[]'))).toEqual([]);
    expect(dec(concat(filter.end()))).toBe('data: {"choices":[]');
  });

  test('the predicate sees the data as an SSE client would (joined lines, optional space stripped)', () => {
    const seen: string[] = [];
    filterAll([enc('event: x\ndata: one\ndata:two\n: comment\n\n')], (d) => {
      seen.push(d);
      return false;
    });
    expect(seen).toEqual(['one\ntwo']);
  });

  test('an event larger than the buffer limit streams through undecided, byte for byte', () => {
    let asked = 0;
    const big = `data: {"choices":[],"usage":{"prompt_tokens":1},"pad":"${'x'.repeat(5000)}"}\n\n`;
    const wire = enc(`data: a\n\n${big}data: b\n\n`);
    const out = filterAll(bytewise(wire), () => {
      asked++;
      return true;
    }, 1024);
    expect(dec(out)).toBe(big);
    expect(asked).toBe(2);
    // The same decision when the big event arrives in one chunk: chunking never changes what is filtered.
    asked = 0;
    expect(dec(filterAll([wire], () => ++asked > 0, 1024))).toBe(big);
    expect(asked).toBe(2);
  });
});

describe('isUsageOnlyChunk', () => {
  test('true for the usage-only chunk of OpenAI, xAI and Dashscope compatible-mode', () => {
    for (const rel of ['openai/chat-stream-include-usage.chunks.jsonl', 'xai/chat-stream.chunks.jsonl', 'dashscope/compatible-chat-stream.chunks.jsonl']) {
      const lines = chunkLines(rel);
      expect(lines.filter(isUsageOnlyChunk)).toEqual([lines.at(-1) as string]);
    }
  });

  test('false where usage rides on a chunk that has choices (DeepSeek, Groq, Mistral)', () => {
    for (const rel of ['deepseek/chat-stream.chunks.jsonl', 'groq/chat-stream.chunks.jsonl', 'mistral/chat-stream.chunks.jsonl']) {
      expect(chunkLines(rel).filter(isUsageOnlyChunk)).toEqual([]);
    }
  });

  test('tolerates whitespace; rejects null usage, non-empty choices, broken JSON and [DONE]', () => {
    expect(isUsageOnlyChunk('{ "choices" : [ ] ,\n "usage" : { "prompt_tokens" : 1 } }')).toBe(true);
    expect(isUsageOnlyChunk('{"choices":[],"usage":null}')).toBe(false);
    expect(isUsageOnlyChunk('{"choices":[{"index":0}],"usage":{"prompt_tokens":1}}')).toBe(false);
    expect(isUsageOnlyChunk('{"choices":[],"usage":{"prompt_tokens":1}')).toBe(false);
    expect(isUsageOnlyChunk('[DONE]')).toBe(false);
  });
});
