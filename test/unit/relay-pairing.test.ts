// The bench's relay-delay pairing: events read against events the mock sent, with arouter's one dropped usage chunk.
import { describe, expect, test } from 'bun:test';
import { pairRelays } from '../../bench/lib/relay-pairing.ts';

describe('pairRelays', () => {
  test('pairs event for event when nothing was dropped', () => {
    expect(pairRelays([10.5, 21, 33], [10, 20, 30])).toEqual([0.5, 1, 3]);
  });

  test('skips the second-to-last sent event when the proxy dropped one: the last read pairs with the last sent', () => {
    // Sent: content, content, usage-only chunk (dropped by the proxy), [DONE].
    const paired = pairRelays([10.2, 20.3, 40.9], [10, 20, 30, 40]);
    expect(paired).toHaveLength(3);
    [0.2, 0.3, 0.9].forEach((d, k) => expect(paired![k]).toBeCloseTo(d, 9));
  });

  test('refuses lists it cannot pair', () => {
    expect(pairRelays([1, 2], [1, 2, 3, 4])).toBeNull(); // two missing
    expect(pairRelays([1, 2, 3], [1, 2])).toBeNull(); // more read than sent
    expect(pairRelays([5], [1, 5])).toBeNull(); // one read cannot stand for a dropped chunk and [DONE]
  });

  test('an empty stream pairs to nothing', () => {
    expect(pairRelays([], [])).toEqual([]);
  });
});
