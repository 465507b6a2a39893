import { expect, test } from 'bun:test';
import { KeyCache, KeyStoreUnavailable } from '../../src/keys/cache.ts';
import type { KeyRecord } from '../../src/keys/store.ts';

/** Background re-checks start after the current macrotask (setImmediate): let them. */
const afterImmediate = () => new Promise<void>((resolve) => setImmediate(resolve));

const rec = (revoked = false): KeyRecord => ({ id: 'key_1', account: 'acme', name: '', createdAt: '', revoked, rpm: 0, storedObjects: true, hash: 'h' });

function setup() {
  let now = 1_000_000;
  const calls: string[] = [];
  let behaviour: 'ok' | 'fail' | 'hang' = 'ok';
  let record: KeyRecord | null = rec();
  const pending: Array<() => void> = [];
  const cache = new KeyCache(
    {
      findByHash: (h) => {
        calls.push(h);
        if (behaviour === 'fail') return Promise.reject(new Error('down'));
        if (behaviour === 'hang') return new Promise((resolve) => pending.push(() => resolve(record)));
        return Promise.resolve(record);
      },
    },
    { refreshAfterMs: 2_000, maxAgeMs: 4_000, outageGraceMs: 60_000, maxEntries: 10, now: () => now },
  );
  return {
    cache,
    calls,
    tick: (ms: number) => (now += ms),
    set: (b: typeof behaviour) => (behaviour = b),
    setRecord: (r: KeyRecord | null) => (record = r),
    release: () => pending.splice(0).forEach((f) => f()),
  };
}

test('a fresh entry is served from memory', async () => {
  const t = setup();
  await t.cache.get('h');
  t.tick(1_000);
  expect((await t.cache.get('h'))?.account).toBe('acme');
  expect(t.calls.length).toBe(1);
});

test('peek answers synchronously while an entry is usable, re-checks a stale one after the request, and never waits', async () => {
  const t = setup();
  expect(t.cache.peek('h')).toBeUndefined();
  await t.cache.get('h');
  t.tick(1_999);
  expect(t.cache.peek('h')?.account).toBe('acme');
  expect(t.calls.length).toBe(1);
  t.tick(1);
  // Stale but within maxAge: served now, re-checked once, and not on the calling request's own time.
  expect(t.cache.peek('h')?.account).toBe('acme');
  expect(t.cache.peek('h')?.account).toBe('acme');
  expect(t.calls.length).toBe(1);
  await afterImmediate();
  expect(t.calls.length).toBe(2);
  // Past maxAge with no revocation feed: the caller must wait for the store (get).
  t.tick(4_000);
  expect(t.cache.peek('h')).toBeUndefined();
});

test('peek sees a revocation at once', async () => {
  const t = setup();
  await t.cache.get('h');
  t.cache.invalidate('h');
  expect(t.cache.peek('h')?.revoked).toBe(true);
});

test('a stale entry is served at once and refreshed in the background', async () => {
  const t = setup();
  await t.cache.get('h');
  t.tick(2_500);
  t.setRecord(rec(true));
  expect((await t.cache.get('h'))?.revoked).toBe(false);
  await afterImmediate();
  expect(t.calls.length).toBe(2);
  expect((await t.cache.get('h'))?.revoked).toBe(true);
});

test('past max age the lookup is awaited, so a revocation missed on pub/sub still lands within maxAge', async () => {
  const t = setup();
  await t.cache.get('h');
  t.tick(4_500);
  t.setRecord(rec(true));
  expect((await t.cache.get('h'))?.revoked).toBe(true);
});

test('store down past max age: the known key keeps working in grace, and later requests do not wait again', async () => {
  const t = setup();
  await t.cache.get('h');
  t.tick(5_000);
  t.set('fail');
  expect((await t.cache.get('h'))?.account).toBe('acme');
  const before = t.calls.length;
  t.set('hang');
  t.tick(100);
  // Served without awaiting the hanging store: the promise resolves even though the lookup never does.
  expect((await t.cache.get('h'))?.account).toBe('acme');
  await afterImmediate();
  expect(t.calls.length).toBe(before + 1);
  t.release();
});

test('cold miss with the store down is KeyStoreUnavailable', async () => {
  const t = setup();
  t.set('fail');
  await expect(t.cache.get('nope')).rejects.toBeInstanceOf(KeyStoreUnavailable);
});

