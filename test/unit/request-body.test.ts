// prepareJsonBody: the model and stream flag read from the top level, include_usage added without re-encoding.
import { describe, expect, test } from 'bun:test';
import { prepareBody, prepareJsonBody } from '../../src/proxy/request-body.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const INJECT = { maxBytes: 1 << 20, injectUsage: true };

function prepare(text: string, policy = INJECT) {
  const p = prepareJsonBody(enc.encode(text), policy);
  return { ...p, text: dec.decode(p.body as Uint8Array) };
}

describe('prepareJsonBody', () => {
  test('reads the top-level model and stream flag, not nested ones', () => {
    const p = prepare('{"messages":[{"model":"nested","stream":false}],"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":true}}');
    expect(p.model).toBe('gpt-4.1');
    expect(p.stream).toBe(true);
    expect(p.injectedUsage).toBe(false);
    expect(p.bytesIn()).toBe(p.body instanceof Uint8Array ? p.body.byteLength : -1);
  });

  test('a stream without stream_options gets include_usage spliced in, the rest byte for byte', () => {
    const original = '{ "model": "gpt-4.1", "stream": true, "messages": [{"role":"user","content":"a \\"b\\" {c}"}] }';
    const p = prepare(original);
    expect(p.injectedUsage).toBe(true);
    expect(p.text).toBe(`{"stream_options":{"include_usage":true},${original.slice(1)}`);
    expect(JSON.parse(p.text)).toEqual({ ...JSON.parse(original), stream_options: { include_usage: true } });
    expect(p.length).toBe(enc.encode(p.text).byteLength);
    expect(p.bytesIn()).toBe(enc.encode(original).byteLength);
  });

  test('stream_options without include_usage are merged, keeping the client\'s other options and fields', () => {
    const p = prepare('{"model":"m","stream":true,"stream_options":{"continuous_usage_stats":true},"temperature":0.5}');
    expect(p.injectedUsage).toBe(true);
    expect(JSON.parse(p.text)).toEqual({ model: 'm', stream: true, stream_options: { continuous_usage_stats: true, include_usage: true }, temperature: 0.5 });
  });

  test('merging include_usage changes no other byte: large integers and number spellings survive', () => {
    const original = '{"model":"m","seed":9007199254740993,"temperature":1.0,"stream":true,"stream_options":{ "x" : 1 } ,"n":1e0}';
    const p = prepare(original);
    expect(p.injectedUsage).toBe(true);
    expect(p.text).toBe('{"model":"m","seed":9007199254740993,"temperature":1.0,"stream":true,"stream_options":{ "x" : 1 ,"include_usage":true} ,"n":1e0}');
    expect(p.length).toBe(enc.encode(p.text).byteLength);
  });

  test('an explicit include_usage:false, an empty object and null all end up asking for usage', () => {
    const cases: Array<[string, string]> = [
      ['{"stream":true,"stream_options":{"include_usage": false ,"x":1}}', '{"stream":true,"stream_options":{"include_usage": true ,"x":1}}'],
      ['{"stream":true,"stream_options":{ }}', '{"stream":true,"stream_options":{ "include_usage":true}}'],
      ['{"stream":true,"stream_options":null}', '{"stream":true,"stream_options":{"include_usage":true}}'],
    ];
    for (const [input, expected] of cases) {
      const p = prepare(input);
      expect(p.text).toBe(expected);
      expect((JSON.parse(p.text) as { stream_options: { include_usage: boolean } }).stream_options.include_usage).toBe(true);
    }
  });

  test('a stream_options that is not an object is the provider\'s to refuse: nothing injected', () => {
    for (const text of ['{"stream":true,"stream_options":"bad"}', '{"stream":true,"stream_options":[1]}']) {
      const p = prepare(text);
      expect(p.text).toBe(text);
      expect(p.injectedUsage).toBe(false);
    }
  });

  test('leaves the body alone when it does not stream, when the policy says not to, or when it is not an object', () => {
    for (const [text, policy] of [
      ['{"model":"m","stream":false}', INJECT],
      ['{"model":"m"}', INJECT],
      ['{"model":"m","stream":true}', { ...INJECT, injectUsage: false }],
      ['[{"model":"m","stream":true}]', INJECT],
      ['{"model":"m","stream":true', INJECT],
      ['not json', INJECT],
    ] as const) {
      const p = prepare(text, policy);
      expect(p.text).toBe(text);
      expect(p.injectedUsage).toBe(false);
    }
    expect(prepare('[{"model":"m","stream":true}]').model).toBe('');
  });

  test('a body opening with a UTF-8 byte order mark is read past it (RFC 8259 8.1), the mark kept as sent', () => {
    const BOM = [0xef, 0xbb, 0xbf];
    for (const [text, want] of [
      ['{"model":"m","stream":true}', '{"stream_options":{"include_usage":true},"model":"m","stream":true}'],
      ['{"model":"m","stream":true,"stream_options":{}}', '{"model":"m","stream":true,"stream_options":{"include_usage":true}}'],
    ] as const) {
      const p = prepareJsonBody(new Uint8Array([...BOM, ...enc.encode(text)]), INJECT);
      const body = p.body as Uint8Array;
      expect([...body.subarray(0, 3)]).toEqual(BOM);
      expect(dec.decode(body.subarray(3))).toBe(want);
      expect([p.model, p.stream, p.injectedUsage]).toEqual(['m', true, true]);
    }
  });

  test('a model written with escapes is read unescaped; a model that is not a string is none', () => {
    expect(prepare('{"model":"gpt\\u002d4.1"}').model).toBe('gpt-4.1');
    expect(prepare('{"model":42,"stream":"true"}').model).toBe('');
    expect(prepare('{"model":42,"stream":"true"}').stream).toBe(false);
  });
});

describe('prepareBody', () => {
  test('a JSON content type in any case is read as JSON (RFC 9110 8.3.1): model, stream flag, include_usage added', async () => {
    for (const contentType of ['application/json', 'Application/JSON', 'APPLICATION/JSON; charset=UTF-8']) {
      const req = new Request('http://a/x', { method: 'POST', headers: { 'content-type': contentType }, body: '{"model":"m","stream":true}' });
      const p = await prepareBody(req, { maxBytes: 1 << 20, injectUsage: true });
      expect([contentType, p.model, p.stream, p.injectedUsage]).toEqual([contentType, 'm', true, true]);
    }
  });

  test('a chunked JSON body over the limit is refused, and what was read of it is reported as it arrives', async () => {
    const chunk = new TextEncoder().encode(`{"pad":"${'x'.repeat(4000)}`);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (sent >= 5) return ctrl.close();
        sent++;
        ctrl.enqueue(chunk);
      },
    });
    const req = new Request('http://a/x', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    let read = 0;
    const refused = await prepareBody(req, { maxBytes: 10_000, injectUsage: false, onBytesRead: (n) => (read = n) }).catch((e: unknown) => e);
    expect((refused as { status?: number }).status).toBe(413);
    expect(read).toBeGreaterThan(10_000);
  });
});
