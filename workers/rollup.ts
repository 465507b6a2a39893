// Duplicate-safe hourly rollup: finished UTC hours are "sealed" from usage_events FINAL; late rows mark an hour stale.
import { assertIdentifier, DIRTY_TABLE, HOURLY_TABLE, SEALS_TABLE, USAGE_TABLE } from './migrations.ts';
import { sqlRunner, type UsageStore } from './sql.ts';

/*
 * Why not a materialized view: an MV sums every inserted physical row, so a replayed event (same request_id, same
 * key) would be counted twice until a merge that the MV never sees. Instead a seal recomputes one whole hour from
 * usage_events FINAL, which counts each event once, and tags the result with a seal_version. An hour's seal is
 * valid while no row for that hour was written after the seal began; the worker records such late writes in
 * usage_dirty_hours (after the insert, with ClickHouse's clock), and the next pass seals the hour again. Readers
 * use the rollup only for whole hours with a valid seal and read the rest (the open edges of the range, hours not
 * sealed yet) from usage_events FINAL. Hours rather than days keep those raw edges small.
 *
 * Clock assumption: a worker marks an hour stale only when the hour is over by its own clock, and hours are sealed
 * `graceSeconds` after they end by ClickHouse's clock; worker clocks must not lag ClickHouse by more than that.
 */

export const HOUR_SECONDS = 3_600;
export const DAY_SECONDS = 86_400;
/** Default wait after an hour ends before it is sealed (stragglers land first; see the clock assumption). */
export const SEAL_GRACE_SECONDS = 15 * 60;

/** Hours since the Unix epoch of a time in seconds. */
export function utcHour(unixSeconds: number): number {
  return Math.floor(unixSeconds / HOUR_SECONDS);
}

/** Distinct hours of these rows (which of them are already over is the server's to say: see markHoursDirty). */
export function rowHours(tsSeconds: Iterable<number>): number[] {
  const hours = new Set<number>();
  for (const ts of tsSeconds) hours.add(utcHour(ts));
  return [...hours];
}

export async function serverNow(store: UsageStore): Promise<number> {
  const [r] = await sqlRunner(store).rows<{ t: number | string }>('SELECT toUInt32(now()) AS t');
  return Number(r?.t);
}

/**
 * Record that those of these hours which are already over got rows. Call after the rows are inserted. ClickHouse's
 * clock decides what is over, as it does for seals: a worker whose clock lags would otherwise take a sealed hour for
 * the current one and leave its seal valid.
 */
export async function markHoursDirty(store: UsageStore, db: string, hours: readonly number[]): Promise<void> {
  // In chunks: a batch whose rows span many hours would otherwise make one statement over max_query_size (256 KiB),
  // refused on every retry. A retry marks hours again, which only repeats a mark.
  for (let i = 0; i < hours.length; i += DIRTY_HOURS_PER_INSERT) {
    const list = hours.slice(i, i + DIRTY_HOURS_PER_INSERT).map((h) => `toDateTime(${h * HOUR_SECONDS}, 'UTC')`).join(', ');
    await sqlRunner(store).exec(
      `INSERT INTO ${assertIdentifier(db)}.${DIRTY_TABLE} (hour, marked_at) SELECT hour, now() AS marked_at FROM (SELECT arrayJoin([${list}]) AS hour) WHERE hour < toStartOfHour(now())`,
    );
  }
}

/** About 30 bytes of SQL each: a statement stays far below ClickHouse's default max_query_size. */
const DIRTY_HOURS_PER_INSERT = 1_000;

/**
 * The hours in [fromHour, toHour) whose latest seal no later write has made stale.
 * Two small queries rather than a JOIN, whose semantics differ between 18.16 and current servers.
 */
