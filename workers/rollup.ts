// Duplicate-safe daily rollup: finished UTC days are "sealed" from usage_events FINAL; late rows mark a day stale.
import { DAILY_TABLE, DIRTY_TABLE, SEALS_TABLE, USAGE_TABLE, assertIdentifier } from './migrations.ts';
import { sqlRunner, type UsageStore } from './sql.ts';

/*
 * Why not a materialized view: an MV sums every inserted physical row, so a replayed event (same request_id, same
 * key) would be counted twice until a merge that the MV never sees. Instead a seal recomputes one whole day from
 * usage_events FINAL, which counts each event once, and tags the result with a seal_version. A day's seal is valid
 * while no row for that day was written after the seal began; the worker records such late writes in
 * usage_dirty_days (after the insert, with ClickHouse's clock), and the next pass seals the day again. Readers use
 * the rollup only for whole days with a valid seal and read everything else from usage_events FINAL.
 *
 * Clock assumption: a worker marks a day stale only when the day is over by its own clock, and days are sealed
 * `graceSeconds` after they end by ClickHouse's clock; worker clocks must not lag ClickHouse by more than that.
 */

export const DAY_SECONDS = 86_400;

/** Days since the Unix epoch (UTC) of a time in seconds. */
export function utcDay(unixSeconds: number): number {
  return Math.floor(unixSeconds / DAY_SECONDS);
}

/** 'YYYY-MM-DD' of a day number; safe to put in SQL quotes (digits and dashes only). */
export function dayString(day: number): string {
  return new Date(day * DAY_SECONDS * 1000).toISOString().slice(0, 10);
}

function dayFromString(s: string): number {
  return Math.round(Date.parse(`${s}T00:00:00Z`) / 1000 / DAY_SECONDS);
}

export async function serverNow(store: UsageStore): Promise<number> {
  const [r] = await sqlRunner(store).rows<{ t: number | string }>('SELECT toUInt32(now()) AS t');
  return Number(r?.t);
}

/** Days (distinct) of rows written after their day ended, by the caller's clock. */
export function finishedDays(tsSeconds: Iterable<number>, nowMs: number = Date.now()): number[] {
  const today = utcDay(Math.floor(nowMs / 1000));
  const days = new Set<number>();
  for (const ts of tsSeconds) {
    const d = utcDay(ts);
    if (d < today) days.add(d);
  }
  return [...days];
}

/** Record that these days got rows after they ended. Call after the rows are inserted. */
export async function markDaysDirty(store: UsageStore, db: string, days: readonly number[]): Promise<void> {
  if (days.length === 0) return;
  const list = days.map((d) => `toDate('${dayString(d)}')`).join(', ');
  await sqlRunner(store).exec(
    `INSERT INTO ${assertIdentifier(db)}.${DIRTY_TABLE} (day, marked_at) SELECT arrayJoin([${list}]) AS day, now() AS marked_at`,
  );
}

/**
 * The latest seal of each day in [fromDay, toDay) that no later write has made stale, as day -> seal_version.
 * Two small queries rather than a JOIN, whose semantics differ between 18.16 and current servers.
 */
export async function validSeals(store: UsageStore, db: string, fromDay: number, toDay: number): Promise<Map<number, number>> {
  const d = assertIdentifier(db);
  if (toDay <= fromDay) return new Map();
  const sql = sqlRunner(store);
  const range = `day >= toDate('${dayString(fromDay)}') AND day < toDate('${dayString(toDay)}')`;
  const [seals, dirty] = await Promise.all([
    sql.rows<{ d: string; v: string | number; s: string | number }>(
      `SELECT toString(day) AS d, max(seal_version) AS v, toUInt32(max(sealed_at)) AS s FROM ${d}.${SEALS_TABLE} WHERE ${range} GROUP BY day`,
    ),
    sql.rows<{ d: string; m: string | number }>(
      `SELECT toString(day) AS d, toUInt32(max(marked_at)) AS m FROM ${d}.${DIRTY_TABLE} WHERE ${range} GROUP BY day`,
    ),
  ]);
  const dirtyAt = new Map(dirty.map((r) => [r.d, Number(r.m)]));
  const valid = new Map<number, number>();
  for (const s of seals) {
    // Same second counts as stale: with one-second clocks we cannot tell which came first.
    if (Number(s.s) > (dirtyAt.get(s.d) ?? 0)) valid.set(dayFromString(s.d), Number(s.v));
  }
  return valid;
}

