// Rollup bookkeeping that needs no server: which written rows make an already finished hour stale.
import { expect, test } from 'bun:test';
import { HOUR_SECONDS, rowHours, utcHour } from '../../workers/rollup.ts';

test('utcHour counts whole hours since the epoch', () => {
  expect(utcHour(0)).toBe(0);
  expect(utcHour(HOUR_SECONDS - 1)).toBe(0);
  expect(utcHour(1_700_000_000)).toBe(472_222);
});

test('rowHours: the distinct hours of the rows', () => {
  const current = utcHour(1_700_000_000);
  const ts = [1_700_000_000, 1_700_000_000 - 10, (current - 1) * HOUR_SECONDS + 5, (current - 1) * HOUR_SECONDS + 900, (current - 30) * HOUR_SECONDS];
  expect(rowHours(ts).sort((a, b) => a - b)).toEqual([current - 30, current - 1, current]);
  expect(rowHours([])).toEqual([]);
});
