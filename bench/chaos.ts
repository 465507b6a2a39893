// Chaos bench: load through a private deployment while Redis, ClickHouse, workers and the proxy are killed and frozen;
// prints served vs stored.
//
//   bun run bench/chaos.ts [--seconds 60] [--concurrency 16]
//
// Starts its own Redis + ClickHouse (scripts/services.sh, free ports), a fixture-replaying mock upstream, two usage
// workers and the proxy, all as separate processes. Stops everything it started on exit or Ctrl-C. Exit code 1 when
// the usage rows (ClickHouse, FINAL) are not exactly the requests served.
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { spawnChild, type Child } from '../test/helpers/hardening-proc.ts';
import { startStack, within, type FaultStack } from '../test/helpers/faults-stack.ts';
import { OPENAI_CHAT_CALL, startTraffic, type ProxyCall, type Traffic } from '../test/helpers/faults-traffic.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, concurrency: { type: 'string', default: '16' } } });
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
if (!(SECONDS >= 10) || !(CONCURRENCY >= 1)) {
  console.error('usage: bun run bench/chaos.ts [--seconds N>=10] [--concurrency N>=1]');
  process.exit(2);
}
const SETTLE_DEADLINE_MS = 180_000;

const ANTHROPIC_STREAM_CALL: ProxyCall = {
  path: '/anthropic/v1/messages',
  body: JSON.stringify({ model: 'claude-3-opus-latest', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
};

interface EventRecord {
  at_s: number;
  action: string;
  took_ms: number;
  error?: string;
}

let stack: FaultStack | undefined;
let mock: Child | undefined;
let traffic: Traffic | undefined;
const slots: Child[] = [];
const events: EventRecord[] = [];
const t0 = Date.now();
/** When the load started; the schedule counts from here. */
let t0Load = 0;
const since = () => Math.round((Date.now() - t0) / 100) / 10;

async function teardown(): Promise<void> {
  await traffic?.stop().catch(() => undefined);
  await stack?.close().catch(() => undefined);
  mock?.kill('SIGKILL');
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`chaos: ${sig}, stopping everything`);
    void teardown().finally(() => process.exit(130));
  });
}

/** Operations on one worker slot run one after another: a kill waits for a restart still in progress on that slot. */
const slotOps: Promise<unknown>[] = [];
function onSlot(i: number, op: () => Promise<void>): Promise<void> {
  const p = (slotOps[i] ?? Promise.resolve()).then(op);
  slotOps[i] = p.catch(() => undefined);
  return p;
}
const killWorker = (i: number): Promise<void> =>
  onSlot(i, async () => {
    const w = slots[i];
    if (!w) return;
    w.kill('SIGKILL');
    await w.exited;
  });
const restartWorker = (i: number): Promise<void> =>
  onSlot(i, async () => {
    if (stack) slots[i] = await stack.startWorker();
  });

/** The proxy dies as under the OOM killer; its successor on the same outbox recovers the usage it had not sent. */
let deadOutbox = '';
async function killProxy(s: FaultStack): Promise<void> {
  deadOutbox = s.proxy.outboxDir;
  s.proxy.kill('SIGKILL');
  await s.proxy.exited;
}
async function restartProxy(s: FaultStack): Promise<void> {
  await s.startProxy({ AROUTER_OUTBOX_DIR: deadOutbox, AROUTER_USAGE_JOURNAL_STALE_MS: '3000' });
}

/** One fault: `hit` now, `heal` after `holdS` (both scaled with the run length). */
interface Fault {
  atS: number;
  holdS: number;
  name: string;
  hit(s: FaultStack): Promise<void> | void;
  heal(s: FaultStack): Promise<void> | void;
}

/** Laid out for 60 s and stretched or squeezed to --seconds. Faults overlap on purpose near the end. */
const SCHEDULE: Fault[] = [
  { atS: 5, holdS: 3, name: 'redis SIGSTOP 3s', hit: (s) => s.services.freeze('redis'), heal: (s) => s.services.thaw('redis') },
  { atS: 10, holdS: 2, name: 'worker 0 SIGKILL, restart after 2s', hit: () => killWorker(0), heal: () => restartWorker(0) },
  { atS: 15, holdS: 4, name: 'redis SIGKILL, restart after 4s', hit: (s) => s.services.kill('redis'), heal: (s) => s.services.start('redis') },
  { atS: 23, holdS: 5, name: 'clickhouse SIGKILL, restart after 5s', hit: (s) => s.services.kill('clickhouse'), heal: (s) => s.services.start('clickhouse') },
  { atS: 29, holdS: 1, name: 'proxy SIGKILL, a new one on its outbox after 1s (its crash journal recovered)', hit: (s) => killProxy(s), heal: (s) => restartProxy(s) },
  { atS: 32, holdS: 6, name: 'redis SIGSTOP 6s (past the key cache max age)', hit: (s) => s.services.freeze('redis'), heal: (s) => s.services.thaw('redis') },
  { atS: 41, holdS: 1, name: 'worker 1 SIGKILL, restart after 1s', hit: () => killWorker(1), heal: () => restartWorker(1) },
  { atS: 44, holdS: 3, name: 'clickhouse SIGKILL, restart after 3s', hit: (s) => s.services.kill('clickhouse'), heal: (s) => s.services.start('clickhouse') },
  { atS: 49, holdS: 2, name: 'both workers SIGKILL, restart after 2s', hit: async () => { await killWorker(0); await killWorker(1); }, heal: async () => { await restartWorker(0); await restartWorker(1); } },
  { atS: 53, holdS: 3, name: 'redis SIGKILL + worker 0 SIGKILL, restart after 3s', hit: async (s) => { await s.services.kill('redis'); await killWorker(0); }, heal: async (s) => { await s.services.start('redis'); await restartWorker(0); } },
];

