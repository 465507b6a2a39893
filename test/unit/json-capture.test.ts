// Streaming JSON capture: exact raw text of top-level keys at every chunk boundary, arrays, caps, and a 20 MB body.
import { describe, expect, test } from 'bun:test';
import { createJsonCapture, MAX_CAPTURED_VALUE_BYTES, type JsonCaptureResult } from '../../src/usage/json-capture.ts';
import { normalizeSnippet } from '../../src/usage/normalize.ts';
import { bytewise, captureOf, fixtureBytes, snippet } from './usage-wire.ts';

const enc = (s: string) => new TextEncoder().encode(s);

function capture(keys: readonly string[], pieces: Iterable<Uint8Array>, max?: number): JsonCaptureResult {
  const c = createJsonCapture(keys, max);
  for (const p of pieces) c.push(p);
  return c.finish();
}

function captureEverySplit(keys: readonly string[], bytes: Uint8Array): JsonCaptureResult {
  const whole = capture(keys, [bytes]);
  expect(capture(keys, bytewise(bytes))).toEqual(whole);
  const wrong: number[] = [];
  for (let cut = 0; cut <= bytes.length; cut++) {
    if (!Bun.deepEquals(capture(keys, [bytes.subarray(0, cut), bytes.subarray(cut)]), whole)) wrong.push(cut);
  }
  expect(wrong).toEqual([]);
  return whole;
}

describe('top-level object', () => {
  test('captures the raw text of chosen keys; strings with braces, quotes and escapes do not confuse it', () => {
    const body = enc('{"a": {"x": "}\\"{[", "y": [1, {"z": "\\\\"}]}, "usage" : {"n":1} , "skip":"\\"usage\\":{}" ,"z":[1,2]}');
    const r = captureEverySplit(['a', 'usage', 'z'], body);
    expect(r).toEqual({
      fields: { a: '{"x": "}\\"{[", "y": [1, {"z": "\\\\"}]}', usage: '{"n":1}', z: '[1,2]' },
      truncated: false,
      sawJson: true,
    });
  });

  test('nested keys with a chosen name are not top-level keys', () => {
    const r = captureEverySplit(['usage'], enc('{"data":[{"usage":{"n":9}}],"meta":{"usage":{"n":8}},"usage":{"n":1}}'));
    expect(r.fields).toEqual({ usage: '{"n":1}' });
  });

  test('scalars end at a delimiter: comma, brace, or whitespace', () => {
    const r = captureEverySplit(['model', 'n', 't', 'z', 'f'],
      enc('{"model":"gpt-\\"x\\"","n":-12.5e3,"t":true ,"z":null\n,"f":0}'));
    expect(r.fields).toEqual({ model: '"gpt-\\"x\\""', n: '-12.5e3', t: 'true', z: 'null', f: '0' });
  });

  test('a leading BOM (even split) and whitespace are allowed', () => {
    const r = captureEverySplit(['usage'], enc('\uFEFF \r\n\t{"usage":{"total_tokens":7}}'));
    expect(r.fields).toEqual({ usage: '{"total_tokens":7}' });
  });

  test('the real Dashscope native body (with its BOM) yields its usage text', () => {
    const r = captureEverySplit(['usage'], fixtureBytes('dashscope/native-generation-nonstream.json'));
    expect(JSON.parse(r.fields.usage as string)).toEqual({ total_tokens: 47, output_tokens: 39, input_tokens: 8 });
  });

  test('JSON lines: a later top-level object replaces an earlier value', () => {
    expect(capture(['a'], [enc('{"a":1}\n{"a":2}\n')]).fields).toEqual({ a: '2' });
  });
});

describe('top-level array (Gemini streamGenerateContent without alt=sse)', () => {
  test("each element object's keys are captured; the last occurrence wins; other elements are skipped", () => {
    const body = enc('[{"u":{"n":1},"m":"a"}\r\n,[{"u":{"n":99}}],"u",{"m":"b"}\r\n,{"u":{"n":3}}]');
    expect(captureEverySplit(['u', 'm'], body).fields).toEqual({ u: '{"n":3}', m: '"b"' });
  });
});

