// topLevelString: the top-level string member as JSON.parse reads it, replaced without touching any other byte.
import { expect, test } from 'bun:test';
import { topLevelString } from '../../src/api/json-field.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test('replaces only the top-level model, byte for byte elsewhere', () => {
  const body = '{"messages":[{"role":"user","content":"say \\"model\\": x","model":"inner"}],"model" : "anthropic/claude-sonnet-4.6","stream":true}';
  const member = topLevelString(enc(body), 'model');
  expect(member?.value).toBe('anthropic/claude-sonnet-4.6');
  expect(dec(member?.replaced('claude-sonnet-4.6') ?? new Uint8Array())).toBe(body.replace('"anthropic/claude-sonnet-4.6"', '"claude-sonnet-4.6"'));
});

test('escapes in the value and multi-byte text around it', () => {
  const member = topLevelString(enc('{"model":"openai/gpt-\\u0034","note":"héllo ✓","n":1}'), 'model');
  expect(member?.value).toBe('openai/gpt-4');
  expect(dec(member?.replaced('gpt-4') ?? new Uint8Array())).toBe('{"model":"gpt-4","note":"héllo ✓","n":1}');
});

test('a repeated key: the last one is read and replaced, as JSON.parse would use it', () => {
  const body = '{"model":"openai/a","model":"anthropic/b"}';
  const member = topLevelString(enc(body), 'model');
  expect(member?.value).toBe((JSON.parse(body) as { model: string }).model);
  expect(dec(member?.replaced('b') ?? new Uint8Array())).toBe('{"model":"openai/a","model":"b"}');
});

test('a UTF-8 byte order mark before the body is allowed and kept', () => {
  const body = new Uint8Array([0xef, 0xbb, 0xbf, ...enc('{"model":"openai/gpt-4","n":1}')]);
  const member = topLevelString(body, 'model');
  expect(member?.value).toBe('openai/gpt-4');
  expect([...(member?.replaced('gpt-4') ?? [])]).toEqual([0xef, 0xbb, 0xbf, ...enc('{"model":"gpt-4","n":1}')]);
});

test('no top-level string model: undefined; not a JSON object: null', () => {
  expect(topLevelString(enc('{"a":{"model":"x"}}'), 'model')).toBeUndefined();
  expect(topLevelString(enc('{"model":3}'), 'model')).toBeUndefined();
  expect(topLevelString(enc('[{"model":"x"}]'), 'model')).toBeNull();
  expect(topLevelString(enc('not json'), 'model')).toBeNull();
});
