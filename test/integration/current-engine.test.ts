// The same migrations, writes, rollup and usage queries on a current ClickHouse engine (chdb, embedded 26.x).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Session } from 'chdb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryUsage } from '../../src/api/usage-query.ts';
import { runMigrations, USAGE_TABLE } from '../../workers/migrations.ts';
import { DAY_SECONDS, HOUR_SECONDS, markHoursDirty, sealPass, validSeals } from '../../workers/rollup.ts';
import type { UsageRow } from '../../workers/row.ts';
import type { SqlRunner } from '../../workers/sql.ts';
import { usageRow } from '../helpers/usage-db.ts';

// chdb is used only here: it is the "current ClickHouse" the contract also promises to run on.
let dir: string;
let session: Session;
let sql: SqlRunner;
const db = 'arouter_current';
const today = Math.floor(Date.now() / 1000 / DAY_SECONDS);
const hourOf = (ts: number) => ts / HOUR_SECONDS;
const at = (day: number, hour: number) => day * DAY_SECONDS + hour * 3600;

function insert(rows: UsageRow[]): Promise<void> {
  return sql.exec(`INSERT INTO ${db}.${USAGE_TABLE} FORMAT JSONEachRow\n${rows.map((r) => JSON.stringify(r)).join('\n')}`);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'arouter-chdb-'));
  session = new Session(dir);
  sql = {
    async rows<T>(query: string): Promise<T[]> {
      const out = (await session.queryAsync(query, { format: 'JSONEachRow' })).text();
      return out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
    },
    async exec(query: string): Promise<void> {
      await session.queryAsync(query);
    },
  };
});

afterAll(() => {
  session.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('current ClickHouse engine (chdb)', () => {
  test('is a current major version', async () => {
    const [v] = await sql.rows<{ v: string }>('SELECT version() AS v');
    expect(Number(v!.v.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  test('migrations run, twice', async () => {
    await runMigrations(sql, db);
    await runMigrations(sql, db);
    const tables = await sql.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${db}' ORDER BY name`);
    expect(tables.map((t) => t.name)).toEqual(['usage_dirty_hours', 'usage_events', 'usage_hourly', 'usage_seals']);
  });

  test('rows as the worker writes them; replays counted once; every group_by; rollup agrees with raw FINAL', async () => {
    const seed = [
      usageRow({ request_id: 'c1', account_id: 'acct', ts: at(today - 3, 1), model: 'm1', provider: 'p1', key_id: 'k1', input_tokens: 100, output_tokens: 10, cost_micro_usd: 5 }),
      usageRow({ request_id: 'c2', account_id: 'acct', ts: at(today - 3, 9), model: 'm2', provider: 'p2', key_id: 'k2', input_tokens: 200, output_tokens: 20, usage_status: 'partial', price_known: 0, cost_micro_usd: 0 }),
      usageRow({ request_id: 'c3', account_id: 'acct', ts: at(today - 2, 9), model: 'm1', provider: 'p1', key_id: 'k2', input_tokens: 300, output_tokens: 30, cost_micro_usd: 7 }),
      usageRow({ request_id: 'c4', account_id: "o'ther", ts: at(today - 2, 9), input_tokens: 999 }),
    ];
    await insert(seed);
    await insert([{ ...seed[0]!, version: seed[0]!.version + 1 }]); // a replay
    const window = { accountId: 'acct', from: new Date(at(today - 5, 0) * 1000), to: new Date(at(today, 0) * 1000) };

    const raw = await queryUsage(sql, db, window);
    expect(raw.totals).toMatchObject({ requests: 3, input_tokens: 600, output_tokens: 60, cost_micro_usd: 12, unpriced_requests: 1, usage_status: { reported: 2, partial: 1, missing: 0 } });
    const byDay = await queryUsage(sql, db, { ...window, groupBy: 'day' });
    expect(byDay.groups.map((g) => [g.key, g.requests])).toEqual([
      [new Date(at(today - 3, 0) * 1000).toISOString().slice(0, 10), 2],
      [new Date(at(today - 2, 0) * 1000).toISOString().slice(0, 10), 1],
    ]);
    for (const groupBy of ['model', 'provider', 'key'] as const) {
      expect((await queryUsage(sql, db, { ...window, groupBy })).groups.length).toBe(2);
    }

    const hours = [at(today - 3, 1), at(today - 3, 9), at(today - 2, 9)].map(hourOf);
    expect(await sealPass(sql, db, { lookbackHours: 240 })).toEqual(hours);
    const span = [hourOf(at(today - 5, 0)), hourOf(at(today, 0))] as const;
    expect([...(await validSeals(sql, db, ...span))].sort((a, b) => a - b)).toEqual(hours);
    expect(await queryUsage(sql, db, window)).toEqual(raw);
    expect(await queryUsage(sql, db, { ...window, groupBy: 'day' })).toEqual(byDay);

    await markHoursDirty(sql, db, [hours[0]!]);
    expect((await validSeals(sql, db, ...span)).has(hours[0]!)).toBe(false);
    expect(await queryUsage(sql, db, window)).toEqual(raw);
  });
});
