// Proxy settings: usage batching defaults and bounds, errors that name the variable but never its value.
import { expect, test } from 'bun:test';
import { ConfigError, loadSettings } from '../../src/config.ts';
import { thrown } from '../helpers/thrown.ts';

test('usage batches default to 1,024 snippets or 100 ms, and read the environment', () => {
  expect(loadSettings({}).env).toMatchObject({ AROUTER_USAGE_BATCH_MAX: 1024, AROUTER_USAGE_BATCH_MS: 100 });
  expect(loadSettings({ AROUTER_USAGE_BATCH_MAX: '64', AROUTER_USAGE_BATCH_MS: '20' }).env).toMatchObject({ AROUTER_USAGE_BATCH_MAX: 64, AROUTER_USAGE_BATCH_MS: 20 });
});

test('a batch size of 0, one over the job limit, or an interval that is not a number is refused by name', () => {
  for (const env of [{ AROUTER_USAGE_BATCH_MAX: '0' }, { AROUTER_USAGE_BATCH_MAX: '100001' }, { AROUTER_USAGE_BATCH_MS: 'soon' }]) {
    const err = thrown(() => loadSettings(env));
    expect(err).toBeInstanceOf(ConfigError);
    const [name, value] = Object.entries(env)[0]!;
    expect((err as Error).message).toContain(name);
    expect((err as Error).message).not.toContain(value);
  }
});

test('service URLs, the port and the queue name are checked at start, by name, never echoing a password', () => {
  const cases: Array<[Record<string, string>, string, string]> = [
    [{ REDIS_URL: 'redis://:hunter2pw@[bad' }, 'REDIS_URL', 'hunter2pw'],
    [{ REDIS_URL: 'http://u:hunter2pw@redis:6379' }, 'REDIS_URL', 'hunter2pw'],
    [{ CLICKHOUSE_URL: 'http://u:hunter2pw@ch:8123:99' }, 'CLICKHOUSE_URL', 'hunter2pw'],
    [{ PORT: '70000' }, 'PORT', '70000'],
    [{ AROUTER_USAGE_QUEUE: 'a:b' }, 'AROUTER_USAGE_QUEUE', 'a:b'],
  ];
  for (const [env, name, secret] of cases) {
    const err = thrown(() => loadSettings(env));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(name);
    expect((err as Error).message).not.toContain(secret);
  }
  expect(loadSettings({ REDIS_URL: 'rediss://u:p@redis.example:6380/2', CLICKHOUSE_URL: 'https://ch.example:8443' }).env.REDIS_URL).toBe('rediss://u:p@redis.example:6380/2');
  expect(loadSettings({ REDIS_URL: '/run/redis/redis.sock' }).env.REDIS_URL).toBe('/run/redis/redis.sock');
});
