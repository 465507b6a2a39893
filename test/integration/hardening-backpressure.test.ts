// Backpressure through the real server: a slow reader throttles the provider and keeps the proxy's memory flat, and
// a thousand slow streams are served at once.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { waitFor } from '../helpers/env.ts';
import { rssKb, startMockProcess, startProxyProcess, type MockProcess, type ProxyProcess } from '../helpers/hardening-proc.ts';
import { head, RawConn } from '../helpers/hardening-raw.ts';

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

let mock: MockProcess;
let proxy: ProxyProcess;
let auth: string;

const produced = async () => ((await (await fetch(`${mock.url}/stats`)).json()) as { produced: number }).produced;
const mockOpen = async () => ((await (await fetch(`${mock.url}/stats`)).json()) as { open: number }).open;
async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${proxy.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
}

beforeAll(async () => {
  mock = await startMockProcess();
  // Bun's fetch runs 256 requests at once unless this is set, and reads it only at process start (see server.ts).
  proxy = await startProxyProcess({ upstream: mock.url, env: { BUN_CONFIG_MAX_HTTP_REQUESTS: '65535' } });
  auth = `Authorization: Bearer ${proxy.key}`;
}, 30_000);
afterAll(async () => {
  await proxy?.stop();
  await mock?.stop();
});

test(
  '1 GiB from a fast provider to a slow reader: the provider is read only as fast as the client drains; memory stays flat',
  async () => {
    const rss0 = rssKb(proxy.pid);
    const c = await RawConn.open(proxy.port);
    let peakRss = rss0;
    let peakInFlight = 0;
    try {
      c.write(head(`POST /openai/fast?bytes=${GiB} HTTP/1.1`, 'Host: arouter', auth, 'Content-Type: application/json', 'Content-Length: 2') + '{}');
      await waitFor(() => c.received > MiB, 10_000, 'the stream to start');

      // A reader that stops: once the socket buffers fill, the provider must stop being read.
      c.socket.pause();
      const history: Array<[number, number]> = [];
      const stalled = await waitFor(
        async () => {
          const p = await produced();
          history.push([Date.now(), p]);
          const old = history.findLast(([t]) => Date.now() - t >= 500);
          return old && old[1] === p ? p : null;
        },
        10_000,
        'the provider to be throttled',
      );
      // What is in flight sits in kernel socket buffers and a few chunks inside the proxy, not in a growing queue.
      expect(stalled - c.received).toBeLessThan(64 * MiB);
      peakRss = Math.max(peakRss, rssKb(proxy.pid));

      // Then a slow reader: drain 16 MiB, stop, look, and go on until the whole GiB went through.
      while (!c.tail.endsWith('0\r\n\r\n') && !c.closed) {
        const target = c.received + 16 * MiB;
        c.socket.resume();
        await waitFor(() => c.received >= target || c.tail.endsWith('0\r\n\r\n') || c.closed, 10_000, 'the next 16 MiB');
        c.socket.pause();
        peakInFlight = Math.max(peakInFlight, (await produced()) - c.received);
        peakRss = Math.max(peakRss, rssKb(proxy.pid));
      }
      expect(c.closed).toBe(false);
      expect(c.received).toBeGreaterThan(GiB);
      expect(await produced()).toBe(GiB);
    } finally {
      c.destroy();
    }
    expect(peakInFlight).toBeLessThan(64 * MiB);
    // Growth, in KiB: unthrottled, up to a GiB would pile up in the proxy.
    expect(peakRss - rss0).toBeLessThan(100 * 1024);
  },
  120_000,
);

test(
  '1,000 concurrent slow streams are all served at once, and all are released when the clients leave',
  async () => {
    const N = 1000;
    const conns: RawConn[] = [];
    try {
      for (let i = 0; i < N; i++) {
        const c = await RawConn.open(proxy.port);
        c.write(head('POST /openai/drip?gapMs=1000 HTTP/1.1', 'Host: arouter', auth, 'Content-Type: application/json', 'Content-Length: 2') + '{}');
        conns.push(c);
      }
      const started = await waitFor(() => {
        const n = conns.filter((c) => c.response()?.body.includes('"i":0')).length;
        return n === N ? n : null;
      }, 60_000, 'every stream to send its first event');
      expect(started).toBe(N);
      expect(conns.filter((c) => c.closed).length).toBe(0);
      expect(await metric('arouter_open_streams')).toBe(N);
      // Still serving other requests meanwhile.
      expect((await fetch(`${proxy.url}/healthz`)).status).toBe(200);
      // Every stream keeps flowing, not just its first event.
      await waitFor(() => conns.every((c) => c.response()?.body.includes('"i":1')), 30_000, 'every stream to send its second event');
      expect(rssKb(proxy.pid)).toBeLessThan(1024 * 1024);
      expect(proxy.logs().some((l) => String(l.msg).includes('BUN_CONFIG_MAX_HTTP_REQUESTS'))).toBe(false);
    } finally {
      for (const c of conns) c.destroy();
    }
    await waitFor(async () => (await metric('arouter_open_streams')) === 0, 30_000, 'the proxy to close every stream');
    await waitFor(async () => (await mockOpen()) <= 1, 30_000, 'every upstream connection to close');
  },
  150_000,
);
