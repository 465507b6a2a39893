import { expect, test } from 'bun:test';
import { replaceTopLevelString, topLevelStringSpan } from '../../src/api/json-field.ts';

test('replaces only the top-level model, byte for byte elsewhere', () => {
  const body = '{"messages":[{"role":"user","content":"say \\"model\\": x","model":"inner"}],"model" : "anthropic/claude-sonnet-4.6","stream":true}';
  const out = replaceTopLevelString(body, 'model', 'claude-sonnet-4.6');
  expect(out).toBe(body.replace('"anthropic/claude-sonnet-4.6"', '"claude-sonnet-4.6"'));
});

test('model first, escapes in value', () => {
  const body = '{"model":"openai/gpt-\\u0034","n":1}';
  expect(replaceTopLevelString(body, 'model', 'gpt-4')).toBe('{"model":"gpt-4","n":1}');
});

test('no top-level string model', () => {
  expect(topLevelStringSpan('{"a":{"model":"x"}}', 'model')).toBeNull();
  expect(topLevelStringSpan('{"model":3}', 'model')).toBeNull();
});