export async function validSeals(store: UsageStore, db: string, fromHour: number, toHour: number): Promise<Set<number>> {
  const d = assertIdentifier(db);
  if (toHour <= fromHour) return new Set();
  const sql = sqlRunner(store);
  const range = `hour >= toDateTime(${fromHour * HOUR_SECONDS}) AND hour < toDateTime(${toHour * HOUR_SECONDS})`;
  const [seals, dirty] = await Promise.all([
    sql.rows<{ h: string | number; s: string | number }>(
      `SELECT toUInt32(hour) AS h, toUInt32(max(sealed_at)) AS s FROM ${d}.${SEALS_TABLE} WHERE ${range} GROUP BY hour`,
    ),
    sql.rows<{ h: string | number; m: string | number }>(
      `SELECT toUInt32(hour) AS h, toUInt32(max(marked_at)) AS m FROM ${d}.${DIRTY_TABLE} WHERE ${range} GROUP BY hour`,
    ),
  ]);
  const dirtyAt = new Map(dirty.map((r) => [Number(r.h), Number(r.m)]));
  const valid = new Set<number>();
  for (const s of seals) {
    const hourStart = Number(s.h);
    // Same second counts as stale: with one-second clocks we cannot tell which came first.
    if (Number(s.s) > (dirtyAt.get(hourStart) ?? 0)) valid.add(hourStart / HOUR_SECONDS);
  }
  return valid;
}

/** Recompute one hour from usage_events FINAL and publish it as that hour's newest seal. */
export async function sealHour(store: UsageStore, db: string, hour: number): Promise<number> {
  const d = assertIdentifier(db);
  const sql = sqlRunner(store);
  // Taken before the read starts, so every row written before this second is in the seal.
  const sealedAt = await serverNow(sql);
  // Unique per seal and ordered by time; stays below 2^53 for centuries.
  const version = sealedAt * 1_000_000 + Math.floor(Math.random() * 1_000_000);
  const start = hour * HOUR_SECONDS;
  await sql.exec(
    `INSERT INTO ${d}.${HOURLY_TABLE} (hour, seal_version, account_id, key_id, provider, model, requests, input_tokens,
  cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_micro_usd, reported, partial, missing, unpriced)
SELECT toStartOfHour(ts) AS hour, toUInt64(${version}) AS seal_version, account_id, key_id, provider, model, count(),
  sum(input_tokens), sum(cached_input_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens),
  sum(cost_micro_usd), countIf(usage_status = 'reported'), countIf(usage_status = 'partial'),
  countIf(usage_status = 'missing'), countIf(price_known = 0)
FROM ${d}.${USAGE_TABLE} FINAL
WHERE ts >= toDateTime(${start}) AND ts < toDateTime(${start + HOUR_SECONDS})
GROUP BY hour, account_id, key_id, provider, model`,
  );
  await sql.exec(
    `INSERT INTO ${d}.${SEALS_TABLE} (hour, seal_version, sealed_at) SELECT toDateTime(${start}, 'UTC'), toUInt64(${version}), toDateTime(${sealedAt}, 'UTC')`,
  );
  return version;
}

export interface SealPassOptions {
  /** How many finished hours back to look for hours that have rows but no seal (stale hours are found at any age). */
  lookbackHours: number;
  /** An hour is sealed only this long after it ended (ClickHouse clock), so stragglers land first. */
  graceSeconds?: number;
  /** Bound the work of one pass; the rest waits for the next. */
  maxHours?: number;
}

/** Seal every finished hour that has rows (within the lookback) or was marked stale, and has no valid seal. */
export async function sealPass(store: UsageStore, db: string, opts: SealPassOptions): Promise<number[]> {
  const d = assertIdentifier(db);
  const sql = sqlRunner(store);
  const now = await serverNow(sql);
  const endHour = utcHour(now - (opts.graceSeconds ?? SEAL_GRACE_SECONDS)); // the first hour not yet sealable
  const startHour = endHour - opts.lookbackHours;
  const [withRows, dirty] = await Promise.all([
    sql.rows<{ h: string | number }>(
      `SELECT DISTINCT toUInt32(toStartOfHour(ts)) AS h FROM ${d}.${USAGE_TABLE} WHERE ts >= toDateTime(${startHour * HOUR_SECONDS}) AND ts < toDateTime(${endHour * HOUR_SECONDS})`,
    ),
    sql.rows<{ h: string | number }>(`SELECT DISTINCT toUInt32(hour) AS h FROM ${d}.${DIRTY_TABLE} WHERE hour < toDateTime(${endHour * HOUR_SECONDS})`),
  ]);
  const candidates = [...new Set([...withRows, ...dirty].map((r) => Number(r.h) / HOUR_SECONDS))].sort((a, b) => a - b);
  if (candidates.length === 0) return [];
  const valid = await validSeals(sql, db, candidates[0]!, candidates[candidates.length - 1]! + 1);
  const todo = candidates.filter((h) => !valid.has(h)).slice(0, opts.maxHours ?? 200);
  for (const h of todo) await sealHour(sql, db, h);
  return todo;
}
