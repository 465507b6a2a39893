// Usage query parameters and SQL: validation errors (code/status 400), literal escaping, and the rollup/raw split.
import { describe, expect, test } from 'bun:test';
import { buildUsageSql, checkParams, MAX_ROLLUP_RUNS, parseUsageQuery, quoteString, UsageQueryError, type UsageQueryParams } from '../../src/api/usage-query.ts';

const DAY = 86_400;
const day = (n: number) => new Date(n * DAY * 1000);

function errorOf(p: unknown): UsageQueryError {
  try {
    checkParams(p as UsageQueryParams);
  } catch (e) {
    if (e instanceof UsageQueryError) return e;
    throw e;
  }
  throw new Error('expected a UsageQueryError');
}

describe('checkParams', () => {
  test.each([
    ['unknown group_by', { from: day(1), to: day(2), groupBy: 'hour' }, 'invalid_group_by'],
    ['invalid date', { from: new Date('nope'), to: day(2) }, 'invalid_date'],
    ['not a date', { from: '2025-01-01', to: day(2) }, 'invalid_date'],
    ['to before from', { from: day(3), to: day(2) }, 'invalid_range'],
    ['empty range', { from: day(3), to: day(3) }, 'invalid_range'],
    ['over 400 days', { from: day(0), to: day(401) }, 'invalid_range'],
    ['empty account', { accountId: '', from: day(1), to: day(2) }, 'invalid_account'],
    ['numeric account', { accountId: 7, from: day(1), to: day(2) }, 'invalid_account'],
  ])('%s → 400', (_name, params, code) => {
    const e = errorOf(params);
    expect(e.code).toBe(code as UsageQueryError['code']);
    expect(e.status).toBe(400);
  });

  test('rounds both ends of a sub-second range down, so ranges that meet mid-second count no row twice', () => {
    expect(checkParams({ from: new Date(1500), to: new Date(2500) })).toMatchObject({ fromS: 1, toS: 2 });
    const [a, b] = [checkParams({ from: new Date(0), to: new Date(10_500) }), checkParams({ from: new Date(10_500), to: new Date(20_000) })];
    expect(a.toS).toBe(b.fromS);
  });
});

