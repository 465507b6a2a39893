// Usage worker settings: read once from the environment, validated with TypeBox, typed for the rest of workers/.
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { notWholeNumbers } from '../src/env-integers.ts';
import { serviceUrlsProblem } from '../src/service-url.ts';

/*
 * Usage worker environment (README material)
 *
 * | variable                         | default                  | meaning                                                        |
 * |----------------------------------|--------------------------|----------------------------------------------------------------|
 * | REDIS_URL                        | redis://127.0.0.1:6379   | BullMQ queue (and the rollup sealer's lock)                    |
 * | CLICKHOUSE_URL                   | http://127.0.0.1:8123    | usage store                                                    |
 * | CLICKHOUSE_USER                  | default                  |                                                                |
 * | CLICKHOUSE_PASSWORD              | (empty)                  | never logged                                                   |
 * | CLICKHOUSE_DB                    | arouter                  | database; created with its tables at worker start              |
 * | AROUTER_USAGE_QUEUE              | arouter-usage            | BullMQ queue name (the producer uses the same)                 |
 * | AROUTER_WORKER_CONCURRENCY       | 64                       | jobs in flight per process; each waits for its rows' insert,   |
 * |                                  |                          | so this is also how many jobs one ClickHouse insert can batch  |
 * | AROUTER_WORKER_BATCH_ROWS        | 10000                    | insert as soon as this many rows are buffered ...              |
 * | AROUTER_WORKER_FLUSH_MS          | 1000                     | ... or this long after the first buffered row, whichever first |
 * | AROUTER_WORKER_RETRY_MAX_MS      | 30000                    | cap of the exponential backoff while ClickHouse is unreachable |
 * | AROUTER_WORKER_SHUTDOWN_MS       | 25000                    | on SIGTERM, how long the last batch may keep retrying; after   |
 * |                                  |                          | that its jobs go back to the queue (delayed), never dropped    |
 * | AROUTER_WORKER_STALLED_MS        | 30000                    | job lock and stalled-check period: a job held by a worker that |
 * |                                  |                          | died is run again 1-2 periods later (its rows collapse by id)  |
 * | AROUTER_WORKER_KEEP_COMPLETED    | 1000                     | completed jobs kept in Redis (removeOnComplete count)          |
 * | AROUTER_WORKER_KEEP_FAILED       | 10000                    | failed jobs kept in Redis (removeOnFail count); a job's own    |
 * |                                  |                          | removeOn* options, when the producer sets them, win            |
 * | AROUTER_ROLLUP_INTERVAL_MS       | 60000                    | how often a worker tries to seal finished hours into the       |
 * |                                  |                          | hourly rollup (one worker at a time, Redis lock); 0: never     |
 * | AROUTER_ROLLUP_LOOKBACK_HOURS    | 48                       | finished hours scanned for unsealed rows on each pass (hours   |
 * |                                  |                          | marked stale by late rows are resealed at any age)             |
 * | AROUTER_PRICES_FILE              | src/usage/prices.json    | price table (USD per million tokens), read at worker start     |
 */

const Int = (def: number, min: number, max: number) => Type.Integer({ default: def, minimum: min, maximum: max });

export const WorkerSettingsSchema = Type.Object({
  redisUrl: Type.String({ minLength: 1, default: 'redis://127.0.0.1:6379' }),
  clickhouseUrl: Type.String({ minLength: 1, default: 'http://127.0.0.1:8123' }),
  clickhouseUser: Type.String({ default: 'default' }),
  clickhousePassword: Type.String({ default: '' }),
  clickhouseDb: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$', default: 'arouter' }),
  queueName: Type.String({ minLength: 1, pattern: '^[^:]+$', default: 'arouter-usage' }),
  concurrency: Int(64, 1, 1000),
  // Large: each insert makes a part ClickHouse must later merge, and 1,000-row parts cost it 3 to 4 times the CPU
  // per row of 10,000-row ones (bench/README.md).
  batchRows: Int(10_000, 1, 1_000_000),
  flushMs: Int(1000, 1, 600_000),
  retryMaxMs: Int(30_000, 10, 600_000),
  shutdownMs: Int(25_000, 0, 600_000),
  stalledMs: Int(30_000, 100, 600_000),
  keepCompleted: Int(1000, 0, 10_000_000),
  keepFailed: Int(10_000, 0, 10_000_000),
  rollupIntervalMs: Int(60_000, 0, 86_400_000),
  rollupLookbackHours: Int(48, 1, 24 * 3660),
  pricesFile: Type.Optional(Type.String({ minLength: 1 })),
});

export type WorkerSettings = Static<typeof WorkerSettingsSchema>;

export class SettingsError extends Error {
  readonly code = 'invalid_settings';
  readonly status = 500;
}

const ENV: Record<keyof WorkerSettings, string> = {
  redisUrl: 'REDIS_URL',
  clickhouseUrl: 'CLICKHOUSE_URL',
  clickhouseUser: 'CLICKHOUSE_USER',
  clickhousePassword: 'CLICKHOUSE_PASSWORD',
  clickhouseDb: 'CLICKHOUSE_DB',
  queueName: 'AROUTER_USAGE_QUEUE',
  concurrency: 'AROUTER_WORKER_CONCURRENCY',
  batchRows: 'AROUTER_WORKER_BATCH_ROWS',
  flushMs: 'AROUTER_WORKER_FLUSH_MS',
  retryMaxMs: 'AROUTER_WORKER_RETRY_MAX_MS',
  shutdownMs: 'AROUTER_WORKER_SHUTDOWN_MS',
  stalledMs: 'AROUTER_WORKER_STALLED_MS',
  keepCompleted: 'AROUTER_WORKER_KEEP_COMPLETED',
  keepFailed: 'AROUTER_WORKER_KEEP_FAILED',
  rollupIntervalMs: 'AROUTER_ROLLUP_INTERVAL_MS',
  rollupLookbackHours: 'AROUTER_ROLLUP_LOOKBACK_HOURS',
  pricesFile: 'AROUTER_PRICES_FILE',
};

/** Settings from `env` (defaults filled in), or a SettingsError naming the variables at fault, never their values. */
export function readWorkerSettings(env: Record<string, string | undefined> = process.env): WorkerSettings {
  const raw: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  // Convert turns numeric strings into integers (digits only: it would read "30e3" as 30); Default fills what the
  // environment left out.
  const bad = notWholeNumbers(WorkerSettingsSchema, raw).map((k) => ENV[k as keyof WorkerSettings]);
  const value = Value.Default(WorkerSettingsSchema, Value.Convert(WorkerSettingsSchema, raw));
  if (!Value.Check(WorkerSettingsSchema, value) || bad.length > 0) {
    bad.push(...[...Value.Errors(WorkerSettingsSchema, value)].map((e) => ENV[e.path.slice(1) as keyof WorkerSettings] ?? e.path));
    throw new SettingsError(`invalid worker settings: ${[...new Set(bad)].join(', ')}`);
  }
  const urlProblem = serviceUrlsProblem(value.redisUrl, value.clickhouseUrl);
  if (urlProblem) throw new SettingsError(`invalid worker settings: ${urlProblem}`);
  return value;
}

/** A URL safe to print: credentials and query string dropped. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparsable url)';
  }
}
