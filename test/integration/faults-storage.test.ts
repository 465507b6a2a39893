// Fault tests: Redis killed or frozen, ClickHouse killed, under live traffic; every served request still ends as exactly one row.
import { expect, test } from 'bun:test';
import { readdirSync } from 'node:fs';
import { waitFor } from '../helpers/env.ts';
import { startStack, tail, type FaultStack } from '../helpers/faults-stack.ts';
import type { Traffic } from '../helpers/faults-traffic.ts';
import { expectExactlyServed, faultSuite } from '../helpers/faults-suite.ts';

const suite = faultSuite();
const trafficOn = (s: FaultStack): Traffic => suite.trafficOn(s);

/** Stops the traffic, then the shared exact-rows check, with the figures printed for the closing note. */
async function expectAllServedStored(s: FaultStack, t: Traffic, what: string): Promise<void> {
  await t.stop();
  expect(t.failures).toEqual([]);
  const got = await expectExactlyServed(s, t.served);
  console.info(`${what}: served=${t.served.size} stored=${t.served.size} physical=${got.physical} settled_in_ms=${got.ms}`);
}

const outboxBatches = (dir: string): number => readdirSync(dir).filter((f) => f.endsWith('.batch')).length;

test('Redis killed mid-traffic: requests keep being served, usage spools to the outbox, and lands exactly once after restart', async () => {
  const s = await startStack({ upstream: suite.mock().url });
  const t = trafficOn(s);
  await t.waitServed(30);

  await s.services.kill('redis');
  const killedAt = Date.now();
  const atKill = t.served.size;
  // The outage's length is the test's input: past the key cache's max age (4 s), keys come from its outage grace.
  await waitFor(() => Date.now() - killedAt >= 5_000 || t.failures.length > 0, 10_000, 'a 5 s outage');
  await t.waitServed(atKill + 100);
  const outageMs = Date.now() - killedAt;
  await waitFor(() => outboxBatches(s.proxy.outboxDir) > 0, 10_000, 'usage batches spooled to the outbox');
  const spooled = outboxBatches(s.proxy.outboxDir);

  const servedWhileDown = t.served.size - atKill;
  const restartedAt = Date.now();
  await s.services.start('redis');
  await waitFor(() => outboxBatches(s.proxy.outboxDir) === 0, 20_000, 'the outbox to drain');
  const drainedMs = Date.now() - restartedAt;
  await t.waitServed(t.served.size + 30);

  await expectAllServedStored(s, t, 'redis outage');
  console.info(`redis outage: down_ms=${outageMs} served_while_down=${servedWhileDown} outbox_files_seen=${spooled} outbox_drained_in_ms=${drainedMs} rows_complete_after_restart_ms=${Date.now() - restartedAt}`);
  // The worker rides out the outage on its own reconnects: it must not have crashed.
  expect({ exit: s.workers[0]!.proc.exitCode, log: s.workers[0]!.proc.exitCode === null ? '' : tail(s.workers[0]!) }).toEqual({ exit: null, log: '' });
}, 60_000);

test('ClickHouse killed mid-traffic: the worker retries and every row lands exactly once after restart', async () => {
  const s = await startStack({ upstream: suite.mock().url });
  const t = trafficOn(s);
  await t.waitServed(30);
  await waitFor(async () => (await s.stored()).uniq > 0, 10_000, 'first rows stored');

  await s.services.kill('clickhouse');
  const atKill = t.served.size;
  await t.waitServed(atKill + 40);
  const worker = s.workers[0]!;
  await worker.waitForLine((l) => l.includes('clickhouse insert failed; retrying'), 15_000, 'the worker to retry its insert');

  const restartedAt = Date.now();
  await s.services.start('clickhouse');
  await t.waitServed(t.served.size + 30);
  await expectAllServedStored(s, t, 'clickhouse outage');
  console.info(`clickhouse outage: rows complete ${Date.now() - restartedAt} ms after restart`);
}, 60_000);

test('Redis frozen (SIGSTOP) mid-traffic: sends time out into the outbox, late and replayed batches still count once', async () => {
  const s = await startStack({ upstream: suite.mock().url });
  const t = trafficOn(s);
  await t.waitServed(30);

  s.services.freeze('redis');
  const frozenAt = Date.now();
  // A frozen Redis accepts the connection and never answers: the producer's send timeout (1 s) is what spools.
  // Thawed well within the key cache's max age (4 s): past it, a frozen Redis stalls requests (reported separately).
  await waitFor(() => outboxBatches(s.proxy.outboxDir) > 0 || t.failures.length > 0, 10_000, 'a timed-out batch spooled');
  const frozenMs = Date.now() - frozenAt;
  s.services.thaw('redis');
  await t.waitServed(t.served.size + 30);

  await expectAllServedStored(s, t, 'redis freeze');
  console.info(`redis freeze: frozen_ms=${frozenMs} rows_complete_after_thaw_ms=${Date.now() - frozenAt - frozenMs}`);
}, 60_000);