describe('parseUsageQuery', () => {
  test('ISO dates and epoch seconds; to defaults to the end of the current second and from to 30 days before to', () => {
    expect(parseUsageQuery({ from: '2025-01-01T00:00:00Z', to: '1735776000', group_by: 'day' })).toEqual({
      from: new Date('2025-01-01T00:00:00Z'), to: new Date('2025-01-02T00:00:00Z'), groupBy: 'day',
    });
    const now = Date.UTC(2025, 5, 30) + 250;
    const end = Date.UTC(2025, 5, 30) + 1000;
    expect(parseUsageQuery({}, now)).toEqual({ from: new Date(end - 30 * DAY * 1000), to: new Date(end), groupBy: undefined });
  });
  test("a date-time without a zone is UTC whatever the server's zone; short numbers are not epoch seconds", () => {
    const saved = process.env.TZ;
    process.env.TZ = 'Asia/Kolkata';
    try {
      expect(parseUsageQuery({ from: '2026-11-01T00:00:00', to: '2026-11-02T12:30' }).from).toEqual(new Date('2026-11-01T00:00:00Z'));
      expect(parseUsageQuery({ from: '2026-11-01T00:00:00', to: '2026-11-02T12:30' }).to).toEqual(new Date('2026-11-02T12:30:00Z'));
      expect(parseUsageQuery({ from: '2026-11-01', to: '2026-11-02T00:00:00+05:30' }).to).toEqual(new Date('2026-11-01T18:30:00Z'));
      expect(parseUsageQuery({ from: '2026-11-27 10:00:00' }).from).toEqual(new Date('2026-11-27T10:00:00Z'));
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
    expect(parseUsageQuery({ from: '2026', to: '2027' }).from).toEqual(new Date('2026-01-01T00:00:00Z'));
    expect(parseUsageQuery({ from: '2026-11', to: '2027' }).from).toEqual(new Date('2026-11-01T00:00:00Z'));
    expect(() => parseUsageQuery({ from: '20261102' })).toThrow(UsageQueryError);
  });
  test("only ISO 8601 and epoch seconds: nothing else Date's parser would take, in the server's zone or wrongly", () => {
    const saved = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      for (const v of ['0', '-1', '12345678', ' 2026-11-01', '11/01/2026', 'Nov 1 2026', '2026-02-30', '2026-11-01T24:00', '2026-11-01T10:60', '2026-11-01T10:00+25:00', '2026-11-01Z']) {
        expect(() => parseUsageQuery({ from: v, to: '2027-01-01' })).toThrow(/from must be an ISO 8601 date/);
      }
      expect(parseUsageQuery({ from: '2026-11-01t00:00:00', to: '2027' }).from).toEqual(new Date('2026-11-01T00:00:00Z'));
      expect(parseUsageQuery({ from: '2026-11-01T00:00:00.250-0500', to: '2027' }).from).toEqual(new Date('2026-11-01T05:00:00.250Z'));
      expect(parseUsageQuery({ from: '2026-11-01T00:00:00z', to: '2027' }).from).toEqual(new Date('2026-11-01T00:00:00Z'));
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
  test('bad strings are typed 400 errors', () => {
    expect(() => parseUsageQuery({ from: 'yesterday' })).toThrow(UsageQueryError);
    expect(() => parseUsageQuery({ group_by: 'account' })).toThrow(/group_by/);
  });
});

describe('quoteString', () => {
  test('escapes everything special inside a ClickHouse string literal', () => {
    expect(quoteString("a'b")).toBe("'a\\'b'");
    expect(quoteString('a\\b')).toBe("'a\\\\b'");
    expect(quoteString("x\\' OR 1=1 --")).toBe("'x\\\\\\' OR 1=1 --'");
    expect(quoteString('nul\0line\nend')).toBe("'nul\\0line\\nend'");
  });
});

describe('buildUsageSql', () => {
  const H = 3600;
  // From 00:30 of hour 100 to 00:01 of hour 104: hours 101, 102, 103 are whole inside the range.
  const p = checkParams({ accountId: 'acct', from: new Date((100 * H + 1800) * 1000), to: new Date((104 * H + 60) * 1000), groupBy: 'model' });

  test('no valid seals: everything from usage_events FINAL, one range', () => {
    const sql = buildUsageSql('db1', p, new Set());
    expect(sql).toContain('FROM db1.usage_events FINAL');
    expect(sql).not.toContain('usage_hourly');
    expect(sql).toContain(`(ts >= toDateTime(${100 * H + 1800}) AND ts < toDateTime(${104 * H + 60}))`);
    expect(sql).toContain("account_id = 'acct'");
  });

  test("400 days of every other hour sealed stay within ClickHouse's 256 KiB query: the longest runs from the rollup", () => {
    const long = checkParams({ accountId: 'acct', from: new Date(0), to: new Date(400 * 24 * H * 1000) });
    const everyOther = new Set(Array.from({ length: 200 * 24 }, (_, i) => 2 * i));
    // Three hours in a row somewhere late: the one run longer than the rest must be among those kept.
    for (const h of [9001, 9002, 9003]) everyOther.add(h);
    const sql = buildUsageSql('db1', long, everyOther);
    expect(sql.length).toBeLessThan(256 * 1024);
    const runs = sql.split('FROM db1.usage_seals')[1]!.match(/hour >= toDateTime/g)!.length;
    expect(runs).toBe(MAX_ROLLUP_RUNS);
    expect(sql).toContain(`(hour >= toDateTime(${9000 * H}) AND hour < toDateTime(${9005 * H}))`); // 9000 to 9004, evens around
  });

  test('whole sealed hours come from the rollup, the gaps and partial edges from raw FINAL', () => {
    // 102 has no valid seal; 100 and 104 are sealed but only partly inside the range.
    const sql = buildUsageSql('db1', p, new Set([100, 101, 103, 104]));
    expect(sql).toContain('FROM db1.usage_hourly');
    expect(sql).toContain(`(hour >= toDateTime(${101 * H}) AND hour < toDateTime(${102 * H})) OR (hour >= toDateTime(${103 * H}) AND hour < toDateTime(${104 * H}))`);
    expect(sql).toContain('(hour, seal_version) IN (SELECT hour, max(seal_version) FROM db1.usage_seals');
    expect(sql).toContain(`(ts >= toDateTime(${100 * H + 1800}) AND ts < toDateTime(${101 * H}))`);
    expect(sql).toContain(`(ts >= toDateTime(${102 * H}) AND ts < toDateTime(${103 * H}))`);
    expect(sql).toContain(`(ts >= toDateTime(${104 * H}) AND ts < toDateTime(${104 * H + 60}))`);
  });

  test('adjacent sealed hours merge into one range; all sealed needs no raw read; no account means all accounts', () => {
    const all = checkParams({ from: new Date(10 * H * 1000), to: new Date(13 * H * 1000) });
    const sql = buildUsageSql('db1', all, new Set([10, 11, 12]));
    expect(sql).toContain(`(hour >= toDateTime(${10 * H}) AND hour < toDateTime(${13 * H}))`);
    expect(sql).not.toContain('usage_events');
    expect(sql).not.toContain('account_id =');
  });
});
