// Bench: writer insert rate (batches of 1000), and p50/p99 of the usage API for one account over 30 days of 10M rows:
// queryUsage in-process, then GET /v1/usage over HTTP from a real arouter (its key check and JSON answer included).
// Prints JSON. Usage: bun run bench/usage-query.ts   (CLICKHOUSE_URL and REDIS_URL, default the test servers on :18123
// and :16379; BENCH_ROWS, BENCH_ITER, BENCH_FINAL_ITER, BENCH_WRITER_ROWS, BENCH_KEEP=1 to keep the database)
import { createClient } from '@clickhouse/client';
import { join } from 'node:path';
import { timeUsageRoute } from './lib/usage-route.ts';
import { queryUsage, type GroupBy } from '../src/api/usage-query.ts';
import { ClickHouseWriter } from '../workers/clickhouse-writer.ts';
import { runMigrations, USAGE_TABLE } from '../workers/migrations.ts';
import { DAY_SECONDS, sealPass } from '../workers/rollup.ts';
import type { UsageRow } from '../workers/row.ts';

const url = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:18123';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:16379';
const ROWS = Number(process.env.BENCH_ROWS ?? 10_000_000);
const REPLAYS = Math.floor(ROWS / 100);
const ITER = Number(process.env.BENCH_ITER ?? 40);
// The FINAL-only baseline is slow by design (that is why the rollup exists); fewer rounds keep the bench short.
const FINAL_ITER = Number(process.env.BENCH_FINAL_ITER ?? 10);
const WRITER_ROWS = Number(process.env.BENCH_WRITER_ROWS ?? 200_000);
const ACCOUNT = 'acct_bench';
const db = `bench_usage_${Date.now().toString(36)}`;

const ch = createClient({ url, request_timeout: 600_000, clickhouse_settings: { send_progress_in_http_headers: 1, http_headers_progress_interval_ms: '110000' } });

function pct(sorted: number[], p: number): number {
  return Number(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!.toFixed(1));
}

async function timeQueries(groupBy: GroupBy | undefined, from: Date, to: Date, iterations = ITER) {
  for (let i = 0; i < 2; i++) await queryUsage(ch, db, { accountId: ACCOUNT, from, to, groupBy }); // warm caches
  const ms: number[] = [];
  let requests = 0;
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    const r = await queryUsage(ch, db, { accountId: ACCOUNT, from, to, groupBy });
    ms.push(performance.now() - t0);
    requests = r.totals.requests;
  }
  ms.sort((a, b) => a - b);
  return { group_by: groupBy ?? null, p50_ms: pct(ms, 50), p99_ms: pct(ms, 99), requests };
}

function writerRow(i: number, now: number): UsageRow {
  return {
    request_id: `w_${i}`, ts: now - (i % 86_400), account_id: `acct_writer_${i % 50}`, key_id: `key_${i % 5}`, provider: 'openai',
    model: 'gpt-4.1-nano-2025-04-14', request_model: 'gpt-4.1-nano', format: 'openai-chat', method: 'POST', path: '/v1/chat/completions',
    status: 200, stream: 1, outcome: 'complete', error: '', provider_error: '', input_tokens: 1200, cached_input_tokens: 200,
    cache_write_tokens: 0, output_tokens: 300, reasoning_tokens: 0, usage_status: 'reported', latency_ms: 900, ttfb_ms: 200,
    bytes_in: 2048, bytes_out: 8192, cost_micro_usd: 245, price_known: 1,
    raw_usage: '{"capture":{"kind":"sse","events":[{"data":"{\\"usage\\":{\\"prompt_tokens\\":1200,\\"completion_tokens\\":300,\\"prompt_tokens_details\\":{\\"cached_tokens\\":200}}}"}]}}',
    inserted_at: now, version: Date.now(),
  };
}

async function writerRate(): Promise<{ rows: number; batch_rows: number; seconds: number; rows_per_second: number }> {
  const writer = new ClickHouseWriter<UsageRow>({ client: ch, table: `${db}.${USAGE_TABLE}`, maxRows: 1000, flushMs: 1000, retryMaxMs: 5000 });
  const now = Math.floor(Date.now() / 1000);
  const t0 = performance.now();
  // Jobs arrive as producer micro-batches; 100 rows per write, 1000 per insert.
  const writes: Promise<void>[] = [];
  for (let i = 0; i < WRITER_ROWS; i += 100) {
    writes.push(writer.write(Array.from({ length: Math.min(100, WRITER_ROWS - i) }, (_, j) => writerRow(i + j, now))));
  }
  await Promise.all(writes);
  await writer.close();
  const seconds = (performance.now() - t0) / 1000;
  return { rows: WRITER_ROWS, batch_rows: 1000, seconds: Number(seconds.toFixed(2)), rows_per_second: Math.round(WRITER_ROWS / seconds) };
}