describe('not JSON, broken JSON', () => {
  test('a body that does not start with { or [ is not JSON', () => {
    for (const text of ['<html>{"usage":{}}</html>', '"usage"', '42', '']) {
      expect(capture(['usage'], [enc(text)])).toEqual({ fields: {}, truncated: false, sawJson: false });
    }
  });

  test('a partial BOM followed by { is not JSON', () => {
    expect(capture(['a'], [new Uint8Array([0xef, 0xbb, ...enc('{"a":1}')])]).sawJson).toBe(false);
  });

  test('a value still open when the body ends is not captured; earlier complete ones are', () => {
    const r = capture(['a', 'usage'], [enc('{"a":1,"usage":{"prompt_tokens":3,')]);
    expect(r.fields).toEqual({ a: '1' });
  });

  test('garbage after the top-level value is ignored', () => {
    expect(capture(['a'], [enc('{"a":1}}}]]{"a":')]).fields).toEqual({ a: '1' });
  });
});

describe('bounded memory', () => {
  test('a value over the cap is flagged truncated and not kept; an earlier occurrence survives', () => {
    const big = `"${'x'.repeat(200)}"`;
    const r = capture(['a'], bytewise(enc(`[{"a":1},{"a":${big}}]`)), 64);
    expect(r).toEqual({ fields: { a: '1' }, truncated: true, sawJson: true });
  });

  test('a 20 MB embeddings body: usage captured exactly, the data array never held', () => {
    const usage = '{"prompt_tokens":8,"total_tokens":8}';
    const vector = Array.from({ length: 1536 }, (_, i) => ((i * 7919) % 2000 / 1000 - 1).toFixed(9)).join(',');
    let bodyBytes = 0;
    function* body(): Generator<Uint8Array> {
      const head = enc('{"object":"list","data":[');
      bodyBytes = head.length;
      yield head;
      for (let i = 0; bodyBytes < 20 * 1024 * 1024; i++) {
        const element = enc(`${i ? ',' : ''}{"object":"embedding","index":${i},"embedding":[${vector}]}`);
        bodyBytes += element.length;
        yield element;
      }
      yield enc(`],"model":"text-embedding-3-small","usage":${usage}}`);
    }

    const scanner = createJsonCapture(['model', 'usage']);
    let maxRetained = 0;
    for (const piece of body()) {
      scanner.push(piece);
      maxRetained = Math.max(maxRetained, scanner.retainedBytes());
    }
    expect(bodyBytes).toBeGreaterThanOrEqual(20 * 1024 * 1024);
    expect(scanner.finish()).toEqual({ fields: { model: '"text-embedding-3-small"', usage }, truncated: false, sawJson: true });
    expect(maxRetained).toBeLessThan(8 * 1024);

    // Asking for the huge key itself: cut at the cap, flagged, memory still bounded.
    const greedy = createJsonCapture(['data', 'usage']);
    let greedyMax = 0;
    for (const piece of body()) {
      greedy.push(piece);
      greedyMax = Math.max(greedyMax, greedy.retainedBytes());
    }
    const r = greedy.finish();
    expect(bodyBytes).toBeGreaterThanOrEqual(20 * 1024 * 1024);
    expect(r.truncated).toBe(true);
    expect(Object.keys(r.fields)).toEqual(['usage']);
    expect(greedyMax).toBeLessThanOrEqual(MAX_CAPTURED_VALUE_BYTES + 2048);

    // And through the capture + normalize path as an OpenAI embeddings response.
    const c = captureOf('openai-chat', 'application/json', body());
    expect(bodyBytes).toBeGreaterThanOrEqual(20 * 1024 * 1024);
    expect(c).toEqual({ kind: 'json', fields: { model: '"text-embedding-3-small"', usage } });
    const u = normalizeSnippet(snippet({ format: 'openai-chat', capture: c }));
    expect(u).toEqual({
      model: 'text-embedding-3-small', input_tokens: 8, cached_input_tokens: 0, cache_write_tokens: 0,
      output_tokens: 0, reasoning_tokens: 0, usage_status: 'reported',
    });
  });
});
