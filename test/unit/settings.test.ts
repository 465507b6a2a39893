// Worker settings: contract env names and defaults, numeric conversion, errors that name variables but never values.
import { describe, expect, test } from 'bun:test';
import { readWorkerSettings, redactUrl, SettingsError } from '../../workers/settings.ts';
import { thrown } from '../helpers/thrown.ts';

describe('readWorkerSettings', () => {
  test('defaults from the contract', () => {
    expect(readWorkerSettings({})).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379', clickhouseUrl: 'http://127.0.0.1:8123', clickhouseUser: 'default', clickhousePassword: '',
      clickhouseDb: 'arouter', queueName: 'arouter-usage', batchRows: 10000, flushMs: 1000, concurrency: 64,
    });
  });

  test('reads the environment, converting numbers', () => {
    const s = readWorkerSettings({
      REDIS_URL: 'redis://r:1', CLICKHOUSE_URL: 'http://c:2', CLICKHOUSE_DB: 'usage_2', AROUTER_USAGE_QUEUE: 'q1',
      AROUTER_WORKER_BATCH_ROWS: '250', AROUTER_WORKER_FLUSH_MS: '75', AROUTER_WORKER_CONCURRENCY: '4', AROUTER_PRICES_FILE: '/etc/p.json',
    });
    expect(s).toMatchObject({ redisUrl: 'redis://r:1', clickhouseUrl: 'http://c:2', clickhouseDb: 'usage_2', queueName: 'q1', batchRows: 250, flushMs: 75, concurrency: 4, pricesFile: '/etc/p.json' });
  });

  test('rejects bad values naming the variable, not the value', () => {
    const err = thrown(() => readWorkerSettings({ AROUTER_WORKER_BATCH_ROWS: 'lots', CLICKHOUSE_DB: 'x-y; DROP', CLICKHOUSE_PASSWORD: 'hunter2' }));
    expect(err).toBeInstanceOf(SettingsError);
    const msg = (err as Error).message;
    expect(msg).toContain('AROUTER_WORKER_BATCH_ROWS');
    expect(msg).toContain('CLICKHOUSE_DB');
    expect(msg).not.toContain('lots');
    expect(msg).not.toContain('hunter2');
    expect(() => readWorkerSettings({ AROUTER_USAGE_QUEUE: 'a:b' })).toThrow(/AROUTER_USAGE_QUEUE/);
    // Not read as their leading digits (30 ms, 1 row).
    const notWhole = thrown(() => readWorkerSettings({ AROUTER_WORKER_SHUTDOWN_MS: '30e3', AROUTER_WORKER_BATCH_ROWS: '1.5' }));
    expect(notWhole).toBeInstanceOf(SettingsError);
    for (const name of ['AROUTER_WORKER_SHUTDOWN_MS', 'AROUTER_WORKER_BATCH_ROWS']) expect((notWhole as Error).message).toContain(name);
  });

  test('a malformed service URL stops the worker at start by name, its password never echoed', () => {
    for (const [env, name] of [[{ REDIS_URL: 'redis://:hunter2@[bad' }, 'REDIS_URL'], [{ CLICKHOUSE_URL: 'ftp://u:hunter2@ch' }, 'CLICKHOUSE_URL']] as const) {
      const err = thrown(() => readWorkerSettings(env));
      expect(err).toBeInstanceOf(SettingsError);
      expect((err as Error).message).toContain(name);
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});

test('redactUrl drops credentials and query strings', () => {
  expect(redactUrl('http://user:pw@ch.internal:8123/?password=x')).toBe('http://ch.internal:8123');
  expect(redactUrl('not a url')).toBe('(unparsable url)');
});