/** Recompute one day from usage_events FINAL and publish it as that day's newest seal. */
export async function sealDay(store: UsageStore, db: string, day: number): Promise<number> {
  const d = assertIdentifier(db);
  const sql = sqlRunner(store);
  // Taken before the read starts, so every row written before this second is in the seal.
  const sealedAt = await serverNow(sql);
  // Unique per seal and ordered by time; stays below 2^53 for centuries.
  const version = sealedAt * 1_000_000 + Math.floor(Math.random() * 1_000_000);
  const start = day * DAY_SECONDS;
  await sql.exec(
    `INSERT INTO ${d}.${DAILY_TABLE} (day, seal_version, account_id, key_id, provider, model, requests, input_tokens,
  cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_micro_usd, reported, partial, missing, unpriced)
SELECT toDate(ts) AS day, toUInt64(${version}) AS seal_version, account_id, key_id, provider, model, count(),
  sum(input_tokens), sum(cached_input_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens),
  sum(cost_micro_usd), countIf(usage_status = 'reported'), countIf(usage_status = 'partial'),
  countIf(usage_status = 'missing'), countIf(price_known = 0)
FROM ${d}.${USAGE_TABLE} FINAL
WHERE ts >= toDateTime(${start}) AND ts < toDateTime(${start + DAY_SECONDS})
GROUP BY day, account_id, key_id, provider, model`,
  );
  await sql.exec(
    `INSERT INTO ${d}.${SEALS_TABLE} (day, seal_version, sealed_at) SELECT toDate('${dayString(day)}'), toUInt64(${version}), toDateTime(${sealedAt})`,
  );
  return version;
}

export interface SealPassOptions {
  /** How many finished days back to look for days that have rows but no seal. */
  lookbackDays: number;
  /** A day is sealed only this long after it ended (ClickHouse clock), so stragglers land first. */
  graceSeconds?: number;
  /** Bound the work of one pass; the rest waits for the next. */
  maxDays?: number;
}

/** Seal every finished day that has rows (within the lookback) or was marked stale, and has no valid seal. */
export async function sealPass(store: UsageStore, db: string, opts: SealPassOptions): Promise<number[]> {
  const d = assertIdentifier(db);
  const sql = sqlRunner(store);
  const now = await serverNow(sql);
  const endDay = utcDay(now - (opts.graceSeconds ?? 2 * 3600));
  const startDay = endDay - opts.lookbackDays;
  const [withRows, dirty] = await Promise.all([
    sql.rows<{ d: string }>(
      `SELECT DISTINCT toString(toDate(ts)) AS d FROM ${d}.${USAGE_TABLE} WHERE ts >= toDateTime(${startDay * DAY_SECONDS}) AND ts < toDateTime(${endDay * DAY_SECONDS})`,
    ),
    sql.rows<{ d: string }>(`SELECT DISTINCT toString(day) AS d FROM ${d}.${DIRTY_TABLE} WHERE day < toDate('${dayString(endDay)}')`),
  ]);
  const candidates = [...new Set([...withRows, ...dirty].map((r) => dayFromString(r.d)))].sort((a, b) => a - b);
  if (candidates.length === 0) return [];
  const valid = await validSeals(sql, db, candidates[0]!, candidates[candidates.length - 1]! + 1);
  const todo = candidates.filter((day) => !valid.has(day)).slice(0, opts.maxDays ?? 31);
  for (const day of todo) await sealDay(sql, db, day);
  return todo;
}
