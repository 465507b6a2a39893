// Usage worker process: `bun run workers/main.ts`. Settings from the environment (see workers/settings.ts).
import { loadPriceTable, type PriceTable } from '../src/usage/prices.ts';
import { readWorkerSettings, type WorkerSettings } from './settings.ts';
import { jsonLogger as log, startUsageWorker, type UsageWorkerHandle } from './usage-worker.ts';

let settings: WorkerSettings;
let prices: PriceTable;
try {
  settings = readWorkerSettings();
  // A price table that cannot load never will: exit now rather than retry below as if a service were still down.
  prices = loadPriceTable(settings.pricesFile);
} catch (e) {
  log('error', (e as Error).message);
  process.exit(1);
}
/** Beyond AROUTER_WORKER_SHUTDOWN_MS (the last insert's retries), for BullMQ's own close and the job moves. */
const CLOSE_MARGIN_MS = 5_000;
let handle: UsageWorkerHandle | undefined;
let stopping = false;

async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('info', 'usage worker stopping', { signal });
  // close() waits on Redis (BullMQ's close, the jobs' moves) with no deadline of its own: with Redis unreachable it
  // would never return. Jobs still active stay in Redis and come back after the stalled interval, so nothing is lost.
  const deadlineMs = settings.shutdownMs + CLOSE_MARGIN_MS;
  const deadline = setTimeout(() => {
    log('error', 'usage worker did not stop within its shutdown deadline; exiting, its active jobs will be retried', { deadlineMs });
    process.exit(1);
  }, deadlineMs);
  try {
    await handle?.close();
    clearTimeout(deadline);
    process.exit(0);
  } catch (e) {
    log('error', 'usage worker did not stop cleanly', { error: (e as Error).message });
    process.exit(1);
  }
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
// A closed terminal sends SIGHUP to the whole process group: finish the inserts in flight as for the others.
process.on('SIGHUP', () => void stop('SIGHUP'));

// ClickHouse or Redis may come up after us (compose, CI): keep trying to start rather than crash-loop.
for (let attempt = 1; !stopping; attempt++) {
  try {
    handle = await startUsageWorker(settings, { log, prices });
    if (stopping) await handle.close();
    break;
  } catch (e) {
    const delay = Math.min(500 * 2 ** Math.min(attempt - 1, 10), 15_000);
    log('warn', 'usage worker could not start; retrying', { attempt, delayMs: delay, error: (e as Error).message });
    await Bun.sleep(delay);
  }
}
