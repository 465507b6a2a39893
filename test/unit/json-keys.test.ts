// The key locator must agree with JSON.parse on every body it answers for, and step aside when unsure.
import { expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { topLevelFields } from '../../src/usage/json-keys.ts';
import { FIXTURES_DIR } from '../helpers/env.ts';

const KEYS = ['model', 'usage', 'x_groq', 'error', 'base_resp', 'usageMetadata', 'modelVersion', 'meta', 'code', 'type', 'id'];

function viaParse(text: string, keys: readonly string[]): Record<string, unknown> {
  const o = JSON.parse(text) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function parsed(fields: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, JSON.parse(v)]));
}

const jsonFixtures = readdirSync(FIXTURES_DIR, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.json'));

test.each(jsonFixtures)('%s: same fields as JSON.parse', (rel) => {
  const text = readFileSync(join(FIXTURES_DIR, rel), 'utf8').replace(/^\uFEFF/, '');
  const got = topLevelFields(text, KEYS);
  expect(got).not.toBeNull();
  expect(parsed(got!)).toEqual(viaParse(text, KEYS));
});

const tricky: Array<[string, string]> = [
  ['nested usage before the top-level one', '{"choices":[{"usage":{"a":1}}],"usage":{"b":2}}'],
  ['nested usage after the top-level one', '{"usage":{"b":2},"choices":[{"usage":{"a":1}}]}'],
  ['key text inside a string', '{"content":"he said \\"usage\\": {\\"x\\":1}","usage":{"c":3}}'],
  ['string value equal to a key', '{"type":"usage","usage":{"d":4}}'],
  ['duplicate top-level key: last wins', '{"usage":{"e":1},"usage":{"e":2}}'],
  ['braces inside strings', '{"a":"}}}{{","usage":{"f":"]}"},"z":"{"}'],
  ['scalars and whitespace', '{ "model" : "m-1" , "usage" : null , "code" : 42 }'],
  ['escaped backslash before a quote', '{"p":"x\\\\","usage":{"g":7}}'],
];
test.each(tricky)('%s', (_name, text) => {
  const got = topLevelFields(text, ['usage', 'model', 'code', 'type']);
  expect(got).not.toBeNull();
  expect(parsed(got!)).toEqual(viaParse(text, ['usage', 'model', 'code', 'type']));
});

test('not an object, or broken: null (the caller falls back)', () => {
  expect(topLevelFields('[{"usage":1}]', ['usage'])).toBeNull();
  expect(topLevelFields('{"usage":{"a":', ['usage'])).toBeNull();
});

test('a key buried in many nested copies gives up rather than scanning forever', () => {
  const nested = Array.from({ length: 20 }, (_, i) => `{"usage":${i}}`).join(',');
  expect(topLevelFields(`{"items":[${nested}]}`, ['usage'])).toBeNull();
});
