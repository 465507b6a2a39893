// ClickHouse writer against the real 18.16: flush on count, on interval, drain on close, and retry through an outage.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { ClickHouseWriter, RowsRefusedError, WriterClosedError } from '../../workers/clickhouse-writer.ts';
import { USAGE_TABLE } from '../../workers/migrations.ts';
import type { UsageRow } from '../../workers/row.ts';
import { waitFor } from '../helpers/env.ts';
import { clickhouseRelay, freePort, freshUsageDb, scalar, usageRow, type UsageDb } from '../helpers/usage-db.ts';

let u: UsageDb;
beforeAll(async () => {
  u = await freshUsageDb('t_writer');
});
afterAll(async () => {
  await u.drop();
});

const rows = (prefix: string, n: number): UsageRow[] => Array.from({ length: n }, (_, i) => usageRow({ request_id: `${prefix}_${i}` }));
const countOf = (prefix: string) => scalar(u.ch, `SELECT count() FROM ${u.db}.${USAGE_TABLE} FINAL WHERE startsWith(request_id, '${prefix}_')`);

/** The real client, with every insert's row count recorded. */
function observed(ch: ClickHouseClient): { client: Pick<ClickHouseClient, 'insert'>; inserts: number[] } {
  const inserts: number[] = [];
  return {
    inserts,
    client: {
      insert: ((params: Parameters<ClickHouseClient['insert']>[0]) => {
        inserts.push(Array.isArray(params.values) ? params.values.length : -1);
        return ch.insert(params);
      }) as ClickHouseClient['insert'],
    },
  };
}

function writer(client: Pick<ClickHouseClient, 'insert'>, over: { maxRows?: number; flushMs?: number; retryMaxMs?: number; onRetry?: (e: Error, a: number, d: number) => void } = {}) {
  return new ClickHouseWriter<UsageRow>({
    client, table: `${u.db}.${USAGE_TABLE}`, maxRows: over.maxRows ?? 1000, flushMs: over.flushMs ?? 60_000,
    retryBaseMs: 20, retryMaxMs: over.retryMaxMs ?? 200, ...(over.onRetry ? { onRetry: over.onRetry } : {}),
  });
}

describe('ClickHouseWriter', () => {
  test('a write ClickHouse refuses as data is rejected alone, at once; the writes batched with it land', async () => {
    const o = observed(u.ch);
    let retried = 0;
    const w = writer(o.client, { maxRows: 1000, flushMs: 50, onRetry: () => retried++ });
    // A version ClickHouse cannot parse (UInt64): every retry of the batch holding it would fail the same way.
    const poison = [usageRow({ request_id: 'refused_0', version: 1.5 })];
    const outcomes = await Promise.allSettled([w.write(rows('kept_a', 3)), w.write(poison), w.write(rows('kept_b', 2)), w.write(rows('kept_c', 1))]);
    expect(outcomes.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const refused = (outcomes[1] as PromiseRejectedResult).reason;
    expect(refused).toBeInstanceOf(RowsRefusedError);
    expect((refused as Error).message).toContain('ClickHouse refused these rows');
    expect(retried).toBe(0);
    expect([await countOf('kept_a'), await countOf('kept_b'), await countOf('kept_c'), await countOf('refused')]).toEqual([3, 2, 1, 0]);
    await w.close();
  });

  test('inserts as soon as maxRows are buffered, without waiting for the (one minute) interval', async () => {
    const o = observed(u.ch);
    const w = writer(o.client, { maxRows: 5 });
    await Promise.all([w.write(rows('count', 2)), w.write(rows('count', 5).slice(2))]);
    expect(o.inserts).toEqual([5]);
    expect(await countOf('count')).toBe(5);
    await w.close();
  });

  test('inserts a partial batch once the interval passes', async () => {
    const o = observed(u.ch);
    const w = writer(o.client, { maxRows: 1000, flushMs: 100 });
    await w.write(rows('interval', 3));
    expect(o.inserts).toEqual([3]);
    expect(await countOf('interval')).toBe(3);
    await w.close();
  });

  test('batches whole writes up to maxRows; rows written during an insert join the next one', async () => {
    const o = observed(u.ch);
    const w = writer(o.client, { maxRows: 10, flushMs: 50 });
    await Promise.all([0, 1, 2, 3].map((i) => w.write(rows(`whole${i}`, 4))));
    expect(o.inserts.reduce((a, b) => a + b, 0)).toBe(16);
    for (const n of o.inserts) {
      expect(n).toBeLessThanOrEqual(10);
      expect(n % 4).toBe(0);
    }
    for (const i of [0, 1, 2, 3]) expect(await countOf(`whole${i}`)).toBe(4);
    await w.close();
  });

  test('close() drains the buffer at once and then refuses writes', async () => {
    const o = observed(u.ch);
    const w = writer(o.client, { maxRows: 1000, flushMs: 60_000 });
    const pending = w.write(rows('drain', 7));
    expect(w.pendingRows).toBe(7);
    await w.close();
    await pending;
    expect(await countOf('drain')).toBe(7);
    expect(w.pendingRows).toBe(0);
    await expect(w.write(rows('late', 1))).rejects.toBeInstanceOf(WriterClosedError);
  });

  test('ClickHouse unreachable: retried with capped backoff, nothing dropped or doubled once it is back', async () => {
    const port = freePort();
    const down = createClient({ url: `http://127.0.0.1:${port}`, log: { level: ClickHouseLogLevel.OFF } });
    const delays: number[] = [];
    const w = writer(down, { maxRows: 100, flushMs: 10, retryMaxMs: 200, onRetry: (_e, _a, d) => delays.push(d) });
    const written = w.write(rows('outage', 40));
    const more = w.write(rows('outage2', 25));
    await waitFor(() => delays.length >= 5, 20_000, 'five failed attempts');
    expect(await countOf('outage')).toBe(0);
    const relay = clickhouseRelay(port);
    try {
      await Promise.all([written, more]);
      await w.close();
    } finally {
      relay.stop();
      await down.close();
    }
    expect(await countOf('outage')).toBe(40);
    expect(await countOf('outage2')).toBe(25);
    expect(Math.max(...delays)).toBeLessThanOrEqual(200);
    // Doubling from 20 ms: attempt 1 waits 10-20 ms, attempt 5 is at the 200 ms cap (100-200 ms with jitter).
    expect(delays[0]!).toBeLessThanOrEqual(20);
    expect(delays[4]!).toBeGreaterThanOrEqual(100);
  });

  test('abortPending() rejects unconfirmed writes with a typed error so their jobs can be re-queued', async () => {
    const down = createClient({ url: `http://127.0.0.1:${freePort()}`, log: { level: ClickHouseLogLevel.OFF } });
    let attempts = 0;
    const w = writer(down, { onRetry: () => attempts++, flushMs: 10 });
    const pending = w.write(rows('aborted', 3));
    await waitFor(() => attempts >= 1, 10_000, 'a failed attempt');
    w.abortPending();
    let err: unknown;
    try {
      await pending;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WriterClosedError);
    expect((err as WriterClosedError).code).toBe('writer_closed');
    expect((err as WriterClosedError).status).toBe(503);
    await w.close();
    await down.close();
    expect(await countOf('aborted')).toBe(0);
  });
});
