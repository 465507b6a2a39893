// Batches through arouter with the official SDKs: results_url leads back through arouter, and a batch's usage is
// recorded from its results once (a row per model, at the batch price), however often and however far they are read.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { loadPriceTable } from '../../src/usage/prices.ts';
import type { CanonicalUsage } from '../../src/usage/snippet.ts';
import { ANTHROPIC_RESULTS_USAGE, anthropicBatch, anthropicResults, GEMINI_OUTPUT_USAGE, geminiOutput, OPENAI_OUTPUT_USAGE, openaiOutput } from '../helpers/batches.ts';
import { TEST_REDIS_URL, waitFor } from '../helpers/env.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { startPipeline, type Pipeline } from '../helpers/pipeline.ts';
import { PROVIDER_SECRET } from '../helpers/proxy-harness.ts';

interface Row {
  request_id: string;
  model: string;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  usage_status: string;
  cost_micro_usd: number;
}

let mock: MockUpstream;
let pipe: Pipeline;
let base: string;
const prices = loadPriceTable();

beforeAll(async () => {
  mock = await startMockUpstream();
  pipe = await startPipeline(mock.url);
  base = pipe.listen();
  // Every read's rows stay apart until queried with FINAL, so a test can count them.
  await pipe.ch.command({ query: `SYSTEM STOP MERGES ${pipe.db}.usage_events` });
});
afterAll(async () => {
  await pipe.close();
  mock.stop();
});

const NUMBERS = ['input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens', 'cost_micro_usd'] as const;
async function rowsAt(path: string): Promise<Row[]> {
  // ClickHouse sends 64-bit integers as JSON strings.
  const rows = await pipe.rows<Record<string, unknown>>(`path = '${path}'`);
  return rows.map((r) => ({ ...r, ...Object.fromEntries(NUMBERS.map((k) => [k, Number(r[k])])) }) as unknown as Row);
}
/** The rows that carry a batch's usage (`<first read id>:<model>`), not the reads' own rows. */
const usageRows = async (path: string) => (await rowsAt(path)).filter((r) => r.request_id.includes(':'));
/** A later read's own row: its id, no tokens. */
const ownRows = async (path: string) => (await rowsAt(path)).filter((r) => !r.request_id.includes(':'));

async function physicalRows(path: string): Promise<number> {
  const rs = await pipe.ch.query({ query: `SELECT count() AS n FROM ${pipe.db}.usage_events WHERE path = '${path}'`, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0]?.n ?? 0);
}
/** What a re-read must leave as it was: the key and the usage (timings and insert time are the latest read's). */
const usageOf = (rows: Row[]) =>
  rows.map(({ request_id, model, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, usage_status, cost_micro_usd }) => ({
    request_id, model, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, usage_status, cost_micro_usd,
  }));

/** What the synchronous API would cost for these counts; a batch costs half of it. */
function standardCost(provider: string, u: Omit<CanonicalUsage, 'usage_status' | 'cache_write_tokens'>): number {
  return prices.price(provider, { ...u, cache_write_tokens: 0, usage_status: 'reported' }).cost_micro_usd;
}

