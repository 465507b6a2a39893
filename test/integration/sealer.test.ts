// The rollup sealer: one process at a time per database (Redis lock), and a pass seals finished hours.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { Redis } from 'ioredis';
import { USAGE_TABLE } from '../../workers/migrations.ts';
import { HOUR_SECONDS, utcHour } from '../../workers/rollup.ts';
import { startSealer } from '../../workers/sealer.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { freshUsageDb, usageRow, type UsageDb } from '../helpers/usage-db.ts';

let u: UsageDb;
let redis: Redis;
beforeAll(async () => {
  u = await freshUsageDb('t_sealer');
  redis = new Redis(TEST_REDIS_URL);
});
afterAll(async () => {
  redis.disconnect();
  await u.drop();
});

test('a pass is skipped while another process holds the lock, and seals once the lock is free', async () => {
  const hour = utcHour(Date.now() / 1000) - 5;
  await u.ch.insert({ table: `${u.db}.${USAGE_TABLE}`, values: [usageRow({ request_id: 's1', ts: hour * HOUR_SECONDS + 10 })], format: 'JSONEachRow' });
  const sealer = startSealer({ ch: u.ch, db: u.db, redis, intervalMs: 0, lookbackHours: 24, log: () => {} });
  const lockKey = `arouter:usage-rollup-lock:${u.db}`;
  try {
    await redis.set(lockKey, 'another-process', 'PX', 60_000);
    expect(await sealer.runOnce()).toBeNull();
    expect(await redis.get(lockKey)).toBe('another-process'); // never released by someone else
    await redis.del(lockKey);
    expect(await sealer.runOnce()).toEqual([hour]);
    expect(await redis.get(lockKey)).toBeNull(); // released after the pass
    expect(await sealer.runOnce()).toEqual([]);
  } finally {
    await sealer.close();
    await redis.del(lockKey);
  }
});
