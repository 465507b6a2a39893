// Rollup bookkeeping that needs no server: which written rows make an already finished hour stale.
import { expect, test } from 'bun:test';
import { finishedHours, HOUR_SECONDS, utcHour } from '../../workers/rollup.ts';

test('utcHour counts whole hours since the epoch', () => {
  expect(utcHour(0)).toBe(0);
  expect(utcHour(HOUR_SECONDS - 1)).toBe(0);
  expect(utcHour(1_700_000_000)).toBe(472_222);
});

test('finishedHours: distinct hours before the current one; the current hour is never stale', () => {
  const now = 1_700_000_000_000; // inside hour 472222
  const current = utcHour(now / 1000);
  const ts = [now / 1000, now / 1000 - 10, (current - 1) * HOUR_SECONDS + 5, (current - 1) * HOUR_SECONDS + 900, (current - 30) * HOUR_SECONDS];
  expect(finishedHours(ts, now).sort((a, b) => a - b)).toEqual([current - 30, current - 1]);
  expect(finishedHours([], now)).toEqual([]);
});