describe('Anthropic message batches', () => {
  const id = 'msgbatch_013Zva2CMHLNnXjNJJKqJ2EF';
  const resultsPath = `/v1/messages/batches/${id}/results`;
  const expected = anthropicResults().trim().split('\n').map((l) => JSON.parse(l) as unknown);

  test('results_url points through arouter, plain and compressed, and the SDK reads the results through it', async () => {
    const account = 'acct-anthropic-batch';
    const key = await pipe.createKey(account);
    const client = new Anthropic({ apiKey: key, baseURL: `${base}/anthropic`, maxRetries: 0 });
    for (const gzip of [false, true]) {
      mock.on(`/v1/messages/batches/${id}`, { body: anthropicBatch(id, 'https://api.anthropic.com'), headers: { 'content-type': 'application/json' }, gzip });
      expect((await client.messages.batches.retrieve(id)).results_url).toBe(`${base}/anthropic${resultsPath}`);
    }
    mock.on(resultsPath, { body: anthropicResults(), headers: { 'content-type': 'application/binary' } });
    const before = mock.received.length;
    const got: unknown[] = [];
    for await (const line of await client.messages.batches.results(id)) got.push(line);
    expect(got).toEqual(expected);
    const calls = mock.received.slice(before);
    expect(calls.map((c) => c.path)).toEqual([`/v1/messages/batches/${id}`, resultsPath]);
    for (const c of calls) {
      expect(c.headers['x-api-key']).toBe(PROVIDER_SECRET('anthropic'));
      expect(JSON.stringify(c.headers) + c.search).not.toContain(key);
    }

    const [row] = await waitFor(async () => ((await rowsAt(resultsPath)).length === 1 ? rowsAt(resultsPath) : null), 15_000, 'the results row');
    const u = ANTHROPIC_RESULTS_USAGE;
    expect(row).toMatchObject({ model: u.model, input_tokens: u.input, output_tokens: u.output, usage_status: 'reported' });
    expect(row!.request_id.endsWith(`:${u.model}`)).toBe(true);
    const standard = standardCost('anthropic', { model: u.model, input_tokens: u.input, cached_input_tokens: 0, output_tokens: u.output, reasoning_tokens: 0 });
    expect(standard).toBeGreaterThan(0);
    expect(row!.cost_micro_usd).toBe(Math.round(standard / 2));

    // Read again: a second physical row under the same key, one logical row, the same totals; and the read's own
    // row, with no tokens.
    for await (const line of await client.messages.batches.results(id)) got.push(line);
    await waitFor(async () => (await physicalRows(resultsPath)) === 3, 15_000, 'the second read stored');
    expect(usageOf(await usageRows(resultsPath))).toEqual(usageOf([row!]));
    expect((await ownRows(resultsPath)).map((r) => [r.input_tokens, r.output_tokens, r.usage_status])).toEqual([[0, 0, 'missing']]);
    expect(await pipe.usageTotals(key)).toMatchObject({ input_tokens: u.input, output_tokens: u.output, cost_micro_usd: row!.cost_micro_usd });
  });

  test('a read cut after the first result counts it as partial; the whole read that follows replaces it', async () => {
    const cutId = 'msgbatch_01CutShortReadOfResults';
    const path = `/v1/messages/batches/${cutId}/results`;
    const key = await pipe.createKey('acct-anthropic-cut');
    const first = `${anthropicResults().split('\n')[0]}\n`;
    // The first result, then nothing until arouter cancels: no timing decides how much of the read gets through.
    const openAfterFirst = () => new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode(first)) });
    mock.on(path, { raw: () => new Response(openAfterFirst(), { headers: { 'content-type': 'application/binary' } }) });
    const res = await fetch(`${base}/anthropic${path}`, { headers: { 'x-api-key': key } });
    const reader = res.body!.getReader();
    let seen = '';
    while (!seen.includes('\n')) seen += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const [cut] = await waitFor(async () => ((await rowsAt(path)).length === 1 ? rowsAt(path) : null), 15_000, 'the cut read row');
    expect(cut).toMatchObject({ input_tokens: 12, output_tokens: 29, usage_status: 'partial' });

    mock.on(path, { body: anthropicResults(), headers: { 'content-type': 'application/binary' } });
    const client = new Anthropic({ apiKey: key, baseURL: `${base}/anthropic`, maxRetries: 0 });
    mock.on(`/v1/messages/batches/${cutId}`, { body: anthropicBatch(cutId, mock.url), headers: { 'content-type': 'application/json' } });
    let n = 0;
    for await (const _ of await client.messages.batches.results(cutId)) n++;
    expect(n).toBe(4);
    const [whole] = await waitFor(async () => {
      const rows = await usageRows(path);
      return rows.length === 1 && rows[0]!.usage_status === 'reported' ? rows : null;
    }, 15_000, 'the whole read to replace the cut one');
    expect(whole).toMatchObject({ request_id: cut!.request_id, input_tokens: 24, output_tokens: 58 });
  });
});

