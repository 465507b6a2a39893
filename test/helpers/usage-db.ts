// Test helpers for the usage store: a ClickHouse client, a fresh migrated database per file, rows and counts.
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { runMigrations } from '../../workers/migrations.ts';
import type { UsageRow } from '../../workers/row.ts';
import { TEST_CLICKHOUSE_URL, uniqueName } from './env.ts';

export interface UsageDb {
  ch: ClickHouseClient;
  db: string;
  drop(): Promise<void>;
}

export async function freshUsageDb(prefix: string): Promise<UsageDb> {
  const ch = createClient({ url: TEST_CLICKHOUSE_URL });
  const db = uniqueName(prefix);
  await runMigrations(ch, db);
  return {
    ch,
    db,
    async drop() {
      await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
      await ch.close();
    },
  };
}

export async function scalar(ch: ClickHouseClient, query: string): Promise<number> {
  const rows = await (await ch.query({ query, format: 'JSONEachRow' })).json<Record<string, string | number>>();
  return Number(Object.values(rows[0] ?? {})[0] ?? Number.NaN);
}

export async function selectRows<T>(ch: ClickHouseClient, query: string): Promise<T[]> {
  return (await ch.query({ query, format: 'JSONEachRow' })).json<T>();
}

/** A plain, valid usage_events row; override what the test is about. */
export function usageRow(over: Partial<UsageRow> = {}): UsageRow {
  const now = Math.floor(Date.now() / 1000);
  return {
    request_id: 'req', ts: now, account_id: 'acct', key_id: 'key', provider: 'openai', model: 'gpt-4.1-nano', request_model: 'gpt-4.1-nano',
    format: 'openai-chat', method: 'POST', path: '/v1/chat/completions', status: 200, stream: 0, outcome: 'complete', error: '',
    provider_error: '', input_tokens: 10, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 5, reasoning_tokens: 0,
    usage_status: 'reported', latency_ms: 100, ttfb_ms: 10, bytes_in: 1, bytes_out: 1, cost_micro_usd: 3, price_known: 1,
    raw_usage: '{}', inserted_at: now, version: Date.now(), ...over,
  };
}

/** A TCP port nothing listens on (taken from the OS, then released). */
export function freePort(): number {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** An HTTP relay on `port` to the test ClickHouse: ClickHouse "coming back" without touching the shared server. */
export function clickhouseRelay(port: number): { stop(): void } {
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port,
    async fetch(req) {
      const u = new URL(req.url);
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer();
      const headers = new Headers(req.headers);
      headers.delete('host');
      const res = await fetch(`${TEST_CLICKHOUSE_URL}${u.pathname}${u.search}`, { method: req.method, headers, body });
      const out = new Headers(res.headers);
      // fetch already decoded the body; pass it on as plain bytes.
      out.delete('content-encoding');
      out.delete('content-length');
      return new Response(await res.arrayBuffer(), { status: res.status, headers: out });
    },
  });
  return { stop: () => server.stop(true) };
}
