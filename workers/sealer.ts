// Runs rollup seal passes on a timer; a Redis lock lets one worker process seal at a time across the fleet.
import type { ClickHouseClient } from '@clickhouse/client';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sealPass } from './rollup.ts';
import type { WorkerLogger } from './usage-worker.ts';

export interface SealerOptions {
  ch: ClickHouseClient;
  db: string;
  redis: Redis;
  intervalMs: number;
  lookbackHours: number;
  log: WorkerLogger;
}

export interface Sealer {
  /** One pass now (skipped, returning null, while another process holds the lock). */
  runOnce(): Promise<number[] | null>;
  close(): Promise<void>;
}

// Compare-and-delete, so a pass that outlived its lock never releases another process's lock.
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
const LOCK_MS = 10 * 60_000;

export function startSealer(o: SealerOptions): Sealer {
  const lockKey = `arouter:usage-rollup-lock:${o.db}`;
  let current: Promise<unknown> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  async function pass(): Promise<number[] | null> {
    const token = randomUUID();
    if ((await o.redis.set(lockKey, token, 'PX', LOCK_MS, 'NX')) !== 'OK') return null;
    try {
      const sealed = await sealPass(o.ch, o.db, { lookbackHours: o.lookbackHours });
      if (sealed.length > 0) o.log('info', 'sealed usage hours', { hours: sealed.length, first: sealed[0], last: sealed[sealed.length - 1] });
      return sealed;
    } finally {
      await o.redis.eval(RELEASE, 1, lockKey, token);
    }
  }

  function runOnce(): Promise<number[] | null> {
    const p = current.then(pass, pass);
    current = p.catch(() => undefined);
    return p;
  }

  function tick() {
    if (closed) return;
    runOnce()
      .catch((e: unknown) => o.log('warn', 'usage rollup pass failed; retrying next interval', { error: (e as Error).message }))
      .finally(() => {
        if (!closed) timer = setTimeout(tick, o.intervalMs);
      });
  }

  if (o.intervalMs > 0) timer = setTimeout(tick, Math.min(o.intervalMs, 5_000));

  return {
    runOnce,
    async close() {
      closed = true;
      clearTimeout(timer);
      await current;
    },
  };
}
