// The response relay's idle clock: silence from the provider during a read is timeout_idle; a client that stops
// reading is its own doing, never blamed on the provider.
import { expect, test } from 'bun:test';
import { relayBody } from '../../src/proxy/relay.ts';
import type { Outcome } from '../../src/usage/snippet.ts';

const enc = new TextEncoder();

function relay(upstream: ReadableStream<Uint8Array>, idleTimeoutMs: number) {
  const controller = new AbortController();
  let cause: Outcome | null = null;
  let resolveEnd: (v: { outcome: Outcome; error?: string }) => void = () => {};
  const ended = new Promise<{ outcome: Outcome; error?: string }>((resolve) => (resolveEnd = resolve));
  const body = relayBody(upstream, {
    capture: { feed() {} },
    filter: null,
    redactor: null,
    idleTimeoutMs,
    signal: controller.signal,
    abortUpstream: (c) => {
      cause ??= c;
      controller.abort();
    },
    abortCause: () => cause,
    onEnd: (outcome, _bytes, error) => resolveEnd(error === undefined ? { outcome } : { outcome, error }),
  });
  return { body, ended };
}

test('a provider silent while the client waits for more: timeout_idle', async () => {
  const upstream = new ReadableStream<Uint8Array>({
    start(ctrl) {
      ctrl.enqueue(enc.encode('data: 1\n\n'));
      // ... and then nothing more, ever.
    },
  });
  const { body, ended } = relay(upstream, 150);
  const reader = body.getReader();
  expect((await reader.read()).done).toBe(false);
  void reader.read().catch(() => {});
  expect(await ended).toEqual({ outcome: 'timeout_idle', error: 'upstream went silent mid-body' });
});

test('a client that stops reading while the provider has more to give: recorded as the client, not timeout_idle', async () => {
  let sent = 0;
  const upstream = new ReadableStream<Uint8Array>(
    {
      pull(ctrl) {
        ctrl.enqueue(enc.encode(`data: ${sent++}\n\n`));
      },
    },
    { highWaterMark: 0 },
  );
  const { body, ended } = relay(upstream, 150);
  const reader = body.getReader();
  expect((await reader.read()).done).toBe(false);
  // The client reads nothing more: the provider is always ready, so the only silence is the client's.
  expect(await ended).toEqual({ outcome: 'client_abort', error: 'client stopped reading for the idle timeout' });
  expect(sent).toBeLessThan(5);
});