describe('OpenAI batch output files', () => {
  test('the output file read through the SDK: one row per model at half price, counted once over two reads', async () => {
    const fileId = 'file-BatchOutput7Q2nL';
    const path = `/v1/files/${fileId}/content`;
    const key = await pipe.createKey('acct-openai-batch');
    const client = new OpenAI({ apiKey: key, baseURL: `${base}/openai/v1`, maxRetries: 0 });
    mock.on(path, { body: openaiOutput(), headers: { 'content-type': 'application/octet-stream' } });
    expect(await (await client.files.content(fileId)).text()).toBe(openaiOutput());
    expect(mock.received.at(-1)!.headers.authorization).toBe(`Bearer ${PROVIDER_SECRET('openai')}`);

    const rows = await waitFor(async () => {
      const r = await rowsAt(path);
      return r.length === 2 ? r : null;
    }, 15_000, 'a row per model');
    for (const g of OPENAI_OUTPUT_USAGE) {
      const row = rows.find((r) => r.model === g.model)!;
      expect(row).toMatchObject({ input_tokens: g.input, cached_input_tokens: g.cached, output_tokens: g.output, reasoning_tokens: g.reasoning, usage_status: 'reported' });
      const standard = standardCost('openai', { model: g.model, input_tokens: g.input, cached_input_tokens: g.cached, output_tokens: g.output, reasoning_tokens: g.reasoning });
      expect(standard).toBeGreaterThan(0);
      expect(row.cost_micro_usd).toBe(Math.round(standard / 2));
    }
    await client.files.content(fileId).then((r) => r.text());
    await waitFor(async () => (await physicalRows(path)) === 5, 15_000, 'the second read stored');
    expect(usageOf(await usageRows(path))).toEqual(usageOf(rows));
    expect(await ownRows(path)).toHaveLength(1);
  });

  test('a Range read gets the whole file, and a second account reading the same file is not billed again', async () => {
    const fileId = 'file-BatchOutputRanged9';
    const path = `/v1/files/${fileId}/content`;
    mock.on(path, { body: openaiOutput(), headers: { 'content-type': 'application/octet-stream' } });
    const first = await pipe.createKey('acct-openai-ranges');
    const res = await fetch(`${base}/openai${path}`, { headers: { authorization: `Bearer ${first}`, range: 'bytes=0-99' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(openaiOutput());
    expect(mock.received.at(-1)!.headers.range).toBeUndefined();
    const rows = await waitFor(async () => {
      const r = await rowsAt(path);
      return r.length === 2 ? r : null;
    }, 15_000, 'a row per model');

    const second = await pipe.createKey('acct-openai-other');
    const again = await fetch(`${base}/openai${path}`, { headers: { authorization: `Bearer ${second}` } });
    expect(await again.text()).toBe(openaiOutput());
    await waitFor(async () => (await physicalRows(path)) === 5, 15_000, 'the second account read stored');
    const after = await pipe.rows<{ account_id: string; request_id: string; input_tokens: string }>(`path = '${path}'`);
    // The usage stays with the first reader; the second account's read is on record, with no tokens.
    expect(after.map((r) => [r.account_id, r.request_id.includes(':'), Number(r.input_tokens) > 0]).sort()).toEqual([
      ['acct-openai-other', false, false],
      ['acct-openai-ranges', true, true],
      ['acct-openai-ranges', true, true],
    ]);
    expect(usageOf(await usageRows(path))).toEqual(usageOf(rows));
  });

  test('a file without usage (a batch input file) is an ordinary read: each read its own row, nothing claimed', async () => {
    const fileId = 'file-BatchInputNoUsage3';
    const path = `/v1/files/${fileId}/content`;
    const input = '{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4.1-nano","messages":[]}}\n';
    mock.on(path, { body: input, headers: { 'content-type': 'application/octet-stream' } });
    const redis = new Redis(TEST_REDIS_URL);
    const claims = async () => (await redis.keys(`${pipe.env.AROUTER_USAGE_QUEUE}:first-report:*`)).length;
    const claimsBefore = await claims();
    for (const account of ['acct-input-a', 'acct-input-b']) {
      const key = await pipe.createKey(account);
      expect(await (await fetch(`${base}/openai${path}`, { headers: { authorization: `Bearer ${key}` } })).text()).toBe(input);
    }
    const rows = await waitFor(async () => {
      const r = await pipe.rows<{ account_id: string; request_id: string; usage_status: string }>(`path = '${path}'`);
      return r.length === 2 ? r : null;
    }, 15_000, 'a row per read');
    expect(rows.map((r) => [r.account_id, r.request_id.includes(':'), r.usage_status]).sort()).toEqual([
      ['acct-input-a', false, 'missing'],
      ['acct-input-b', false, 'missing'],
    ]);
    expect(await claims()).toBe(claimsBefore);
    redis.disconnect();
  });
});

describe('Gemini batch mode responses files', () => {
  test('the file downloaded through arouter: one row at half price, the API key never forwarded', async () => {
    const path = '/download/v1beta/files/batch-7x2kq9responses:download';
    const key = await pipe.createKey('acct-gemini-batch');
    mock.on(path, { body: geminiOutput(), headers: { 'content-type': 'application/octet-stream' } });
    const res = await fetch(`${base}/google${path}?alt=media`, { headers: { 'x-goog-api-key': key } });
    expect(await res.text()).toBe(geminiOutput());
    const sent = mock.received.at(-1)!;
    expect(sent.search).toBe('?alt=media');
    expect(JSON.stringify(sent.headers)).not.toContain(key);
    const [row] = await waitFor(async () => ((await usageRows(path)).length === 1 ? usageRows(path) : null), 15_000, 'the usage row');
    const g = GEMINI_OUTPUT_USAGE;
    expect(row).toMatchObject({ model: g.model, input_tokens: g.input, output_tokens: g.output, reasoning_tokens: g.reasoning, usage_status: 'reported' });
    const standard = standardCost('google', { model: g.model, input_tokens: g.input, cached_input_tokens: 0, output_tokens: g.output, reasoning_tokens: g.reasoning });
    expect(standard).toBeGreaterThan(0);
    expect(row!.cost_micro_usd).toBe(Math.round(standard / 2));
  });
});
