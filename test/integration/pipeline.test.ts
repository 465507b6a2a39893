// Every fixture end to end: arouter → BullMQ (real Redis) → worker → ClickHouse; one row each, canonical columns exact.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { waitFor } from '../helpers/env.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { startPipeline, type Pipeline } from '../helpers/pipeline.ts';
import { providerCases } from '../helpers/provider-cases.ts';
import { ADMIN_TOKEN } from '../helpers/proxy-harness.ts';

let mock: MockUpstream;
let pipe: Pipeline;

beforeAll(async () => {
  mock = await startMockUpstream();
  pipe = await startPipeline(mock.url);
});
afterAll(async () => {
  await pipe.close();
  mock.stop();
});

interface Row {
  request_id: string;
  provider: string;
  model: string;
  status: number;
  stream: number;
  input_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  usage_status: string;
  account_id: string;
}

test('each fixture, streamed and not, yields exactly one row with the canonical usage of providers.md', async () => {
  const key = await pipe.createKey('acct-fixtures');
  const sent: Array<{ id: string; c: ReturnType<typeof providerCases>[number] }> = [];
  for (const c of providerCases()) {
    mock.on(c.path, { body: c.reply.body, headers: { 'content-type': c.reply.contentType }, gzip: c.reply.gzip ?? false });
    const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
    const res = await pipe.runtime.app.handle(
      new Request(`http://arouter.test/${c.slug}${c.path}${c.search ?? ''}`, { method: c.method, headers, ...(c.body ? { body: c.body } : {}) }),
    );
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    sent.push({ id: res.headers.get('x-arouter-request-id')!, c });
  }
  const rows = await waitFor(async () => {
    const r = await pipe.rows<Row>("account_id = 'acct-fixtures'");
    return r.length >= sent.length ? r : null;
  }, 20_000, 'all rows in ClickHouse');
  expect(rows.length).toBe(sent.length);
  const table: string[] = ['| fixture | expected in/cached/write/out/reasoning | stored | status | model |', '|---|---|---|---|---|'];
  for (const { id, c } of sent) {
    const row = rows.find((r) => r.request_id === id);
    expect(row).toBeDefined();
    const stored = [row!.input_tokens, row!.cached_input_tokens, row!.cache_write_tokens, row!.output_tokens, row!.reasoning_tokens].map(Number);
    table.push(`| ${c.name} | ${c.expect.join('/')} | ${stored.join('/')} | ${row!.usage_status} | ${row!.model} |`);
    expect({ name: c.name, usage: stored }).toEqual({ name: c.name, usage: c.expect });
    expect(row!.usage_status).toBe('reported');
    expect(row!.provider).toBe(c.slug);
    expect({ name: c.name, model: row!.model.length > 0 }).toEqual({ name: c.name, model: true });
    expect(Number(row!.status)).toBe(200);
  }
  if (process.env.AROUTER_PRINT_USAGE_TABLE) console.log(table.join('\n'));
});

test('usage API totals match the rows, and a replayed event is counted once', async () => {
  const key = await pipe.createKey('acct-api');
  mock.on('/v1/chat/completions', { body: providerCases()[0]!.reply.body });
  for (let i = 0; i < 3; i++) {
    const res = await pipe.runtime.app.handle(
      new Request('http://arouter.test/openai/v1/chat/completions', { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"model":"gpt-4.1-nano"}' }),
    );
    await res.arrayBuffer();
  }
  await waitFor(async () => (await pipe.rows("account_id = 'acct-api'")).length === 3, 20_000, 'three rows');
  // Replay: the same rows inserted again (as a redelivered job would), then totals must not move.
  await pipe.ch.command({ query: `INSERT INTO ${pipe.db}.usage_events SELECT * FROM ${pipe.db}.usage_events WHERE account_id = 'acct-api'` });
  const res = await pipe.runtime.app.handle(new Request('http://arouter.test/v1/usage?group_by=provider', { headers: { authorization: `Bearer ${key}` } }));
  expect(res.status).toBe(200);
  const report = (await res.json()) as { totals: { requests: number; input_tokens: number; output_tokens: number }; groups: Array<{ key: string }> };
  expect(report.totals.requests).toBe(3);
  expect(report.totals.input_tokens).toBe(3 * 16);
  expect(report.totals.output_tokens).toBe(3 * 363);
  expect(report.groups.map((g) => g.key)).toEqual(['openai']);
});

test('the admin usage route: one account, or every account without ?account=, never every account for an empty one', async () => {
  const admin = (query: string) =>
    pipe.runtime.app.handle(new Request(`http://arouter.test/admin/usage${query}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
  const one = await admin('?account=acct-api');
  expect(one.status).toBe(200);
  expect(((await one.json()) as { account_id: string | null }).account_id).toBe('acct-api');
  const all = await admin('');
  expect(all.status).toBe(200);
  expect(((await all.json()) as { account_id: string | null }).account_id).toBeNull();
  // A script's unset variable: refused, not read as every account.
  const empty = await admin('?account=');
  expect(empty.status).toBe(400);
  expect(((await empty.json()) as { error: { type: string } }).error.type).toBe('invalid_account');
  expect((await admin('?account=acct-api&from=0')).status).toBe(400);
});
