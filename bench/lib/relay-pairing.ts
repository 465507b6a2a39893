// Pairs the events a client read with the events the mock sent, so each event's relay delay is arrival minus send.

/**
 * Relay delays (arrival minus send, one clock) for one stream, or null when the two lists cannot be paired.
 * A proxy may drop exactly one event: arouter removes the usage-only chunk it asked for itself, which the mock sends
 * second to last (before [DONE]); the last event read then pairs with the last one sent.
 */
export function pairRelays(arrivals: readonly number[], sent: readonly number[]): number[] | null {
  const n = arrivals.length;
  const dropped = sent.length - n;
  if (dropped !== 0 && !(dropped === 1 && n >= 2)) return null;
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const j = dropped === 1 && k === n - 1 ? sent.length - 1 : k;
    out.push((arrivals[k] as number) - (sent[j] as number));
  }
  return out;
}
