// ClickHouse schema for usage: idempotent DDL that runs on 18.16 (Debian) and on current servers alike.
import { sqlRunner, type UsageStore } from './sql.ts';

/** Database names are interpolated into DDL, so only plain identifiers are accepted (no quoting games). */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export class InvalidDatabaseNameError extends Error {
  readonly code = 'invalid_database_name';
  readonly status = 500;
  constructor(name: string) {
    super(`database name must match ${IDENTIFIER.source}, got ${JSON.stringify(name.slice(0, 80))}`);
  }
}

export function assertIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new InvalidDatabaseNameError(name);
  return name;
}

export const USAGE_TABLE = 'usage_events';
export const HOURLY_TABLE = 'usage_hourly';
export const SEALS_TABLE = 'usage_seals';
export const DIRTY_TABLE = 'usage_dirty_hours';

/**
 * One row per proxied request. Replays of the same event carry the same (account_id, ts, request_id), all fixed by
 * the proxy when the request starts, so ReplacingMergeTree collapses them; `version` (ms at row build) makes the
 * latest normalization win, which lets an operator re-normalize old raw usage after a normalizer fix. The usage rows
 * of batch results (workers/batch-rows.ts) are keyed by their first read and versioned by the batched requests a read
 * counted instead, so a whole read replaces a cut one; re-normalizing them means deleting the old rows first.
 * account_id leads the sort key so one account's time range is a contiguous index range, also under FINAL.
 * DateTime('UTC') pins day boundaries and partitions to UTC whatever the server's timezone.
 */
export function migrationStatements(db: string): string[] {
  const d = assertIdentifier(db);
  return [
    `CREATE DATABASE IF NOT EXISTS ${d}`,
    `CREATE TABLE IF NOT EXISTS ${d}.${USAGE_TABLE} (
  request_id String,
  ts DateTime('UTC'),
  account_id String,
  key_id String,
  provider String,
  model String,
  request_model String,
  format String,
  method String,
  path String,
  status UInt16,
  stream UInt8,
  outcome String,
  error String,
  provider_error String,
  input_tokens UInt64,
  cached_input_tokens UInt64,
  cache_write_tokens UInt64,
  output_tokens UInt64,
  reasoning_tokens UInt64,
  usage_status Enum8('reported' = 1, 'partial' = 2, 'missing' = 3),
  latency_ms UInt32,
  ttfb_ms UInt32,
  bytes_in UInt64,
  bytes_out UInt64,
  cost_micro_usd UInt64,
  price_known UInt8,
  raw_usage String,
  inserted_at DateTime('UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, ts, request_id)`,
    // Hourly totals per (account, key, provider, model), computed from usage_events FINAL for a finished UTC hour
    // (see rollup.ts). Each computation ("seal") has its own seal_version; readers use only an hour's latest valid
    // seal, so a recomputed hour replaces the old one without a mutation, and a replayed event is never counted twice.
    `CREATE TABLE IF NOT EXISTS ${d}.${HOURLY_TABLE} (
  hour DateTime('UTC'),
  seal_version UInt64,
  account_id String,
  key_id String,
  provider String,
  model String,
  requests UInt64,
  input_tokens UInt64,
  cached_input_tokens UInt64,
  cache_write_tokens UInt64,
  output_tokens UInt64,
  reasoning_tokens UInt64,
  cost_micro_usd UInt64,
  reported UInt64,
  partial UInt64,
  missing UInt64,
  unpriced UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (account_id, hour, seal_version, provider, model, key_id)`,
    // One row per finished seal, written after its usage_hourly rows: a seal is visible only once complete.
    `CREATE TABLE IF NOT EXISTS ${d}.${SEALS_TABLE} (
  hour DateTime('UTC'),
  seal_version UInt64,
  sealed_at DateTime('UTC')
) ENGINE = MergeTree
ORDER BY (hour, seal_version)`,
    // Hours that received rows after they ended (late replays, re-normalization): a seal older than the mark is stale.
    `CREATE TABLE IF NOT EXISTS ${d}.${DIRTY_TABLE} (
  hour DateTime('UTC'),
  marked_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(marked_at)
ORDER BY hour`,
  ];
}

/**
 * Apply the schema. Safe to run from every worker at start: each statement is IF NOT EXISTS, and the "already
 * exists" that two workers racing through the same CREATE can still get from older servers is not an error.
 */
export async function runMigrations(store: UsageStore, db: string): Promise<void> {
  const sql = sqlRunner(store);
  for (const query of migrationStatements(db)) {
    try {
      await sql.exec(query);
    } catch (e) {
      if (!/already exists/i.test((e as Error).message)) throw e;
    }
  }
}
