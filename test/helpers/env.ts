// Where tests find the real Redis and ClickHouse started by scripts/test.sh (or by hand with scripts/services.sh).
import { fileURLToPath } from 'node:url';

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:16379';
export const TEST_CLICKHOUSE_URL = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:18123';
// A path, not a URL's: a checkout path with spaces or non-ASCII letters would stay percent-encoded in .pathname.
export const FIXTURES_DIR = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

/** A name unique to this test run, for queues, databases and key prefixes, so test files never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Poll `check` until it returns a truthy value or the deadline passes. No fixed sleeps in tests. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await Bun.sleep(20);
  }
}
