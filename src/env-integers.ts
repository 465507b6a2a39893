// Whole numbers from the environment: TypeBox's Convert reads "30e3" as 30 and "1.5" as 1, so the strings are checked first.
import type { TObject } from '@sinclair/typebox';

/** Longest delay a timer takes: beyond 2^31 - 1 ms, setTimeout fires at once. */
export const TIMER_MAX_MS = 2_147_483_647;

/** Keys of `schema`'s integer settings whose raw value is a string that is not plain digits. */
export function notWholeNumbers(schema: TObject, raw: Readonly<Record<string, unknown>>): string[] {
  const bad: string[] = [];
  for (const [key, prop] of Object.entries(schema.properties)) {
    const v = raw[key];
    if ((prop as { type?: unknown }).type === 'integer' && typeof v === 'string' && !/^\d+$/.test(v)) bad.push(key);
  }
  return bad;
}
