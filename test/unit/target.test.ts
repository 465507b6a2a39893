import { describe, expect, test } from 'bun:test';
import { ArouterError } from '../../src/errors.ts';
import { checkProviderPath, splitTarget, stripKeyFromQuery } from '../../src/proxy/target.ts';
import { thrown } from '../helpers/thrown.ts';

describe('checkProviderPath', () => {
  const refused = ['/..', '/v1/../x', '/v1/./x', '/%2e%2e/x', '/%2E%2e/x', '/a%2fb', '/a%2Fb', '//evil.example/x', '/a\\b', '/a%5cb', '/a%00', '/a b', '/a\tb', '/%252e%252e/x', '/a%252Fb', '/a%25252fb', '/a%255C'];
  for (const p of refused) {
    test(`refuses ${JSON.stringify(p)}`, () => {
      const err = thrown(() => checkProviderPath(p));
      expect(err).toBeInstanceOf(ArouterError);
      expect((err as ArouterError).status).toBe(400);
    });
  }
  for (const p of ['/v1/chat/completions', '/v1beta/models/gemini-2.5-flash:streamGenerateContent', '/v1/files/file-abc.jsonl', '/a..b/c', '/']) {
    test(`accepts ${p}`, () => expect(checkProviderPath(p)).toBe(p));
  }
  test('empty rest is the base itself', () => expect(checkProviderPath('')).toBe('/'));
  test('escaped unreserved characters are decoded (RFC 3986 6.2.2.2), every other escape kept as written', () => {
    expect(checkProviderPath('/v1/files/file-1/%63ontent')).toBe('/v1/files/file-1/content');
    expect(checkProviderPath('/v1/messages/batches/msgbatch_1/%72%45sults%7E%2D%5F')).toBe('/v1/messages/batches/msgbatch_1/rEsults~-_');
    expect(checkProviderPath('/v1beta/models/g%3Agenerate%20x%zz%2')).toBe('/v1beta/models/g%3Agenerate%20x%zz%2');
  });
  test('a read of an id holding slashes keeps its %2F in the last segment, between plain names', () => {
    const read = '/openai/v1/models/openai%2Fgpt-oss-20b';
    expect(checkProviderPath(read, true)).toBe(read);
    expect(checkProviderPath('/v1/models/meta%2fllama-3.1-8b-instruct', true)).toBe('/v1/models/meta%2fllama-3.1-8b-instruct');
    expect(checkProviderPath('/v1/models/a%2Fb%2E1', true)).toBe('/v1/models/a%2Fb.1');
    expect(thrown(() => checkProviderPath(read))).toBeInstanceOf(ArouterError);
  });
  const slashedRefused = ['/v1/models/..%2F..%2Fadmin', '/v1/models/a%2F%2Fb', '/v1/models/%2Fb', '/v1/models/a%2F', '/v1/models/a%2F%2E%2E', '/v1/models/a%2F.',
    '/v1/models/a%2Fb%5c', '/v1/models/a%2Fb%00', '/v1/models/a%2Fb%3F', '/v1%2Fx/models/a', '/v1%2Fx/models/a%2Fb', '/v1/../models/a%2Fb'];
  for (const p of slashedRefused) {
    test(`refuses ${JSON.stringify(p)} even where ids may hold slashes`, () => {
      const err = thrown(() => checkProviderPath(p, true));
      expect(err).toBeInstanceOf(ArouterError);
      expect((err as ArouterError).status).toBe(400);
    });
  }
});

describe('splitTarget', () => {
  test('absolute URL', () => expect(splitTarget('http://h:1/openai/v1/x?a=1')).toEqual({ slug: 'openai', rest: '/v1/x', search: '?a=1' }));
  test('origin form', () => expect(splitTarget('/google')).toEqual({ slug: 'google', rest: '', search: '' }));
  test('fragment dropped', () => expect(splitTarget('/groq/a#frag')).toEqual({ slug: 'groq', rest: '/a', search: '' }));
});

describe('stripKeyFromQuery', () => {
  test('removes key, keeps the rest', () => expect(stripKeyFromQuery('?alt=sse&key=lr_live_x')).toBe('?alt=sse'));
  test('only key', () => expect(stripKeyFromQuery('?key=lr_live_x')).toBe(''));
  test('untouched without key', () => expect(stripKeyFromQuery('?alt=sse&monkey=1')).toBe('?alt=sse&monkey=1'));
  test('a percent-encoded name that decodes to key is removed too', () => {
    expect(stripKeyFromQuery('?k%65y=lr_live_x&alt=sse')).toBe('?alt=sse');
    expect(stripKeyFromQuery('?%6B%65%79=lr_live_x')).toBe('');
  });
  test('the other pairs are kept byte for byte, never re-encoded', () => {
    expect(stripKeyFromQuery('?a=%7E%20b&flag&key=lr_live_x&c=d+e')).toBe('?a=%7E%20b&flag&c=d+e');
    expect(stripKeyFromQuery('?a=%7E%20b&flag')).toBe('?a=%7E%20b&flag');
  });
});