async function runFault(s: FaultStack, f: Fault, scale: number): Promise<void> {
  await Bun.sleep(Math.max(0, t0Load + f.atS * scale * 1000 - Date.now()));
  const at = since();
  const started = Date.now();
  let error: string | undefined;
  try {
    await f.hit(s);
    await Bun.sleep(f.holdS * scale * 1000);
    await f.heal(s);
  } catch (e) {
    error = e instanceof Error ? e.message.slice(0, 300) : String(e);
  }
  events.push({ at_s: at, action: f.name, took_ms: Date.now() - started, ...(error ? { error } : {}) });
  console.error(`chaos: t=${at}s ${f.name}${error ? ` FAILED: ${error}` : ''}`);
}

async function main(): Promise<number> {
  mock = spawnChild(['bun', 'run', 'test/helpers/faults-mock.ts'], {});
  const line = await mock.waitForLine((l) => l.startsWith('{"mock_port"'), 10_000, 'the mock upstream');
  const upstream = `http://127.0.0.1:${(JSON.parse(line) as { mock_port: number }).mock_port}`;
  // Workers give up a dead worker's jobs after 3-6 s, so recovery shows within the run.
  stack = await startStack({ upstream, workerEnv: { AROUTER_WORKER_STALLED_MS: '3000' } });
  const s = stack;
  slots.push(s.workers[0]!, await s.startWorker());
  console.error(`chaos: redis ${s.services.redisUrl}, clickhouse ${s.services.clickhouseUrl}, proxy ${s.proxy.url}, ${SECONDS}s at concurrency ${CONCURRENCY}`);

  let n = 0;
  traffic = startTraffic({ target: () => ({ url: s.proxy.url, key: s.proxy.key }), concurrency: CONCURRENCY, next: () => (++n % 4 === 0 ? ANTHROPIC_STREAM_CALL : OPENAI_CHAT_CALL) });
  t0Load = Date.now();
  let outboxPeak = 0;
  const sampler = setInterval(() => {
    try {
      outboxPeak = Math.max(outboxPeak, readdirSync(s.proxy.outboxDir).filter((f) => f.endsWith('.batch')).length);
    } catch {
      // the directory is created by the proxy; nothing to count yet
    }
  }, 100);
  const scale = SECONDS / 60;
  // Load runs for --seconds and on until the last fault has healed, so no fault ends in a quiet pipeline.
  await Promise.all([...SCHEDULE.map((f) => runFault(s, f, scale)), Bun.sleep(SECONDS * 1000)]);
  await traffic.stop();
  const loadS = (Date.now() - t0Load) / 1000;
  console.error(`chaos: load stopped at t=${since()}s; waiting for the pipeline to settle`);

  // Whatever the schedule did, both workers must be alive for the tail of the pipeline to drain.
  for (let i = 0; i < slots.length; i++) if (slots[i]!.proc.exitCode !== null || slots[i]!.proc.signalCode !== null) await restartWorker(i);
  const served = traffic.served;
  const settleStart = Date.now();
  let stored = { count: 0, uniq: 0 };
  let settled = false;
  while (Date.now() - settleStart < SETTLE_DEADLINE_MS) {
    try {
      stored = await within(s.stored(), 5_000, 'stored');
      if (stored.uniq >= served.size && (await s.idle())) {
        settled = true;
        break;
      }
    } catch {
      // a server still coming back: poll again
    }
    await Bun.sleep(250);
  }
  clearInterval(sampler);
  const settleMs = Date.now() - settleStart;
  const ids = await s.storedIds();
  const missing = [...served].filter((id) => !ids.has(id));
  const extra = [...ids].filter((id) => !served.has(id));
  const physical = await s.physicalCount();
  const insertRetries = s.workers.reduce((k, w) => k + w.lines.filter((l) => l.includes('clickhouse insert failed; retrying')).length, 0);
  const duplicates = stored.count - stored.uniq;

  const report = {
    seconds: SECONDS,
    concurrency: CONCURRENCY,
    load_s: Math.round(loadS * 10) / 10,
    requests_sent: traffic.sent,
    served: served.size,
    served_per_s: Math.round(served.size / loadS),
    answered_not_200: traffic.answeredNot200.size,
    failures: traffic.failures.length,
    failure_samples: [...new Set(traffic.failures)].slice(0, 5),
    max_latency_ms: traffic.maxLatencyMs,
    responses_over_5s: traffic.slow,
    stored: stored.count,
    distinct_request_ids: stored.uniq,
    duplicates,
    missing: missing.length,
    missing_samples: missing.slice(0, 5),
    extra_rows: extra.length,
    physical_rows: physical,
    // Replays (re-run jobs, re-sent batches) inserted but not yet merged away; merges may already have removed others.
    replayed_rows_not_yet_merged: physical - stored.count,
    outbox_peak_files: outboxPeak,
    worker_insert_retries: insertRetries,
    workers_started: s.workers.length,
    settled,
    settle_ms: settleMs,
    events,
  };
  console.log(JSON.stringify(report, null, 2));
  console.log(`served=${served.size} stored=${stored.count} duplicates=${duplicates} missing=${missing.length}`);
  return settled && stored.count === served.size && duplicates === 0 && missing.length === 0 && extra.length === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  console.error(`chaos: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
} finally {
  await teardown();
}
process.exit(code);
