// Migrations on the real ClickHouse 18.16: idempotent, the contract's columns, and replays collapsing under FINAL.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { DIRTY_TABLE, HOURLY_TABLE, InvalidDatabaseNameError, migrationStatements, runMigrations, SEALS_TABLE, USAGE_TABLE } from '../../workers/migrations.ts';
import { freshUsageDb, scalar, selectRows, usageRow, type UsageDb } from '../helpers/usage-db.ts';

let u: UsageDb;
beforeAll(async () => {
  u = await freshUsageDb('t_migrations');
});
afterAll(async () => {
  await u.drop();
});

const CONTRACT_COLUMNS = [
  'request_id', 'ts', 'account_id', 'key_id', 'provider', 'model', 'method', 'path', 'status', 'stream', 'input_tokens',
  'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'usage_status', 'latency_ms', 'raw_usage',
  'cost_micro_usd', 'price_known', 'outcome', 'error', 'inserted_at', 'version',
];

describe('migrations', () => {
  test('running them again (twice more) changes nothing and fails nothing', async () => {
    await runMigrations(u.ch, u.db);
    await runMigrations(u.ch, u.db);
    const tables = await selectRows<{ name: string }>(u.ch, `SELECT name FROM system.tables WHERE database = '${u.db}' ORDER BY name`);
    expect(tables.map((t) => t.name)).toEqual([DIRTY_TABLE, USAGE_TABLE, HOURLY_TABLE, SEALS_TABLE].sort());
  });

  test('several workers migrating a new database at the same moment all succeed', async () => {
    const db = `${u.db}_race`;
    try {
      await Promise.all([1, 2, 3, 4].map(() => runMigrations(u.ch, db)));
      expect(await scalar(u.ch, `SELECT count() FROM system.tables WHERE database = '${db}'`)).toBe(4);
    } finally {
      await u.ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    }
  });

  test('usage_events has the contract columns, with the types billing relies on', async () => {
    const cols = await selectRows<{ name: string; type: string }>(u.ch, `SELECT name, type FROM system.columns WHERE database = '${u.db}' AND table = '${USAGE_TABLE}'`);
    const types = new Map(cols.map((c) => [c.name, c.type]));
    for (const c of CONTRACT_COLUMNS) expect(types.has(c)).toBe(true);
    expect(types.get('ts')).toBe("DateTime('UTC')");
    expect(types.get('cost_micro_usd')).toBe('UInt64');
    expect(types.get('price_known')).toBe('UInt8');
    expect(types.get('usage_status')).toContain('Enum8');
  });

  test('ReplacingMergeTree by version, partitioned by month, sorted for per-account time ranges', async () => {
    const [row] = await selectRows<{ statement: string }>(u.ch, `SHOW CREATE TABLE ${u.db}.${USAGE_TABLE}`);
    const ddl = row!.statement.replace(/\s+/g, ' ');
    expect(ddl).toContain('ENGINE = ReplacingMergeTree(version)');
    expect(ddl).toContain('PARTITION BY toYYYYMM(ts)');
    expect(ddl).toContain('ORDER BY (account_id, ts, request_id)');
  });

  test('a replayed event (same request_id, account and ts) is one row under FINAL, the newest version winning', async () => {
    const ts = 1_750_000_000;
    await u.ch.insert({ table: `${u.db}.${USAGE_TABLE}`, values: [usageRow({ request_id: 'replay', ts, output_tokens: 1, version: 1 })], format: 'JSONEachRow' });
    await u.ch.insert({ table: `${u.db}.${USAGE_TABLE}`, values: [usageRow({ request_id: 'replay', ts, output_tokens: 2, version: 2 })], format: 'JSONEachRow' });
    expect(await scalar(u.ch, `SELECT count() FROM ${u.db}.${USAGE_TABLE} FINAL WHERE request_id = 'replay'`)).toBe(1);
    expect(await scalar(u.ch, `SELECT output_tokens FROM ${u.db}.${USAGE_TABLE} FINAL WHERE request_id = 'replay'`)).toBe(2);
  });

  test('database names are checked before they reach DDL', () => {
    expect(() => migrationStatements('x; DROP DATABASE default')).toThrow(InvalidDatabaseNameError);
    expect(() => migrationStatements('1abc')).toThrow(InvalidDatabaseNameError);
    expect(migrationStatements('ok_name_1')[0]).toBe('CREATE DATABASE IF NOT EXISTS ok_name_1');
  });
});
