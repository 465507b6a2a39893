// Usage totals for an account and time range, grouped by day, model, provider or key, each event counted once.
import { assertIdentifier, HOURLY_TABLE, SEALS_TABLE, USAGE_TABLE } from '../../workers/migrations.ts';
import { DAY_SECONDS, HOUR_SECONDS, validSeals } from '../../workers/rollup.ts';
import { sqlRunner, type UsageStore } from '../../workers/sql.ts';

export const GROUP_BYS = ['day', 'model', 'provider', 'key'] as const;
export type GroupBy = (typeof GROUP_BYS)[number];

export interface UsageQueryParams {
  /** Omit for every account (admin views). */
  accountId?: string;
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  groupBy?: GroupBy;
}

export interface UsageTotals {
  requests: number;
  input_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_micro_usd: number;
  /** Requests whose model had no price (their cost counts as 0). */
  unpriced_requests: number;
  usage_status: { reported: number; partial: number; missing: number };
}

export interface UsageGroup extends UsageTotals {
  /** 'YYYY-MM-DD' (UTC) for day, else the model, provider or key id. */
  key: string;
}

export interface UsageReport {
  account_id: string | null;
  from: string;
  to: string;
  group_by: GroupBy | null;
  totals: UsageTotals;
  groups: UsageGroup[];
}

export type UsageQueryErrorCode = 'invalid_group_by' | 'invalid_date' | 'invalid_range' | 'invalid_account';

export class UsageQueryError extends Error {
  readonly status = 400;
  constructor(
    readonly code: UsageQueryErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Longest range one query may cover; bounds the work a single API call can ask of ClickHouse. */
export const MAX_RANGE_DAYS = 400;
const MAX_ACCOUNT_ID = 256;

/**
 * ClickHouse 18.16 has no server-side parameters, so the one string value (the account id) is inlined as a quoted
 * literal with every character that is special inside quotes escaped. Dates and numbers are inlined as integers.
 */
export function quoteString(s: string): string {
  return `'${s.replace(/[\\'\0\n\r\t\b\f]/g, (c) => ESCAPES[c] ?? c)}'`;
}
const ESCAPES: Record<string, string> = { '\\': '\\\\', "'": "\\'", '\0': '\\0', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

function isGroupBy(v: unknown): v is GroupBy {
  return typeof v === 'string' && (GROUP_BYS as readonly string[]).includes(v);
}

export interface CheckedParams {
  accountId: string | undefined;
  fromS: number;
  toS: number;
  groupBy: GroupBy | undefined;
}

/** Runtime checks: params reach here from HTTP, so the types above are a hope, not a guarantee. */
export function checkParams(p: UsageQueryParams): CheckedParams {
  const groupBy: unknown = p.groupBy;
  if (groupBy !== undefined && !isGroupBy(groupBy)) {
    throw new UsageQueryError('invalid_group_by', `group_by must be one of ${GROUP_BYS.join(', ')}`);
  }
  for (const [name, d] of [['from', p.from], ['to', p.to]] as const) {
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new UsageQueryError('invalid_date', `${name} is not a valid date`);
  }
  // Whole seconds: the column is DateTime, so a row stands for its whole second. Both ends are rounded down, so ranges
  // that meet at a fraction of a second ([a, x.5) and [x.5, b)) still split the rows between them, none twice.
  const fromS = Math.floor(p.from.getTime() / 1000);
  const toS = Math.floor(p.to.getTime() / 1000);
  if (fromS < 0 || toS > 4_294_967_295) throw new UsageQueryError('invalid_date', 'dates must fall between 1970 and 2106');
  if (toS <= fromS) throw new UsageQueryError('invalid_range', 'from must be earlier than to');
  if (toS - fromS > MAX_RANGE_DAYS * DAY_SECONDS) throw new UsageQueryError('invalid_range', `a range may span at most ${MAX_RANGE_DAYS} days`);
  const accountId: unknown = p.accountId;
  if (accountId !== undefined && (typeof accountId !== 'string' || accountId === '' || accountId.length > MAX_ACCOUNT_ID)) {
    throw new UsageQueryError('invalid_account', 'account id must be a non-empty string of at most 256 characters');
  }
  return { accountId, fromS, toS, groupBy };
}

/**
 * The ISO 8601 (RFC 3339) forms accepted: a year, a month, a date, or a date-time to the minute, second or fraction,
 * with `Z`, an offset, or no zone (then UTC, as the days of group_by=day are, never the server's own zone).
 */
const ISO_DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?)?)?)?$/;
/** Epoch seconds from nine digits up (1973 on): a shorter number is more likely a year or a typo than 1970. */
const EPOCH_SECONDS = /^\d{9,10}$/;

