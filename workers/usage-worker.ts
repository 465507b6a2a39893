// The usage worker: BullMQ jobs of snippets → normalize → price → rows → batched ClickHouse insert → job complete.
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { decodeUsageJob } from '../src/usage/job-payload.ts';
import { missingUsage, normalizeSnippet } from '../src/usage/normalize.ts';
import { loadPriceTable, type PriceTable } from '../src/usage/prices.ts';
import { USAGE_JOB_NAME } from '../src/usage/producer-options.ts';
import type { CanonicalUsage, UsageSnippet } from '../src/usage/snippet.ts';
import { isSuccess } from '../src/usage/formats/common.ts';
import { formatById, type LineFormat } from '../src/usage/formats/index.ts';
import { batchRows } from './batch-rows.ts';
import { redisClaims, type ClaimFirst } from './claims.ts';
import { ClickHouseWriter, RowsRefusedError, WriterClosedError } from './clickhouse-writer.ts';
import { checkSnippet } from './job-schema.ts';
import { runMigrations, USAGE_TABLE } from './migrations.ts';
import { markHoursDirty, rowHours } from './rollup.ts';
import { buildRow, type UsageRow } from './row.ts';
import { startSealer, type Sealer } from './sealer.ts';
import { redactUrl, type WorkerSettings } from './settings.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type WorkerLogger = (level: LogLevel, msg: string, fields?: Record<string, string | number | boolean | undefined>) => void;

export const jsonLogger: WorkerLogger = (level, msg, fields) => {
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  if (level === 'error' || level === 'warn') console.error(line);
  else console.log(line);
};

/** A snippet's usage, and why it is missing when it could not be normalized. */
interface Normalized {
  usage: CanonicalUsage;
  reason?: string;
}

export interface UsageJobResult {
  written: number;
  /** Snippets split off into their own (failing) jobs. */
  rejected: number;
}

export interface UsageWorkerDeps {
  normalize?: (s: UsageSnippet) => CanonicalUsage;
  prices?: PriceTable;
  log?: WorkerLogger;
  /** Who first reported some usage (default: a claim in the queue's Redis). */
  claimFirst?: ClaimFirst;
}

export interface UsageWorkerHandle {
  /** Stop taking jobs, let the current ones finish and their rows flush (bounded by shutdownMs), then disconnect. */
  close(): Promise<void>;
  /** The rollup sealer, for tests and tools that want a pass now. */
  sealer: Sealer;
}

/** Anthropic keeps results 29 days; an output file (OpenAI and the others) lives until it is deleted, so a read of
 *  one more than 400 days after its first is counted again. */
const RESULTS_CLAIM_TTL_S = 400 * 86_400;
/** Longer than a stored response stays readable (OpenAI keeps them 30 days). */
const ONCE_CLAIM_TTL_S = 35 * 86_400;

/** When ClickHouse stays away past the shutdown deadline, a job goes back to the queue this long into the future. */
const REQUEUE_DELAY_MS = 5_000;

export function clickhouseClient(s: WorkerSettings): ClickHouseClient {
  return createClient({
    url: s.clickhouseUrl,
    username: s.clickhouseUser,
    password: s.clickhousePassword,
    request_timeout: 60_000,
    // Failed inserts are reported once each through the writer's onRetry; the client's own log would repeat them.
    log: { level: ClickHouseLogLevel.OFF },
  });
}

