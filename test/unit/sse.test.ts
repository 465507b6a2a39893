// SSE parser: WHATWG line and field rules at every chunk boundary, Dashscope's blank-line-less events, bounded lines.
import { describe, expect, test } from 'bun:test';
import { createSseParser } from '../../src/usage/sse.ts';
import { bytewise, fixtureBytes } from './usage-wire.ts';

interface Seen {
  event: string | undefined;
  data: string;
  truncated: boolean;
}

function parse(pieces: Iterable<Uint8Array>, maxDataBytes?: number): Seen[] {
  const seen: Seen[] = [];
  const parser = createSseParser((event, data, truncated) => seen.push({ event, data, truncated }),
    maxDataBytes === undefined ? {} : { maxDataBytes });
  for (const p of pieces) parser.push(p);
  parser.end();
  return seen;
}

const enc = (s: string) => new TextEncoder().encode(s);
const ev = (data: string, event?: string): Seen => ({ event, data, truncated: false });

/** The same input whole, byte by byte, and split in two at every boundary must always parse the same. */
function parseEverySplit(bytes: Uint8Array): Seen[] {
  const whole = parse([bytes]);
  expect(parse(bytewise(bytes))).toEqual(whole);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const split = parse([bytes.subarray(0, cut), bytes.subarray(cut)]);
    if (!Bun.deepEquals(split, whole)) throw new Error(`cut at ${cut} differs: ${JSON.stringify(split)}`);
  }
  return whole;
}

describe('line endings', () => {
  test('LF, CRLF and CR alone all end lines, in any mix', () => {
    const seen = parseEverySplit(enc('data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\r\n\ndata: e\n\r\n'));
    expect(seen).toEqual([ev('a'), ev('b'), ev('c'), ev('d'), ev('e')]);
  });

  test('a CR at a chunk end followed by LF is one line break, not a blank line', () => {
    const seen = parse([enc('data: a\r'), enc('\ndata: b\r'), enc('\n\r'), enc('\n')]);
    expect(seen).toEqual([ev('a\nb')]);
  });

  test('a CR at a chunk end followed by another line is still a line break', () => {
    expect(parse([enc('data: a\r'), enc('data: b\r'), enc('\r')])).toEqual([ev('a\nb')]);
  });
});

describe('fields', () => {
  test('comments are ignored; one optional space after the colon is stripped, no more', () => {
    const seen = parseEverySplit(enc(': keep-alive\ndata:x\n\ndata:  two spaces\n\n:comment\n\n'));
    expect(seen).toEqual([ev('x'), ev(' two spaces')]);
  });

  test('multi-line data is joined with \\n; `data` without a colon adds an empty line', () => {
    expect(parseEverySplit(enc('data: first\ndata\ndata: third\n\n'))).toEqual([ev('first\n\nthird')]);
  });

  test('event names the event and is reset after dispatch', () => {
    const seen = parseEverySplit(enc('event: message_start\ndata: {}\n\ndata: plain\n\n'));
    expect(seen).toEqual([ev('{}', 'message_start'), ev('plain')]);
  });

  test('an event with no data line is not dispatched, and its type does not leak into the next one', () => {
    expect(parseEverySplit(enc('event: ping\n\ndata: x\n\n'))).toEqual([ev('x')]);
  });

  test('unknown fields and retry are ignored; field names are case-sensitive', () => {
    expect(parseEverySplit(enc('retry: 10\nfoo: bar\nData: no\ndata: yes\n\n'))).toEqual([ev('yes')]);
  });

  test('multi-byte UTF-8 split across chunks decodes intact', () => {
    const bytes = enc('data: 1+1 等于 2。\n\n');
    expect(parseEverySplit(bytes)).toEqual([ev('1+1 等于 2。')]);
  });
});

describe('BOM and end of stream', () => {
  test('a leading UTF-8 BOM is skipped, even split across chunks', () => {
    const bytes = enc('\uFEFFdata: a\n\n');
    expect(bytes[0]).toBe(0xef);
    expect(parseEverySplit(bytes)).toEqual([ev('a')]);
  });

  test('only one leading BOM is skipped: a second one is part of the field name', () => {
    expect(parse([enc('\uFEFF\uFEFFdata: a\n\ndata: b\n\n')])).toEqual([ev('b')]);
  });

  test('a partial BOM is not swallowed: its bytes stay in the first line', () => {
    const bytes = new Uint8Array([0xef, 0xbb, ...enc('data: a\n\ndata: b\n\n')]);
    expect(parse(bytewise(bytes))).toEqual([ev('b')]);
  });

  test('a pending event is dispatched at end of stream, with or without a final line break', () => {
    expect(parseEverySplit(enc('data: a\n'))).toEqual([ev('a')]);
    expect(parseEverySplit(enc('event: message_stop\ndata: {"type":"message_stop"}'))).toEqual([
      ev('{"type":"message_stop"}', 'message_stop'),
    ]);
  });

  test('a BOM and an unterminated last line: the BOM is not replayed into the data at end', () => {
    expect(parseEverySplit(enc('\uFEFFdata: a'))).toEqual([ev('a')]);
  });

  test('pushes after end are ignored', () => {
    const seen: string[] = [];
    const parser = createSseParser((_e, d) => seen.push(d));
    parser.push(enc('data: a\n\n'));
    parser.end();
    parser.push(enc('data: b\n\n'));
    parser.end();
    expect(seen).toEqual(['a']);
  });
});

describe('Dashscope native recordings', () => {
  test('every event is seen although no blank line separates them (a new id after data ends the event)', () => {
    const bytes = fixtureBytes('dashscope/native-generation-stream-raw.sse');
    const seen = parseEverySplit(bytes);
    expect(seen).toHaveLength(10);
    expect(seen.every((s) => s.event === 'result')).toBe(true);
    const outputs = seen.map((s) => (JSON.parse(s.data) as { usage: { output_tokens: number } }).usage.output_tokens);
    expect(outputs).toEqual([1, 2, 3, 8, 16, 24, 32, 40, 40, 40]);
  });

  test('an id before any data does not dispatch anything', () => {
    expect(parse([enc('id: 1\nevent: result\nid: 2\ndata: x\n\n')])).toEqual([ev('x', 'result')]);
  });
});

describe('bounded memory', () => {
  test('data beyond the limit is dropped and the event flagged, whole or arriving across many chunks', () => {
    const big = 'x'.repeat(10_000);
    const bytes = enc(`data: ${big}\n\ndata: small\n\n`);
    for (const pieces of [[bytes], [...bytewise(bytes)]]) {
      const seen = parse(pieces, 100);
      expect(seen).toEqual([{ event: undefined, data: 'x'.repeat(100), truncated: true }, ev('small')]);
    }
  });

  test('many data lines together also respect the limit', () => {
    const seen = parse([enc(`${'data: 0123456789\n'.repeat(50)}\n`)], 64);
    expect(seen[0]?.truncated).toBe(true);
    expect(seen[0]?.data.length).toBeLessThanOrEqual(64);
  });
});