/** Milliseconds since the epoch of an accepted ISO form, or NaN: a field out of range (Feb 30, 24:00) is no date. */
function isoMillis(v: string): number {
  const m = ISO_DATE.exec(v);
  if (!m) return Number.NaN;
  // A year or a month alone (ISO 8601's reduced precision) starts on its first day.
  const [y, mo = 1, d = 1, h = 0, mi = 0, sec = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) => (x === undefined ? undefined : Number(x))) as number[];
  const ms = Date.UTC(y!, mo! - 1, d!, h, mi, sec);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo! - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== sec) {
    return Number.NaN;
  }
  const fraction = m[7] ? Math.floor(Number(m[7]) * 1000) : 0;
  const zone = m[8] ?? 'Z';
  if (zone === 'Z' || zone === 'z') return ms + fraction;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
  if (Number(digits.slice(0, 2)) > 23 || Number(digits.slice(2)) > 59) return Number.NaN;
  return ms + fraction - sign * offsetMin * 60_000;
}

/** Query-string form (`from`, `to` as ISO 8601 or epoch seconds; `group_by`), with to = now and from = to - 30 days by default. */
export function parseUsageQuery(q: { from?: string | null; to?: string | null; group_by?: string | null }, nowMs = Date.now()): Omit<UsageQueryParams, 'accountId'> {
  const parse = (name: string, v: string): Date => {
    // Only these two forms: Date's own parser takes many more, some in the server's local zone, some wrongly.
    const d = new Date(EPOCH_SECONDS.test(v) ? Number(v) * 1000 : isoMillis(v));
    if (Number.isNaN(d.getTime())) {
      throw new UsageQueryError('invalid_date', `${name} must be an ISO 8601 date (2026-11-01, 2026-11-01T09:30:00Z, an offset, or no zone for UTC) or epoch seconds (9 or 10 digits)`);
    }
    return d;
  };
  // By default up to now, the current second included: a row stands for its whole second.
  const to = q.to ? parse('to', q.to) : new Date((Math.floor(nowMs / 1000) + 1) * 1000);
  const from = q.from ? parse('from', q.from) : new Date(to.getTime() - 30 * DAY_SECONDS * 1000);
  const groupBy = q.group_by || undefined;
  if (groupBy !== undefined && !isGroupBy(groupBy)) throw new UsageQueryError('invalid_group_by', `group_by must be one of ${GROUP_BYS.join(', ')}`);
  return { from, to, groupBy };
}

