// Per-key requests per minute on one pod: a sliding minute, so no burst across a boundary passes twice the limit.
import { expect, test } from 'bun:test';
import { ArouterError } from '../../src/errors.ts';
import { Authenticator } from '../../src/keys/auth.ts';
import { KeyCache } from '../../src/keys/cache.ts';
import { generateKey, hashKey } from '../../src/keys/format.ts';
import type { KeyRecord } from '../../src/keys/store.ts';

function setup(rpm: number, defaultRpm = 0) {
  let now = 1_000_000;
  const key = generateKey();
  const record: KeyRecord = { id: 'key_rl', account: 'acme', name: '', createdAt: '', revoked: false, rpm, storedObjects: true, hash: hashKey(key) };
  const cache = new KeyCache({ findByHash: () => Promise.resolve(record) }, { refreshAfterMs: 3_600_000, maxAgeMs: 7_200_000, outageGraceMs: 60_000, maxEntries: 10, now: () => now });
  const auth = new Authenticator(cache, defaultRpm, () => now);
  /** How many of n requests at the current instant are admitted; the last refusal's message. */
  const burst = async (n: number) => {
    let admitted = 0;
    let refusal = '';
    for (let i = 0; i < n; i++) {
      try {
        await auth.authenticate(key);
        admitted++;
      } catch (e) {
        if (!(e instanceof ArouterError) || e.status !== 429) throw e;
        refusal = e.message;
      }
    }
    return { admitted, refusal };
  };
  return { burst, advance: (ms: number) => (now += ms) };
}

test('within one minute the limit holds, and the refusal is a 429 saying when to retry', async () => {
  const { burst } = setup(10);
  const r = await burst(15);
  expect(r.admitted).toBe(10);
  expect(r.refusal).toMatch(/limit of 10 requests per minute on this pod; retry after \d+ s/);
});

test('a burst split across a minute boundary cannot pass twice the limit', async () => {
  const { burst, advance } = setup(10);
  expect((await burst(1)).admitted).toBe(1); // the key's minute starts here
  advance(59_000);
  expect((await burst(9)).admitted).toBe(9);
  advance(2_000); // one second into the next minute: almost all of the previous one still counts
  expect((await burst(10)).admitted).toBe(0);
  advance(30_000); // half of the previous minute has slid out
  expect((await burst(10)).admitted).toBe(5);
});

test('when the current minute alone is full, the retry time covers its sliding out too', async () => {
  const { burst, advance } = setup(10);
  expect((await burst(10)).admitted).toBe(10);
  advance(30_000);
  const r = await burst(1);
  expect(r.admitted).toBe(0);
  // The minute ends in 30 s; then its 10 requests weigh in until 1/10 of it has slid out (6 s more).
  expect(r.refusal).toContain('retry after 36 s');
  advance(35_000);
  expect((await burst(1)).admitted).toBe(0);
  advance(1_500);
  expect((await burst(1)).admitted).toBe(1);
});

test('after a quiet minute the full limit is back; refused requests are not counted', async () => {
  const { burst, advance } = setup(5);
  expect((await burst(50)).admitted).toBe(5);
  advance(125_000);
  expect((await burst(6)).admitted).toBe(5);
});

test('AROUTER_KEY_RPM applies to keys without their own limit; 0 is off', async () => {
  expect((await setup(0, 3).burst(5)).admitted).toBe(3);
  expect((await setup(0, 0).burst(500)).admitted).toBe(500);
  expect((await setup(7, 3).burst(10)).admitted).toBe(7);
});
