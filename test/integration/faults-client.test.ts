// Fault test: a client that hangs up mid-stream still costs exactly one row, marked missing or partial as its format allows.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { closeAllStacks, startStack, type FaultStack } from '../helpers/faults-stack.ts';
import { anthropicRawSse, sseEvents, sseFromChunks } from '../helpers/fixtures.ts';
import type { MockReply } from '../helpers/mock-upstream.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';

let mock: MockUpstream;
let stack: FaultStack;
const enc = new TextEncoder();

/** The first events of a real stream, then silence: the stream only ends because the client leaves. */
function cutStream(events: string[]): MockReply {
  return {
    raw: () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(ctrl) {
            for (const e of events) ctrl.enqueue(enc.encode(e));
          },
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      ),
  };
}

const openaiEvents = sseEvents(sseFromChunks('openai/chat-stream-include-usage.chunks.jsonl', 'openai'));
const anthropicEvents = sseEvents(anthropicRawSse('anthropic/messages-stream-basic-raw.sse'));

beforeAll(async () => {
  mock = await startMockUpstream();
  // OpenAI sends usage only in its last chunk: cut after five content chunks, nothing is known.
  mock.on('/v1/chat/completions', cutStream(openaiEvents.slice(0, 5)));
  // Anthropic sends input tokens in message_start: cut after the first text delta, input is known, output is not final.
  const firstDelta = anthropicEvents.findIndex((e) => e.includes('content_block_delta'));
  mock.on('/v1/messages', cutStream(anthropicEvents.slice(0, firstDelta + 1)));
  stack = await startStack({ upstream: mock.url });
}, 60_000);
afterAll(async () => {
  await closeAllStacks();
  mock.stop();
});

interface Row {
  request_id: string;
  outcome: string;
  usage_status: string;
  stream: number;
  input_tokens: string;
  output_tokens: string;
}

/** Stream a request, read until `marker` has arrived, then hang up. Returns the request id the client saw. */
async function hangUpAfter(path: string, body: object, marker: string): Promise<string> {
  const ac = new AbortController();
  const res = await fetch(`${stack.proxy.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.proxy.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: ac.signal,
  });
  expect(res.status).toBe(200);
  const id = res.headers.get('x-arouter-request-id');
  expect(id).toBeTruthy();
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let seen = '';
  while (!seen.includes(marker)) {
    const r = await reader.read();
    if (r.done) throw new Error('the stream ended before the client could hang up');
    seen += dec.decode(r.value, { stream: true });
  }
  ac.abort();
  await reader.cancel().catch(() => undefined);
  return id!;
}

async function onlyRow(id: string): Promise<Row> {
  const rows = await (await stack.ch.query({ query: `SELECT * FROM ${stack.db}.usage_events FINAL WHERE request_id = '${id}'`, format: 'JSONEachRow' })).json<Row>();
  expect(rows.length).toBe(1);
  return rows[0]!;
}

test('OpenAI-style stream cut before its usage chunk: one row, client_abort, usage missing', async () => {
  const id = await hangUpAfter('/openai/v1/chat/completions', { model: 'gpt-4.1-nano', stream: true, messages: [{ role: 'user', content: 'hi' }] }, '"content"');
  const got = await stack.settle(new Set([id]), 20_000);
  expect({ count: got.count, uniq: got.uniq }).toEqual({ count: 1, uniq: 1 });
  const row = await onlyRow(id);
  expect(row).toMatchObject({ outcome: 'client_abort', usage_status: 'missing', stream: 1 });
  expect(Number(row.input_tokens) + Number(row.output_tokens)).toBe(0);
  console.info(`client disconnect (openai): served=1 stored=${got.count} usage_status=${row.usage_status} outcome=${row.outcome} settle_ms=${got.ms}`);
}, 30_000);

test('Anthropic stream cut after message_start: one row, client_abort, usage partial with the input tokens known', async () => {
  const before = await stack.storedIds();
  const id = await hangUpAfter('/anthropic/v1/messages', { model: 'claude-3-opus-latest', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] }, 'text_delta');
  const got = await stack.settle(new Set([...before, id]), 20_000);
  expect({ count: got.count, uniq: got.uniq }).toEqual({ count: before.size + 1, uniq: before.size + 1 });
  const row = await onlyRow(id);
  expect(row).toMatchObject({ outcome: 'client_abort', usage_status: 'partial', stream: 1 });
  // message_start of the fixture: input_tokens 11, and output_tokens 1 as a placeholder lower bound.
  expect(Number(row.input_tokens)).toBe(11);
  expect(Number(row.output_tokens)).toBe(1);
  console.info(`client disconnect (anthropic): served=1 stored=1 usage_status=${row.usage_status} input=${row.input_tokens} output=${row.output_tokens} settle_ms=${got.ms}`);
}, 30_000);
