// Background responses through arouter: created streamed or not, read back finished any number of times, their usage
// is counted once, by the first request that reports it; every request still has its row.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { waitFor } from '../helpers/env.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { startPipeline, type Pipeline } from '../helpers/pipeline.ts';

interface Row {
  request_id: string;
  method: string;
  input_tokens: string;
  output_tokens: string;
  usage_status: string;
}

let mock: MockUpstream;
let pipe: Pipeline;
let base: string;

beforeAll(async () => {
  mock = await startMockUpstream();
  pipe = await startPipeline(mock.url);
  base = pipe.listen();
});
afterAll(async () => {
  await pipe.close();
  mock.stop();
});

/** The recorded Responses answer, as a background response with its own id. */
function finished(id: string): Record<string, unknown> {
  return { ...(JSON.parse(fixtureText('openai/responses-nonstream.json')) as Record<string, unknown>), id, background: true };
}
const event = (type: string, r: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: 1, response: r })}\n\n`;

async function rowsOf(account: string, n: number): Promise<Row[]> {
  return waitFor(async () => {
    const rows = await pipe.rows<Row>(`account_id = '${account}'`);
    return rows.length === n ? rows : null;
  }, 15_000, `${n} rows`);
}
test('created in the background, then read back finished twice: the first finished read counts it', async () => {
  const account = 'acct-background-reads';
  const key = await pipe.createKey(account);
  const client = new OpenAI({ apiKey: key, baseURL: `${base}/openai/v1`, maxRetries: 0 });
  const id = 'resp_background_read_twice_01';
  mock.on('/v1/responses', { body: JSON.stringify({ ...finished(id), status: 'queued', usage: null, output: [] }) });
  expect((await client.responses.create({ model: 'gpt-5.3-codex', input: 'hi', background: true })).status).toBe('queued');
  mock.on(`/v1/responses/${id}`, { body: JSON.stringify(finished(id)) });
  expect((await client.responses.retrieve(id)).usage?.input_tokens).toBe(7243);
  // The first read's row first, so it is the first report whatever the batching.
  await rowsOf(account, 2);
  expect((await client.responses.retrieve(id)).usage?.input_tokens).toBe(7243);

  const rows = await rowsOf(account, 3);
  expect(rows.map((r) => [r.method, Number(r.input_tokens), Number(r.output_tokens), r.usage_status])).toEqual([
    ['POST', 0, 0, 'missing'],
    ['GET', 7243, 423, 'reported'],
    ['GET', 0, 0, 'missing'],
  ]);
  expect(await pipe.usageTotals(key)).toMatchObject({ requests: 3, input_tokens: 7243, output_tokens: 423 });
});

test('created streamed in the background, then read back: the stream counted it, the read does not', async () => {
  const account = 'acct-background-stream';
  const key = await pipe.createKey(account);
  const client = new OpenAI({ apiKey: key, baseURL: `${base}/openai/v1`, maxRetries: 0 });
  const id = 'resp_background_streamed_01';
  const r = finished(id);
  mock.on('/v1/responses', { events: [event('response.created', { ...r, status: 'in_progress', usage: null, output: [] }), event('response.completed', r)] });
  const stream = await client.responses.create({ model: 'gpt-5.3-codex', input: 'hi', background: true, stream: true });
  let completed = 0;
  for await (const e of stream) if (e.type === 'response.completed') completed++;
  expect(completed).toBe(1);
  // Wait for the stream's row before the read, so the read arrives second whatever the batching.
  await rowsOf(account, 1);
  mock.on(`/v1/responses/${id}`, { body: JSON.stringify(r) });
  await client.responses.retrieve(id);

  const rows = await rowsOf(account, 2);
  expect(rows.map((x) => [x.method, Number(x.input_tokens), x.usage_status])).toEqual([
    ['POST', 7243, 'reported'],
    ['GET', 0, 'missing'],
  ]);
  expect(await pipe.usageTotals(key)).toMatchObject({ requests: 2, input_tokens: 7243 });
});