const RAW_KEY: Record<GroupBy, string> = { day: 'toString(toDate(ts))', model: 'model', provider: 'provider', key: 'key_id' };
const HOURLY_KEY: Record<GroupBy, string> = { day: 'toString(toDate(hour))', model: 'model', provider: 'provider', key: 'key_id' };
const TOKEN_COLUMNS = ['input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'cost_micro_usd'] as const;

type Ranges = Array<[number, number]>;

function addRange(ranges: Ranges, from: number, to: number): void {
  const last = ranges[ranges.length - 1];
  if (last && last[1] === from) last[1] = to;
  else ranges.push([from, to]);
}

/**
 * At most this many runs of sealed hours are read from the rollup. Only hours with traffic are sealed, so an account
 * with idle hours has many short runs, each a clause (twice): past about 1,000 of them the query is over ClickHouse's
 * 256 KiB `max_query_size` and fails on every try. The shortest runs past the cap are read raw: slower, same answer.
 */
export const MAX_ROLLUP_RUNS = 256;

/** Split [fromS, toS) into whole hours with a valid seal (read from the rollup) and the rest (read raw), as second ranges. */
function plan(fromS: number, toS: number, sealed: ReadonlySet<number>): { rollup: Ranges; raw: Ranges } {
  let rollup: Ranges = [];
  for (let hour = Math.ceil(fromS / HOUR_SECONDS); (hour + 1) * HOUR_SECONDS <= toS; hour++) {
    if (sealed.has(hour)) addRange(rollup, hour * HOUR_SECONDS, (hour + 1) * HOUR_SECONDS);
  }
  if (rollup.length > MAX_ROLLUP_RUNS) {
    rollup = rollup.sort((x, y) => y[1] - y[0] - (x[1] - x[0])).slice(0, MAX_ROLLUP_RUNS).sort((x, y) => x[0] - y[0]);
  }
  const raw: Ranges = [];
  let cursor = fromS;
  for (const [from, to] of rollup) {
    if (cursor < from) addRange(raw, cursor, from);
    cursor = to;
  }
  if (cursor < toS) addRange(raw, cursor, toS);
  return { rollup, raw };
}

const within = (column: string, ranges: Ranges) =>
  ranges.map(([a, b]) => `(${column} >= toDateTime(${a}) AND ${column} < toDateTime(${b}))`).join(' OR ');

/** `sealed`: hours (since the epoch) whose rollup seal is valid (see validSeals). */
export function buildUsageSql(db: string, p: CheckedParams, sealed: ReadonlySet<number>): string {
  const d = assertIdentifier(db);
  const account = p.accountId === undefined ? '' : `account_id = ${quoteString(p.accountId)} AND `;
  const { rollup, raw } = plan(p.fromS, p.toS, sealed);
  const parts: string[] = [];
  if (rollup.length > 0) {
    const key = p.groupBy ? HOURLY_KEY[p.groupBy] : "''";
    // Each hour's newest seal; the hours themselves were checked for staleness when the ranges were planned.
    parts.push(`SELECT ${key} AS g, requests, ${TOKEN_COLUMNS.join(', ')}, reported, partial, missing, unpriced
FROM ${d}.${HOURLY_TABLE}
WHERE ${account}(${within('hour', rollup)})
  AND (hour, seal_version) IN (SELECT hour, max(seal_version) FROM ${d}.${SEALS_TABLE} WHERE ${within('hour', rollup)} GROUP BY hour)`);
  }
  if (raw.length > 0) {
    const key = p.groupBy ? RAW_KEY[p.groupBy] : "''";
    parts.push(`SELECT ${key} AS g, count() AS requests, ${TOKEN_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(', ')},
  countIf(usage_status = 'reported') AS reported, countIf(usage_status = 'partial') AS partial,
  countIf(usage_status = 'missing') AS missing, countIf(price_known = 0) AS unpriced
FROM ${d}.${USAGE_TABLE} FINAL
WHERE ${account}(${within('ts', raw)})
GROUP BY g`);
  }
  return `SELECT g, sum(requests) AS requests, ${TOKEN_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(', ')},
  sum(reported) AS reported, sum(partial) AS partial, sum(missing) AS missing, sum(unpriced) AS unpriced
FROM (${parts.join('\nUNION ALL\n')})
GROUP BY g
ORDER BY g`;
}

type Numeric = string | number;
export interface UsageSqlRow {
  g: string;
  requests: Numeric;
  input_tokens: Numeric;
  cached_input_tokens: Numeric;
  cache_write_tokens: Numeric;
  output_tokens: Numeric;
  reasoning_tokens: Numeric;
  cost_micro_usd: Numeric;
  reported: Numeric;
  partial: Numeric;
  missing: Numeric;
  unpriced: Numeric;
}

function emptyTotals(): UsageTotals {
  return {
    requests: 0, input_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0,
    cost_micro_usd: 0, unpriced_requests: 0, usage_status: { reported: 0, partial: 0, missing: 0 },
  };
}

function add(into: UsageTotals, g: UsageTotals): void {
  into.requests += g.requests;
  for (const c of TOKEN_COLUMNS) into[c] += g[c];
  into.unpriced_requests += g.unpriced_requests;
  into.usage_status.reported += g.usage_status.reported;
  into.usage_status.partial += g.usage_status.partial;
  into.usage_status.missing += g.usage_status.missing;
}

/** UInt64 arrives as a JSON string; usage totals stay far below 2^53. */
export function toReport(p: CheckedParams, rows: UsageSqlRow[]): UsageReport {
  const groups: UsageGroup[] = rows.map((r) => ({
    key: r.g,
    requests: Number(r.requests),
    input_tokens: Number(r.input_tokens),
    cached_input_tokens: Number(r.cached_input_tokens),
    cache_write_tokens: Number(r.cache_write_tokens),
    output_tokens: Number(r.output_tokens),
    reasoning_tokens: Number(r.reasoning_tokens),
    cost_micro_usd: Number(r.cost_micro_usd),
    unpriced_requests: Number(r.unpriced),
    usage_status: { reported: Number(r.reported), partial: Number(r.partial), missing: Number(r.missing) },
  }));
  const totals = emptyTotals();
  for (const g of groups) add(totals, g);
  return {
    account_id: p.accountId ?? null,
    from: new Date(p.fromS * 1000).toISOString(),
    to: new Date(p.toS * 1000).toISOString(),
    group_by: p.groupBy ?? null,
    totals,
    groups: p.groupBy ? groups : [],
  };
}

/** `ch` is the ClickHouse client (or any SqlRunner); `db` the usage database (CLICKHOUSE_DB). */
export async function queryUsage(ch: UsageStore, db: string, params: UsageQueryParams): Promise<UsageReport> {
  const p = checkParams(params);
  const sql = sqlRunner(ch);
  const sealed = await validSeals(sql, db, Math.ceil(p.fromS / HOUR_SECONDS), Math.floor(p.toS / HOUR_SECONDS));
  return toReport(p, await sql.rows<UsageSqlRow>(buildUsageSql(db, p, sealed)));
}
