// Job payload: compressed or plain batches decode to their snippets; each snippet is checked alone with a reason that names the field.
import { describe, expect, test } from 'bun:test';
import { decodeUsageJob, encodeUsageJob, MAX_SNIPPETS_PER_JOB } from '../../src/usage/job-payload.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';
import { checkSnippet } from '../../workers/job-schema.ts';

const good = {
  v: 1, requestId: 'req_1', ts: 1_700_000_000_000, accountId: 'acct', keyId: 'key', provider: 'openai', format: 'openai-chat',
  requestModel: 'gpt-4.1-nano', method: 'POST', path: '/v1/chat/completions', status: 200, stream: false, outcome: 'complete',
  latencyMs: 10, bytesIn: 1, bytesOut: 2, capture: { kind: 'none' },
};

describe('job data', () => {
  test('plain: a snippets array, entries unchecked until later', () => {
    expect(decodeUsageJob({ snippets: [good, 'junk'] })).toEqual({ ok: true, snippets: [good, 'junk'] });
  });

  test('compressed: what the producer sends decodes to the same snippets, in far fewer bytes', () => {
    const snippets = Array.from({ length: 200 }, (_, i) => ({ ...good, requestId: `req_${i}`, latencyMs: i })) as UsageSnippet[];
    const data = encodeUsageJob(snippets);
    expect('zstd' in data && data.count).toBe(200);
    expect(JSON.stringify(data).length * 5).toBeLessThan(JSON.stringify(snippets).length);
    expect(decodeUsageJob(JSON.parse(JSON.stringify(data)))).toEqual({ ok: true, snippets });
  });

  test("made from the snippets' own JSON text (the producer's, encoded once), the job is the same bytes", () => {
    const snippets = Array.from({ length: 50 }, (_, i) => ({ ...good, requestId: `req_${i}` })) as UsageSnippet[];
    const fromText = encodeUsageJob(snippets, snippets.map((s) => JSON.stringify(s)));
    expect(fromText).toEqual(encodeUsageJob(snippets));
    expect(decodeUsageJob(fromText)).toEqual({ ok: true, snippets });
  });

  test("a batch read's counted requests and lines must be whole numbers: such a snippet is refused alone, not written", () => {
    const group = { model: 'm', requests: 2, input: 10, cached: 0, cacheWrite: 0, cacheWrite1h: 0, output: 1, reasoning: 0 };
    const lines = (over: object) => ({ ...good, format: 'openai-batch-output', capture: { kind: 'lines', lines: 2, groups: [{ ...group, ...over }] } });
    expect(checkSnippet(lines({})).ok).toBe(true);
    for (const bad of [{ requests: 0.25 }, { requests: 5e20 }]) expect(checkSnippet(lines(bad)).ok).toBe(false);
    expect(checkSnippet({ ...lines({}), capture: { kind: 'lines', lines: 1.5, groups: [group] } }).ok).toBe(false);
  });

  test('anything else is refused with a reason', () => {
    for (const bad of [null, 'x', { snippet: [] }, { snippets: 'x' }, { zstd: 'not zstd' }, { zstd: Buffer.from(Bun.zstdCompressSync('{"a":1}')).toString('base64') }]) {
      const r = decodeUsageJob(bad);
      expect(r.ok).toBe(false);
      expect(r.ok ? '' : r.error).toMatch(/usage job/);
    }
  });

  test('a job of more snippets than any producer batch is refused, in either form', () => {
    const many = Array.from({ length: MAX_SNIPPETS_PER_JOB + 1 }, () => 0);
    const packed = Buffer.from(Bun.zstdCompressSync(JSON.stringify(many))).toString('base64');
    for (const data of [{ snippets: many }, { zstd: packed, count: many.length }]) {
      const r = decodeUsageJob(data);
      expect(r.ok ? '' : r.error).toBe(`usage job holds ${MAX_SNIPPETS_PER_JOB + 1} snippets, over the limit of ${MAX_SNIPPETS_PER_JOB}`);
    }
    expect(decodeUsageJob({ snippets: many.slice(1) }).ok).toBe(true);
  });
});

describe('checkSnippet', () => {
  test('accepts a well-formed snippet of each capture kind', () => {
    expect(checkSnippet(good).ok).toBe(true);
    expect(checkSnippet({ ...good, capture: { kind: 'json', fields: { usage: '{}' } } }).ok).toBe(true);
    expect(checkSnippet({ ...good, capture: { kind: 'sse', events: [{ event: 'message_start', data: '{}' }], truncated: true } }).ok).toBe(true);
    expect(checkSnippet({ ...good, capture: { kind: 'error', message: 'boom' }, error: 'x', ttfbMs: 3, formatOptions: { a: true } }).ok).toBe(true);
  });

  test('a negative duration (the wall clock stepped back mid-request) is kept, not a reason to drop the event', () => {
    expect(checkSnippet({ ...good, latencyMs: -3, ttfbMs: -1 }).ok).toBe(true);
  });

  test.each([
    ['missing requestId', { ...good, requestId: undefined }, '/requestId'],
    ['empty account', { ...good, accountId: '' }, '/accountId'],
    ['string ts', { ...good, ts: '2025-01-01' }, '/ts'],
    ['unknown outcome', { ...good, outcome: 'exploded' }, '/outcome'],
    ['bad capture kind', { ...good, capture: { kind: 'xml' } }, '/capture'],
    ['wrong version', { ...good, v: 2 }, '/v'],
  ])('rejects %s, naming the field', (_name, value, path) => {
    const r = checkSnippet(value);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(path);
  });

  test('the reason names the request but never echoes field values', () => {
    const r = checkSnippet({ ...good, accountId: 42, path: '/secret-looking-value' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toContain('req_1');
      expect(r.error).not.toContain('secret-looking-value');
    }
    expect(checkSnippet('not an object').ok).toBe(false);
  });
});
