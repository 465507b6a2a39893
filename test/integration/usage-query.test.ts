// queryUsage on the real ClickHouse 18.16: every group_by, replays counted once, the sealed rollup agreeing with raw FINAL.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { MAX_ROLLUP_RUNS, queryUsage, type GroupBy, type UsageReport } from '../../src/api/usage-query.ts';
import { DIRTY_TABLE, SEALS_TABLE, USAGE_TABLE } from '../../workers/migrations.ts';
import { DAY_SECONDS, HOUR_SECONDS, markHoursDirty, sealPass, validSeals } from '../../workers/rollup.ts';
import type { UsageRow } from '../../workers/row.ts';
import { waitFor } from '../helpers/env.ts';
import { freshUsageDb, scalar, usageRow, type UsageDb } from '../helpers/usage-db.ts';

let u: UsageDb;
const today = Math.floor(Date.now() / 1000 / DAY_SECONDS);
const hourOf = (ts: number) => ts / HOUR_SECONDS;
const at = (day: number, hour: number) => day * DAY_SECONDS + hour * 3600;
const dayKey = (day: number) => new Date(day * DAY_SECONDS * 1000).toISOString().slice(0, 10);
const A = "acct_o'brien\\a";
const B = 'acct_b';

async function insert(rows: UsageRow[]): Promise<void> {
  await u.ch.insert({ table: `${u.db}.${USAGE_TABLE}`, values: rows, format: 'JSONEachRow' });
}

// Account A: 3 events three days ago, 2 two days ago, 1 today; one of them replayed (newer version, same key).
const SEED: UsageRow[] = [
  usageRow({ request_id: 'a1', account_id: A, ts: at(today - 3, 1), model: 'm1', provider: 'p1', key_id: 'k1', input_tokens: 100, output_tokens: 10, cost_micro_usd: 50 }),
  usageRow({ request_id: 'a2', account_id: A, ts: at(today - 3, 2), model: 'm2', provider: 'p1', key_id: 'k2', input_tokens: 200, output_tokens: 20, cost_micro_usd: 0, price_known: 0, usage_status: 'missing' }),
  usageRow({ request_id: 'a3', account_id: A, ts: at(today - 3, 23), model: 'm1', provider: 'p2', key_id: 'k1', input_tokens: 300, cached_input_tokens: 100, output_tokens: 30, cost_micro_usd: 70, usage_status: 'partial' }),
  usageRow({ request_id: 'a4', account_id: A, ts: at(today - 2, 0), model: 'm2', provider: 'p2', key_id: 'k2', input_tokens: 400, output_tokens: 40, reasoning_tokens: 5, cost_micro_usd: 90 }),
  usageRow({ request_id: 'a5', account_id: A, ts: at(today - 2, 12), model: 'm1', provider: 'p1', key_id: 'k1', input_tokens: 500, cache_write_tokens: 50, output_tokens: 50, cost_micro_usd: 110 }),
  usageRow({ request_id: 'a6', account_id: A, ts: Math.max(at(today, 0), Math.floor(Date.now() / 1000) - 60), model: 'm1', provider: 'p1', key_id: 'k2', input_tokens: 600, output_tokens: 60, cost_micro_usd: 130 }),
  usageRow({ request_id: 'b1', account_id: B, ts: at(today - 3, 5), model: 'm1', provider: 'p1', key_id: 'kb', input_tokens: 9999, output_tokens: 9999, cost_micro_usd: 9999 }),
];
const REPLAY = { ...SEED[3]!, version: SEED[3]!.version + 1 };

const WINDOW = { from: new Date(at(today - 5, 0) * 1000), to: new Date(Date.now() + 3_600_000) };
const window = () => WINDOW;
const report = (groupBy?: GroupBy, accountId: string = A) => queryUsage(u.ch, u.db, { accountId, ...window(), ...(groupBy ? { groupBy } : {}) });
const keyed = (r: UsageReport) => Object.fromEntries(r.groups.map((g) => [g.key, [g.requests, g.input_tokens, g.output_tokens, g.cost_micro_usd]]));

