// The streaming redactor: every secret is replaced wherever the chunk boundaries fall, and nothing else changes.
import { describe, expect, test } from 'bun:test';
import { containsSecret, createRedactor, redactText } from '../../src/proxy/redact.ts';

const KEY = 'lr_live_0123456789abcdefghijklmnopqrstuv';
const CREDENTIAL = 'sk-provider-credential-0123456789';
const enc = new TextEncoder();
const dec = new TextDecoder();

function run(pieces: Uint8Array[], secrets = [CREDENTIAL, KEY]): string {
  const r = createRedactor(secrets);
  if (!r) throw new Error('no redactor');
  const out: string[] = [];
  for (const p of pieces) out.push(dec.decode(r.chunk(p)));
  out.push(dec.decode(r.flush() ?? new Uint8Array()));
  return out.join('');
}

const bodies = [
  `data: {"error":"Incorrect API key provided: ${CREDENTIAL}"}\n\n`,
  `${KEY}${KEY} then ${CREDENTIAL}, lr_live_ alone, sk-provider- alone, ${KEY.slice(0, -1)}!\n\n`,
  `data: {"choices":[{"delta":{"content":"null"}}],"usage":null}\n\ndata: [DONE]\n\n`,
  `ends with a partial secret: ${KEY.slice(0, 12)}`,
];

describe('createRedactor', () => {
  for (const [i, body] of bodies.entries()) {
    const expected = redactText(body, [CREDENTIAL, KEY]);
    const wire = enc.encode(body);

    test(`body ${i}: whole, one byte at a time, and split in two at every boundary`, () => {
      expect(run([wire])).toBe(expected);
      expect(run([...wire].map((b) => Uint8Array.of(b)))).toBe(expected);
      for (let cut = 0; cut <= wire.length; cut++) expect(run([wire.subarray(0, cut), wire.subarray(cut)])).toBe(expected);
    });
  }

  test('a secret is never released before it is known not to continue into a secret', () => {
    const r = createRedactor([KEY]);
    if (!r) throw new Error('no redactor');
    // The tail "lr_live_0123" could be the start of the key: it is held back, not sent.
    expect(dec.decode(r.chunk(enc.encode(`data: x ${KEY.slice(0, 12)}`)))).toBe('data: x ');
    expect(dec.decode(r.chunk(enc.encode(`${KEY.slice(12)} y`)))).toBe('[redacted] y');
    expect(r.flush()).toBeNull();
  });

  test('short secrets are not redacted, and no secret means no redactor', () => {
    expect(createRedactor(['short'])).toBeNull();
    expect(containsSecret(enc.encode(`x ${KEY} y`), [KEY])).toBe(true);
    expect(containsSecret(enc.encode('x y'), [KEY])).toBe(false);
  });
});

describe('createRedactor with URL rewrites', () => {
  const rewrites = [['"https://api.anthropic.com/', '"http://gw.example:8080/anthropic/']] as const;
  const body = `{"id":"msgbatch_1","results_url":"https://api.anthropic.com/v1/messages/batches/msgbatch_1/results","note":"${KEY} https://api.anthropic.com/ unquoted"}`;
  const expected = `{"id":"msgbatch_1","results_url":"http://gw.example:8080/anthropic/v1/messages/batches/msgbatch_1/results","note":"[redacted] https://api.anthropic.com/ unquoted"}`;

  test('a provider URL in a JSON string is rewritten and secrets masked, at every chunk boundary', () => {
    const wire = enc.encode(body);
    for (let cut = 0; cut <= wire.length; cut++) {
      const r = createRedactor([KEY], rewrites)!;
      const out = dec.decode(r.chunk(wire.subarray(0, cut))) + dec.decode(r.chunk(wire.subarray(cut))) + dec.decode(r.flush() ?? new Uint8Array());
      expect(out).toBe(expected);
    }
  });

  test('rewrites alone make a replacer; a secret a rewrite would bring in is still masked', () => {
    expect(createRedactor([], rewrites)).not.toBeNull();
    const r = createRedactor([KEY], [['"https://api.anthropic.com/', `"http://${KEY}/`]])!;
    expect(dec.decode(r.chunk(enc.encode('"https://api.anthropic.com/x"\n')))).toBe('"http://[redacted]/x"\n');
  });
});