/** ROWS events of one account spread evenly over the 30 days before `end`, then 1% of them replayed with a newer version. */
async function seed(end: number): Promise<number> {
  const span = 30 * DAY_SECONDS;
  const start = end - span;
  const select = (n: string, version: number) => `SELECT concat('req_', toString(${n})), toDateTime(${start} + intDiv(${n} * ${span}, ${ROWS})),
  '${ACCOUNT}', concat('key_', toString(${n} % 7)), ['openai','anthropic','google','xai'][${n} % 4 + 1],
  ['gpt-4.1-nano','claude-sonnet-4-5','gemini-3-pro-preview','grok-3-mini','unknown-model'][${n} % 5 + 1], 'POST', '/v1/chat/completions',
  200, ${n} % 2, 'complete', ${n} % 2000, ${n} % 300, 0, ${n} % 700, 0, ['reported','partial','missing'][${n} % 3 + 1], 500, 100,
  cast(${n} % 100 * 10 AS UInt64), cast(${n} % 5 != 4 AS UInt8), '{}', now(), ${version}`;
  const cols = `(request_id, ts, account_id, key_id, provider, model, method, path, status, stream, outcome, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, reasoning_tokens, usage_status, latency_ms, ttfb_ms, cost_micro_usd, price_known, raw_usage, inserted_at, version)`;
  const t0 = performance.now();
  await ch.command({ query: `INSERT INTO ${db}.${USAGE_TABLE} ${cols} ${select('number', 1)} FROM numbers(${ROWS})` });
  // Replays: the same (account, ts, request_id) as every 100th event, newer version; FINAL must count them once.
  await ch.command({ query: `INSERT INTO ${db}.${USAGE_TABLE} ${cols} ${select('(number * 100)', 2)} FROM numbers(${REPLAYS})` });
  return (performance.now() - t0) / 1000;
}

await runMigrations(ch, db);
try {
  const writer = await writerRate();
  const end = Math.floor(Date.now() / 1000);
  const seedSeconds = await seed(end);
  const from = new Date((end - 30 * DAY_SECONDS) * 1000);
  const to = new Date(end * 1000);
  const [parts] = await (await ch.query({
    query: `SELECT count() AS parts, sum(rows) AS rows FROM system.parts WHERE database = '${db}' AND table = '${USAGE_TABLE}' AND active`,
    format: 'JSONEachRow',
  })).json<{ parts: string; rows: string }>();

  const finalOnly = [];
  for (const g of [undefined, 'day', 'model'] as const) finalOnly.push(await timeQueries(g, from, to, FINAL_ITER));
  const s0 = performance.now();
  const sealed = await sealPass(ch, db, { lookbackHours: 31 * 24, maxHours: 31 * 24 });
  const sealSeconds = (performance.now() - s0) / 1000;
  const withRollup = [];
  const groupings = [undefined, 'day', 'model', 'provider', 'key'] as const;
  for (const g of groupings) withRollup.push(await timeQueries(g, from, to));
  const overHttp = await timeUsageRoute({ root: join(import.meta.dir, '..'), clickhouseUrl: url, redisUrl, db, account: ACCOUNT, from, to, groupings, iterations: ITER, pct })
    .catch((e: unknown) => ({ error: e instanceof Error ? e.message : String(e) }));

  console.log(JSON.stringify({
    clickhouse: (await (await ch.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })).json<{ v: string }>())[0]?.v,
    writer_insert: writer,
    seeded: { events: ROWS, replayed: REPLAYS, physical_rows: Number(parts?.rows), parts: Number(parts?.parts), seconds: Number(seedSeconds.toFixed(1)) },
    query: { account: ACCOUNT, window_days: 30, iterations: ITER, final_only_iterations: FINAL_ITER, expected_requests: ROWS },
    final_only: finalOnly,
    rollup: { sealed_hours: sealed.length, seal_seconds: Number(sealSeconds.toFixed(2)), queries: withRollup },
    // The same queries as a client of GET /v1/usage sees them: HTTP, key check, the query and its JSON answer.
    http: overHttp,
  }, null, 2));
} finally {
  if (process.env.BENCH_KEEP !== '1') await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await ch.close();
}