beforeAll(async () => {
  u = await freshUsageDb('t_query');
  await insert(SEED);
  await insert([REPLAY]);
});
afterAll(async () => {
  await u.drop();
});

describe('queryUsage (raw FINAL)', () => {
  test('totals for one account count the replayed event once and leave other accounts out', async () => {
    const r = await report();
    expect(r.totals).toEqual({
      requests: 6, input_tokens: 2100, cached_input_tokens: 100, cache_write_tokens: 50, output_tokens: 210, reasoning_tokens: 5,
      cost_micro_usd: 450, unpriced_requests: 1, usage_status: { reported: 4, partial: 1, missing: 1 },
    });
    expect(r.groups).toEqual([]);
    expect(r.account_id).toBe(A);
  });

  test('group_by day uses UTC dates', async () => {
    expect(keyed(await report('day'))).toEqual({
      [dayKey(today - 3)]: [3, 600, 60, 120],
      [dayKey(today - 2)]: [2, 900, 90, 200],
      [dayKey(today)]: [1, 600, 60, 130],
    });
  });

  test('group_by model, provider and key', async () => {
    expect(keyed(await report('model'))).toEqual({ m1: [4, 1500, 150, 360], m2: [2, 600, 60, 90] });
    expect(keyed(await report('provider'))).toEqual({ p1: [4, 1400, 140, 290], p2: [2, 700, 70, 160] });
    expect(keyed(await report('key'))).toEqual({ k1: [3, 900, 90, 230], k2: [3, 1200, 120, 220] });
  });

  test('without an account: every account', async () => {
    const r = await queryUsage(u.ch, u.db, { ...window(), groupBy: 'key' });
    expect(r.totals.requests).toBe(7);
    expect(r.groups.find((g) => g.key === 'kb')?.requests).toBe(1);
  });

  test('the account id is a literal, never SQL', async () => {
    expect((await report(undefined, "x' OR '1'='1")).totals.requests).toBe(0);
    expect((await report(undefined, "acct_o'brien\\")).totals.requests).toBe(0);
  });

  test('a range inside a day keeps only [from, to)', async () => {
    const r = await queryUsage(u.ch, u.db, { accountId: A, from: new Date(at(today - 3, 2) * 1000), to: new Date(at(today - 3, 23) * 1000) });
    expect(r.totals.requests).toBe(1);
    expect(r.totals.input_tokens).toBe(200);
  });
});