test('concurrent cold misses share one lookup', async () => {
  const t = setup();
  t.set('hang');
  const all = Promise.all([t.cache.get('h'), t.cache.get('h'), t.cache.get('h')]);
  t.release();
  const got = await all;
  expect(got.every((r) => r?.account === 'acme')).toBe(true);
  expect(t.calls.length).toBe(1);
});

test('invalidate marks a cached key revoked at once', async () => {
  const t = setup();
  await t.cache.get('h');
  t.cache.invalidate('h');
  expect((await t.cache.get('h'))?.revoked).toBe(true);
});

test('a revocation heard while a background re-check and a blocking load are both in flight holds for both', async () => {
  const t = setup();
  await t.cache.get('h'); // checked at t0
  t.tick(1_000);
  t.cache.setRevocationFeed(true); // the feed came up after the check
  t.tick(2_500);
  t.set('hang');
  expect(t.cache.peek('h')?.revoked).toBe(false); // stale: served, with a re-check scheduled
  await afterImmediate(); // ... and now in flight
  t.tick(600); // past maxAge, and the check predates the feed: a request has to wait for the store
  const waiting = t.cache.get('h');
  t.cache.invalidate('h');
  t.release(); // the re-check answers first, then the load: both read the record before the revocation
  expect((await waiting)?.revoked).toBe(true);
  await Promise.resolve();
  expect(t.cache.peek('h')?.revoked).toBe(true);
  expect(t.calls.length).toBe(3);
});

test('unknown keys are cached as null too (no store round trip per bogus request)', async () => {
  const t = setup();
  t.setRecord(null);
  expect(await t.cache.get('x')).toBeNull();
  expect(await t.cache.get('x')).toBeNull();
  expect(t.calls.length).toBe(1);
});

test('with the revocation feed up since the check, an old entry is served at once and re-checked in the background', async () => {
  const t = setup();
  t.cache.setRevocationFeed(true);
  t.tick(10);
  await t.cache.get('h');
  t.tick(60_000);
  t.set('hang');
  // The lookup never answers, so only an answer from memory can resolve this.
  expect((await t.cache.get('h'))?.account).toBe('acme');
  expect(t.cache.peek('h')?.account).toBe('acme');
  await afterImmediate();
  expect(t.calls.length).toBe(2);
  t.release();
});

test('with the feed up but no re-check answering, an entry is trusted for the outage grace and no longer', async () => {
  const t = setup();
  t.cache.setRevocationFeed(true);
  t.tick(10);
  await t.cache.get('h');
  t.set('fail');
  // maxAge 4 s + grace 60 s: the re-checks fail all along, and the feed stays up.
  t.tick(63_000);
  expect(t.cache.peek('h')?.account).toBe('acme');
  await afterImmediate();
  t.tick(2_000);
  expect(t.cache.peek('h')).toBeUndefined();
  expect(await t.cache.get('h').catch((e: unknown) => e)).toBeInstanceOf(KeyStoreUnavailable);
});

test('an entry checked before the feed came up, or after it dropped, still waits for the store past max age', async () => {
  const t = setup();
  await t.cache.get('h');
  t.tick(10);
  t.cache.setRevocationFeed(true);
  t.tick(4_500);
  t.setRecord(rec(true));
  expect((await t.cache.get('h'))?.revoked).toBe(true);

  const u = setup();
  u.cache.setRevocationFeed(true);
  u.tick(10);
  await u.cache.get('h');
  u.cache.setRevocationFeed(false);
  u.tick(4_500);
  u.setRecord(rec(true));
  expect((await u.cache.get('h'))?.revoked).toBe(true);
});

test('a revocation heard while the key is being looked up survives the lookup that read it before', async () => {
  const t = setup();
  t.set('hang');
  const first = t.cache.get('h');
  t.cache.invalidate('h');
  t.release();
  expect((await first)?.revoked).toBe(true);

  const u = setup();
  await u.cache.get('h');
  u.tick(2_500);
  u.set('hang');
  await u.cache.get('h'); // served, with a background re-check scheduled
  await afterImmediate(); // ... and now in flight
  u.cache.invalidate('h');
  u.release();
  await Promise.resolve();
  expect((await u.cache.get('h'))?.revoked).toBe(true);
  expect(u.calls.length).toBe(2);
});
