// Proxy settings: usage batching defaults and bounds, errors that name the variable but never its value.
import { expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadSettings } from '../../src/config.ts';
import { resolveProducerOptions } from '../../src/usage/producer-options.ts';
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

test('whole numbers only: an exponent, a fraction or a sign is refused, not read as its leading digits', () => {
  for (const env of [{ AROUTER_DRAIN_TIMEOUT_MS: '30e3' }, { PORT: '1e3' }, { AROUTER_IDLE_TIMEOUT_MS: '30000.9' }, { AROUTER_KEY_RPM: '-1' }]) {
    const [name] = Object.keys(env);
    expect(() => loadSettings(env)).toThrow(new RegExp(`${name}: must be a whole number`));
  }
  expect(loadSettings({ AROUTER_DRAIN_TIMEOUT_MS: '30000' }).env.AROUTER_DRAIN_TIMEOUT_MS).toBe(30_000);
});

test('a timeout longer than a timer can wait (2^31 - 1 ms) is refused: it would fire at once', () => {
  for (const name of ['AROUTER_CONNECT_TIMEOUT_MS', 'AROUTER_FIRST_BYTE_TIMEOUT_MS', 'AROUTER_IDLE_TIMEOUT_MS', 'AROUTER_DRAIN_TIMEOUT_MS']) {
    expect(() => loadSettings({ [name]: '3000000000' })).toThrow(new RegExp(name));
    expect(loadSettings({ [name]: '2147483647' }).env).toMatchObject({ [name]: 2_147_483_647 });
  }
  expect(loadSettings({ AROUTER_MAX_BODY_BYTES: '4294967296' }).env.AROUTER_MAX_BODY_BYTES).toBe(4_294_967_296);
});

test('an admin token with whitespace (a secret file read with its newline) is refused by name, not echoed', () => {
  const err = thrown(() => loadSettings({ AROUTER_ADMIN_TOKEN: 'abcdefghijklmnop-secret\n' }));
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as Error).message).toContain('AROUTER_ADMIN_TOKEN');
  expect((err as Error).message).not.toContain('secret');
});

test("a provider key is trimmed as its header will be; one with a character no header can carry is refused by name, not echoed", () => {
  expect(loadSettings({ OPENAI_API_KEY: '  sk-op-0123456789abcdef\r\n' }).providerKeys.get('openai')).toBe('sk-op-0123456789abcdef');
  expect(loadSettings({ OPENAI_API_KEY: ' \n' }).providerKeys.has('openai')).toBe(false);
  for (const bad of ['sk-op-0123\u200b456789', 'sk-op-0123\n456789', 'sk-op 0123456789']) {
    const err = thrown(() => loadSettings({ ANTHROPIC_API_KEY: bad }));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe('invalid settings: ANTHROPIC_API_KEY must be printable ASCII with no spaces inside');
  }
});

test('a Unix socket path is a Redis URL the producer takes too; it is no ClickHouse URL', () => {
  expect(() => loadSettings({ CLICKHOUSE_URL: '/run/clickhouse.sock' })).toThrow(/CLICKHOUSE_URL/);
});

test("the producer logs a socket path's Redis target without the options (a password among them) after it", () => {
  const outboxDir = mkdtempSync(join(tmpdir(), 'settings-outbox-'));
  try {
    const o = resolveProducerOptions({ redisUrl: '/run/redis.sock?password=RedisPw-secret-1', outboxDir }, {});
    expect(o.redisTarget).toBe('/run/redis.sock');
    expect(o.redisUrl).toBe('/run/redis.sock?password=RedisPw-secret-1');
  } finally {
    rmSync(outboxDir, { recursive: true, force: true });
  }
});

test('CORS is off unless origins are listed; a list entry that is not an origin is refused by name', () => {
  expect(loadSettings({}).env.AROUTER_CORS_ORIGINS).toBe('');
  expect(loadSettings({ AROUTER_CORS_ORIGINS: 'https://app.example.com' }).env.AROUTER_CORS_ORIGINS).toBe('https://app.example.com');
  const err = thrown(() => loadSettings({ AROUTER_CORS_ORIGINS: 'https://app.example.com/chat' }));
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as Error).message).toContain('AROUTER_CORS_ORIGINS: "https://app.example.com/chat" is not an origin');
});

test('a crash journal too small to hold a line is refused by name at start, as is a stale time under three heartbeats', () => {
  expect(loadSettings({}).env).toMatchObject({ AROUTER_USAGE_JOURNAL_BYTES: 8 * 1024 * 1024, AROUTER_USAGE_JOURNAL_STALE_MS: 10_000 });
  expect(loadSettings({ AROUTER_USAGE_JOURNAL_BYTES: '0' }).env.AROUTER_USAGE_JOURNAL_BYTES).toBe(0);
  expect(loadSettings({ AROUTER_USAGE_JOURNAL_BYTES: '65536' }).env.AROUTER_USAGE_JOURNAL_BYTES).toBe(65_536);
  expect(() => loadSettings({ AROUTER_USAGE_JOURNAL_BYTES: '1000' })).toThrow(/AROUTER_USAGE_JOURNAL_BYTES: must be 0 \(off\) or at least 65536/);
  expect(() => loadSettings({ AROUTER_USAGE_JOURNAL_STALE_MS: '500' })).toThrow(/AROUTER_USAGE_JOURNAL_STALE_MS/);
});