/** Runs migrations first (idempotent), so every worker can start against an empty ClickHouse. */
export async function startUsageWorker(settings: WorkerSettings, deps: UsageWorkerDeps = {}): Promise<UsageWorkerHandle> {
  const log = deps.log ?? jsonLogger;
  const normalize = deps.normalize ?? normalizeSnippet;
  const prices = deps.prices ?? loadPriceTable(settings.pricesFile);
  const db = settings.clickhouseDb;
  const ch = clickhouseClient(settings);
  try {
    await runMigrations(ch, db);
  } catch (e) {
    await ch.close();
    throw e;
  }

  const writer = new ClickHouseWriter<UsageRow>({
    client: ch,
    table: `${db}.${USAGE_TABLE}`,
    maxRows: settings.batchRows,
    flushMs: settings.flushMs,
    retryMaxMs: settings.retryMaxMs,
    // Rows for an hour that is already over may land after that hour was sealed into the rollup; say so.
    afterInsert: (rows) => markHoursDirty(ch, db, rowHours(rows.map((r) => r.ts))),
    onRetry: (err, attempt, delayMs) =>
      log('warn', 'clickhouse insert failed; retrying', { attempt, delayMs, error: err.message, clickhouse: redactUrl(settings.clickhouseUrl) }),
  });

  // BullMQ needs maxRetriesPerRequest: null on the worker's connection (its blocking reads must not be cut short).
  const redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(settings.queueName, { connection: redis });
  const claimFirst = deps.claimFirst ?? redisClaims(redis, settings.queueName);

  async function splitOff(job: Job, bad: Array<{ index: number; snippet: unknown }>): Promise<void> {
    const base = String(job.id ?? `job-${Date.now()}`).replaceAll(':', '_');
    // A fixed id per (job, index): if this job is retried after the split, BullMQ ignores the second copy.
    await queue.addBulk(
      bad.map((b) => ({
        name: USAGE_JOB_NAME,
        data: { snippets: [b.snippet] },
        opts: { jobId: `${base}-bad-${b.index}`, attempts: 1, removeOnFail: { count: settings.keepFailed } },
      })),
    );
  }

  /**
   * A snippet that cannot be normalized here (a format this build does not know: a newer proxy during a rolling
   * deploy) is still the record of a request. It is written with missing usage, the reason in `error`, and its raw
   * capture in raw_usage, so it is never lost and a re-normalization by a newer build can replace it (same key,
   * higher version).
   */
  function usageOf(s: UsageSnippet): Normalized {
    try {
      return { usage: normalize(s) };
    } catch (e) {
      return { usage: missingUsage(s), reason: `usage not normalized: ${(e as Error).message}`.slice(0, 300) };
    }
  }

  function rowOf(s: UsageSnippet, u: Normalized, now: number): UsageRow {
    const row = buildRow(s, u.usage, prices, now);
    if (u.reason) row.error = (row.error ? `${row.error}; ${u.reason}` : u.reason).slice(0, 1024);
    return row;
  }

  /**
   * Usage that other requests can report too (a background response: its streamed creation, each finished read) is
   * counted by the first of them; the others are written as what they also are, reads with no tokens of their own.
   */
  async function onceRowOf(s: UsageSnippet, u: Normalized, key: string, now: number): Promise<UsageRow> {
    const first = await claimFirst(s, key, ONCE_CLAIM_TTL_S);
    if (first.requestId === s.requestId) return rowOf(s, u, now);
    return rowOf(s, { usage: { ...missingUsage(s), model: u.usage.model } }, now);
  }

  /**
   * The line format of a successful read of batch results that found usage, which becomes one row per model (see
   * batch-rows.ts). A read without any (an input file, a file-extract read, a read cut before its first line) has
   * nothing to count twice: it is an ordinary row under its own id.
   */
  function batchFormatOf(s: UsageSnippet): LineFormat | undefined {
    const found = s.capture.kind === 'lines' && s.capture.groups.length > 0;
    return found && isSuccess(s.status) ? formatById(s.format)?.lines : undefined;
  }

  /**
   * The batch's usage rows under the first reader's identity (see batch-rows.ts); a later read also keeps a row of
   * its own, under its own id, account and key, with no tokens: who read what stays on record.
   */
  async function batchRowsOf(s: UsageSnippet, lines: LineFormat, now: number): Promise<UsageRow[]> {
    const first = await claimFirst(s, `results:${s.path}`, RESULTS_CLAIM_TTL_S);
    const rows = batchRows(s, first, lines, prices, now);
    if (first.requestId !== s.requestId) rows.push(rowOf(s, { usage: missingUsage(s) }, now));
    return rows;
  }

  async function processJob(job: Job<unknown, UsageJobResult>, token?: string): Promise<UsageJobResult> {
    const decoded = decodeUsageJob(job.data);
    if (!decoded.ok) throw new UnrecoverableError(decoded.error);
    const snippets = decoded.snippets;
    const rows: UsageRow[] = [];
    const bad: Array<{ index: number; snippet: unknown; error: string }> = [];
    const now = Date.now();
    for (const [index, raw] of snippets.entries()) {
      const checked = checkSnippet(raw);
      if (!checked.ok) {
        bad.push({ index, snippet: raw, error: checked.error });
        continue;
      }
      const s = checked.snippet;
      const lines = batchFormatOf(s);
      if (lines) {
        rows.push(...(await batchRowsOf(s, lines, now)));
        continue;
      }
      const u = usageOf(s);
      rows.push(u.usage.once_key ? await onceRowOf(s, u, u.usage.once_key, now) : rowOf(s, u, now));
    }
    // A job holding only the bad snippet is where it fails for good, with its reason, in BullMQ's failed set.
    if (bad.length > 0 && snippets.length === 1) throw new UnrecoverableError(bad[0]!.error);
    try {
      await writer.write(rows);
    } catch (e) {
      // Rows ClickHouse will never take: the job goes to the failed set at once, with the reason (`usage retry` after a fix).
      if (e instanceof RowsRefusedError) throw new UnrecoverableError(e.message);
      if (!(e instanceof WriterClosedError)) throw e;
      // Shutting down with ClickHouse away: hand the job back without spending one of its attempts.
      await job.moveToDelayed(Date.now() + REQUEUE_DELAY_MS, token);
      throw new DelayedError();
    }
    if (bad.length > 0) await splitOff(job, bad);
    return { written: rows.length, rejected: bad.length };
  }

  const worker = new Worker<unknown, UsageJobResult>(settings.queueName, processJob, {
    connection: redis,
    concurrency: settings.concurrency,
    // Defaults for jobs that do not say (the producer's own keep policy wins when it sets one).
    removeOnComplete: { count: settings.keepCompleted },
    removeOnFail: { count: settings.keepFailed },
    // Re-running a stalled job only re-inserts rows that collapse by request_id; failing it would lose them.
    maxStalledCount: 10,
    // A worker that dies (SIGKILL, OOM) holds its jobs until its lock lapses and a stalled check sees it: 1-2 periods.
    lockDuration: settings.stalledMs,
    stalledInterval: settings.stalledMs,
  });
  worker.on('failed', (job, err) => log('warn', 'usage job failed', { job: job?.id, error: err.message }));
  worker.on('error', (err) => log('error', 'usage worker error', { error: err.message }));

  const sealer = startSealer({
    ch,
    db,
    redis,
    intervalMs: settings.rollupIntervalMs,
    lookbackHours: settings.rollupLookbackHours,
    log,
  });

  log('info', 'usage worker started', {
    queue: settings.queueName,
    db,
    clickhouse: redactUrl(settings.clickhouseUrl),
    redis: redactUrl(settings.redisUrl),
    concurrency: settings.concurrency,
  });

  let closing: Promise<void> | undefined;
  return {
    sealer,
    close() {
      closing ??= (async () => {
        writer.drain();
        const deadline = setTimeout(() => writer.abortPending(), settings.shutdownMs);
        try {
          await Promise.all([worker.close(), sealer.close()]);
          await writer.close();
        } finally {
          clearTimeout(deadline);
          await queue.close();
          redis.disconnect();
          await ch.close();
        }
        log('info', 'usage worker stopped');
      })();
      return closing;
    },
  };
}
