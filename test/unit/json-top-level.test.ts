// The top-level member reader against JSON.parse: same members, same values, over generated and hand-made bodies.
import { describe, expect, test } from 'bun:test';
import { createMemberReader } from '../../src/usage/json-top-level.ts';

const WANTED = ['model', 'stream', 'stream_options'];
const read = createMemberReader(WANTED);
const enc = new TextEncoder();

/** A small deterministic generator (mulberry32), so a failure names a reproducible seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['a', ' ', '"', '\\', '{', '}', '[', ']', ',', ':', 'é', '漢', '\n', '\u0000', '😀', 'model', '"stream": true', '\\"'];

function randomString(r: () => number): string {
  let s = '';
  const n = Math.floor(r() * 12);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)];
  return s;
}

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 4 : 7));
  if (k === 0) return randomString(r);
  if (k === 1) return Math.floor(r() * 2e6) / 100 - 1e4;
  if (k === 2) return r() < 0.5;
  if (k === 3) return null;
  if (k === 4) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 4); i > 0; i--) o[r() < 0.3 ? WANTED[Math.floor(r() * 3)]! : randomString(r)] = randomValue(r, depth + 1);
  return o;
}

function randomBody(r: () => number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 6); i > 0; i--) {
    const key = r() < 0.4 ? WANTED[Math.floor(r() * 3)]! : randomString(r);
    o[key] = randomValue(r, 0);
  }
  return o;
}

/** What JSON.parse says each wanted member is, against what the reader's raw text parses to. */
function expectSameAsParse(text: string): void {
  const members = read(enc.encode(text));
  expect(members).not.toBeNull();
  const parsed = JSON.parse(text) as Record<string, unknown>;
  for (const key of WANTED) {
    const raw = members!.get(key);
    if (Object.hasOwn(parsed, key)) expect(raw === undefined ? undefined : JSON.parse(raw)).toEqual(parsed[key]);
    else expect(raw).toBeUndefined();
  }
}

describe('createMemberReader', () => {
  test('agrees with JSON.parse on 3,000 generated bodies, compact and indented', () => {
    for (let seed = 1; seed <= 1500; seed++) {
      const body = randomBody(rng(seed));
      expectSameAsParse(JSON.stringify(body));
      expectSameAsParse(JSON.stringify(body, null, seed % 4));
    }
  });

  test('takes the last of repeated members, as JSON.parse does, and ignores nested ones', () => {
    const text = '{"model":"a","messages":[{"model":"nested","stream":true}],"stream":false,"model":"b"}';
    expect(read(enc.encode(text))).toEqual(new Map([['model', '"b"'], ['stream', 'false']]));
    expectSameAsParse(text);
  });

  test('reads a key written with escapes under its plain name', () => {
    expectSameAsParse('{"mod\\u0065l":"gpt-4.1","str\\u0065am":true}');
  });

  test('skips strings ending in escaped backslashes and holding quotes and braces', () => {
    expectSameAsParse('{"messages":[{"content":"a\\\\"},{"content":"\\"}{[,:\\\\\\""}],"model":"m","stream":true}');
  });

  test('is null for anything but an object, and for every truncation of one', () => {
    for (const text of ['[1,2]', '"model"', '42', '', '   ', '\ufeff{"model":"m"}', '{"model" "m"}', '{"model":"m",}', '{model:"m"}']) {
      expect(read(enc.encode(text))).toBeNull();
    }
    const full = '{"model":"gpt-4.1","messages":[{"role":"user","content":"hi \\"there\\" {"}],"stream":true}';
    for (let n = 0; n < full.length; n++) expect(read(enc.encode(full.slice(0, n)))).toBeNull();
    expect(read(enc.encode(full))?.get('stream')).toBe('true');
  });

  test('an empty object has no members', () => {
    expect(read(enc.encode(' { } '))).toEqual(new Map());
  });
});