describe('queryUsage with the sealed hourly rollup', () => {
  let before: Record<string, UsageReport>;

  beforeAll(async () => {
    before = {};
    for (const g of ['none', 'day', 'model', 'provider', 'key'] as const) before[g] = await report(g === 'none' ? undefined : g);
  });

  // Every finished hour with rows: account A's five past events and account B's one.
  const SEALED_HOURS = [at(today - 3, 1), at(today - 3, 2), at(today - 3, 5), at(today - 3, 23), at(today - 2, 0), at(today - 2, 12)].map(hourOf);
  const span = () => [hourOf(at(today - 5, 0)), hourOf(at(today, 0))] as const;

  test('sealing finished hours changes no answer', async () => {
    const sealed = await sealPass(u.ch, u.db, { lookbackHours: 240 });
    expect(sealed).toEqual(SEALED_HOURS);
    expect([...(await validSeals(u.ch, u.db, ...span()))].sort((a, b) => a - b)).toEqual(SEALED_HOURS);
    for (const g of ['none', 'day', 'model', 'provider', 'key'] as const) {
      expect(await report(g === 'none' ? undefined : g)).toEqual(before[g]!);
    }
    expect(await sealPass(u.ch, u.db, { lookbackHours: 240 })).toEqual([]); // nothing left to do
  });

  test('a late replay and a late new event for a sealed hour: counted once, at once, and after resealing', async () => {
    const late = hourOf(at(today - 3, 1));
    // a7_late lands in the sealed hour of a1, next to a replay of a1 itself.
    await insert([{ ...SEED[0]!, version: SEED[0]!.version + 5 }, usageRow({ request_id: 'a7_late', account_id: A, ts: at(today - 3, 1) + 60, input_tokens: 7, output_tokens: 1, cost_micro_usd: 2 })]);
    // The current hour is never marked, by ClickHouse's own clock: whatever the worker's clock says, it is not over.
    const current = Math.floor(Number(await scalar(u.ch, 'SELECT toUInt32(now())')) / HOUR_SECONDS);
    await markHoursDirty(u.ch, u.db, [late, current]);
    expect(await scalar(u.ch, `SELECT count() FROM ${u.db}.${DIRTY_TABLE} WHERE hour = toDateTime(${current * HOUR_SECONDS})`)).toBe(0);
    // The stale seal is no longer used: the hour is read from usage_events FINAL.
    expect((await validSeals(u.ch, u.db, ...span())).has(late)).toBe(false);
    const expected = { ...before.none!.totals, requests: 7, input_tokens: 2107, output_tokens: 211, cost_micro_usd: 452, usage_status: { reported: 5, partial: 1, missing: 1 } };
    expect((await report()).totals).toEqual(expected);
    // Resealed (a seal in the same second as the mark is not trusted, hence the polling).
    await waitFor(async () => {
      await sealPass(u.ch, u.db, { lookbackHours: 240 });
      return (await validSeals(u.ch, u.db, ...span())).has(late);
    }, 10_000, 'hour resealed');
    expect((await report()).totals).toEqual(expected);
    expect(await scalar(u.ch, `SELECT count() FROM ${u.db}.${SEALS_TABLE} WHERE hour = toDateTime(${late * HOUR_SECONDS})`)).toBeGreaterThanOrEqual(2);
  });
});

test('dirty marks for a batch spanning ten thousand hours fit in statements ClickHouse takes (one was over max_query_size)', async () => {
  const d = await freshUsageDb('t_dirty');
  try {
    const end = Math.floor(Date.now() / 1000 / HOUR_SECONDS) - 2;
    const hours = Array.from({ length: 10_000 }, (_, i) => end - i);
    await markHoursDirty(d.ch, d.db, hours);
    expect(await scalar(d.ch, `SELECT uniqExact(hour) FROM ${d.db}.${DIRTY_TABLE}`)).toBe(10_000);
  } finally {
    await d.drop();
  }
});

test('an account with more runs of sealed hours than one query may name: the rest read raw, the same answer', async () => {
  const own = await freshUsageDb('t_query_runs');
  try {
    // One event every other hour: each sealed hour is a run of its own, MAX_ROLLUP_RUNS + 14 of them.
    const n = MAX_ROLLUP_RUNS + 14;
    const first = (today - 30) * 24;
    const rows = Array.from({ length: n }, (_, i) => usageRow({ request_id: `r${i}`, account_id: 'acct_runs', ts: (first + 2 * i) * HOUR_SECONDS + 60, input_tokens: i, output_tokens: 1, cost_micro_usd: 2 }));
    await own.ch.insert({ table: `${own.db}.${USAGE_TABLE}`, values: rows, format: 'JSONEachRow' });
    const ask = () => queryUsage(own.ch, own.db, { accountId: 'acct_runs', from: new Date(first * HOUR_SECONDS * 1000), to: new Date((first + 2 * n) * HOUR_SECONDS * 1000) });
    const raw = await ask();
    expect(raw.totals).toMatchObject({ requests: n, input_tokens: (n * (n - 1)) / 2, output_tokens: n, cost_micro_usd: 2 * n });
    expect(await sealPass(own.ch, own.db, { lookbackHours: 31 * 24, maxHours: n })).toHaveLength(n);
    expect(await ask()).toEqual(raw);
  } finally {
    await own.drop();
  }
}, 60_000);
