// Usage producer: batches snippets off the request path into one BullMQ job per batch, spooling to the disk outbox when Redis is down or slow.
/*
 * ## Usage durability (for the README)
 *
 * `push()` only appends to an in-memory array. A batch is cut when it holds `batchMax` snippets
 * (default 1024) or `batchIntervalMs` (default 100 ms) after its first snippet, and handed to Redis as
 * one BullMQ job whose id is fixed when the batch is cut (`u-<process>-<n>`).
 *
 * - Redis answers within `sendTimeoutMs` (default 1 s): the job is in Redis; from there Redis's own
 *   persistence settings (AOF/RDB) decide what a Redis crash loses.
 * - Redis refuses, is unreachable (the client fails fast: no offline queue), or does not answer in
 *   time: the batch is written to the outbox (one file per batch, written then renamed into place),
 *   and the producer stops trying Redis for new batches until a probe succeeds. A probe with
 *   exponential backoff (`retryMinMs`..`retryMaxMs`) and every reconnect drain the outbox oldest first,
 *   in `addBulk` calls of `drainChunk` files; a file is deleted only after Redis accepted its job. A
 *   batch that timed out may still reach Redis later: the same job id makes BullMQ ignore the second
 *   copy while the first is still kept (`keepCompleted`), and ClickHouse collapses any replay by
 *   request_id.
 * - The outbox is capped at `outboxMaxBytes` (default 1 GiB). Past it new batches are dropped,
 *   counted in `stats().droppedOutboxFull`, and logged once per episode.
 * - On startup the outbox left by a previous process is drained. Processes sharing a directory claim
 *   files by atomic rename, so each file is sent by one of them; a claim older than `staleClaimMs`
 *   (its owner died mid-send) is taken over.
 *
 * - Every pushed snippet is also copied into a crash journal (journal.ts: a memory-mapped ring in the outbox
 *   directory, `journalBytes`, default 8 MiB) until its batch is in Redis or an outbox file. The kernel keeps those
 *   pages when the process dies, and a process sharing the directory (the restarted pod) moves a journal whose
 *   heartbeat it has seen still for `journalStaleMs` into the outbox. Lines already delivered may be sent again then
 *   (two processes may even both recover one journal):
 *   ClickHouse collapses them by request_id.
 *
 * What can be lost:
 * - SIGTERM → `close()`: nothing. It sends or spools the open batch, waits for sends in flight (each
 *   bounded by `sendTimeoutMs`, then spooled), and pushes after close go straight to the outbox.
 * - SIGKILL or a crash of the process: nothing the journal holds; it holds every snippet not yet in Redis
 *   nor in an outbox file (the open batch and batches whose Redis call has not answered), unless the ring was
 *   full of such snippets (counted in `stats().journalSkipped`) or the journal is off. Without the journal: those
 *   snippets, that is the open batch (at most `batchMax`, pushed within the last `batchIntervalMs`) plus batches
 *   whose Redis call has not answered yet. Outbox files survive: they sit in the page cache.
 * - Machine crash or power loss: the journal's unsent lines, plus outbox files not yet written back by the kernel
 *   (Linux writes dirty pages back within about 30 s by default), unless `outboxFsync` is on, which
 *   fsyncs each file and the directory before counting it spooled. A file torn by the crash is set
 *   aside as `.bad` and logged, not sent. A file deleted just before the crash may come back and be
 *   sent again, which is harmless (same job id, same request_id). Files only exist while Redis is
 *   unreachable, so in normal operation a machine crash loses only what SIGKILL loses.
 * - Outbox full (a long outage): every batch that does not fit, counted and logged.
 * - Disk write errors (ENOSPC, EIO): the batch is kept in memory and retried (Redis or disk); beyond
 *   64 batches the oldest are dropped and counted in `stats().droppedIoError`.
 */
import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { encodeUsageJob, type UsageJobData } from './job-payload.ts';
import type { JournalMark } from './journal.ts';
import { JournalKeeper } from './journal-keeper.ts';
import { Outbox, type OutboxBatch } from './outbox.ts';
import {
  errText,
  resolveProducerOptions,
  USAGE_JOB_NAME,
  type ResolvedProducerOptions,
  type UsageLogger,
  type UsageProducerOptions,
} from './producer-options.ts';
import type { UsageSnippet } from './snippet.ts';

export type { UsageProducerOptions, UsageLogger } from './producer-options.ts';

export interface UsageProducerStats {
  /** Snippets held in memory: the open batch, batches being sent or written, batches waiting for a disk retry. */
  queued: number;
  outboxBytes: number;
  outboxFiles: number;
  /** Snippets Redis accepted, live or drained from the outbox. */
  sent: number;
  /** Snippets written to the outbox. */
  spooled: number;
  /** Snippets sent from the outbox (a part of `sent`). */
  drained: number;
  /** Snippets dropped because the outbox was full. */
  droppedOutboxFull: number;
  /** Snippets dropped because neither Redis nor the disk would take them for too long. */
  droppedIoError: number;
  redisUp: boolean;
  /** Redis attempts (probes, sends, drains) failed since it last took a batch; each doubles the retry delay. */
  consecutiveFailures: number;
  /** False while the outbox is full or its last write failed: a pod with Redis down and this false is losing usage. */
  outboxWritable: boolean;
  /** Snippets the crash journal could not hold (too large, or its ring full): a SIGKILL would lose those. */
  journalSkipped: number;
  /** Snippets recovered from the journals of processes that died, moved into the outbox. */
  journalRecovered: number;
}

export interface UsageProducer {
  /** Synchronous, O(1), never throws, never waits on Redis. */
  push(s: UsageSnippet): void;
  /** Send (or spool) everything pushed so far; resolves when each batch is in Redis or on disk. */
  flush(): Promise<void>;
  /** Stop timers, flush, close the Redis connection. Later pushes go straight to the outbox. */
  close(): Promise<void>;
  stats(): UsageProducerStats;
}

export type { UsageJobData };

/** Batches kept in memory when the disk refuses writes; beyond this the oldest go. */
const STRANDED_MAX_BATCHES = 64;

class TimeoutError extends Error {}

/** Reject after `ms`; the original promise keeps running, so its late outcome is silenced. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  p.catch(() => undefined);
  let t: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** unknown: not yet confirmed either way, so sends are tried. down: batches go straight to the outbox. */
type Link = 'unknown' | 'up' | 'down';

class Producer implements UsageProducer {
  private readonly o: ResolvedProducerOptions;
  private readonly log: UsageLogger;
  private readonly boot = randomBytes(6).toString('hex');
  private readonly redis: Redis;
  private queue: Queue<UsageJobData>;
  private readonly outbox: Outbox;
  private readonly journal: JournalKeeper;
  private readonly journalMarks = new WeakMap<OutboxBatch, JournalMark>();

  private open: UsageSnippet[] = [];
  /** The open batch's snippets as JSON text, in step with `open`. */
  private openJson: string[] = [];
  private batchTimer: ReturnType<typeof setTimeout> | undefined;
  private seq = 0;
  private readonly inflight = new Set<Promise<void>>();
  private inflightSnippets = 0;
  private stranded: OutboxBatch[] = [];

  private link: Link = 'unknown';
  private failures = 0;
  private maintTimer: ReturnType<typeof setTimeout> | undefined;
  private maintRunning: Promise<void> | undefined;
  private maintAgain = false;

  private closed = false;
  private closing: Promise<void> | undefined;
  private warnedLatePush = false;
  private diskFailing = false;

  private sent = 0;
  private spooled = 0;
  private drained = 0;
  private droppedIo = 0;

  constructor(o: ResolvedProducerOptions) {
    this.o = o;
    this.log = o.logger;
    this.outbox = new Outbox({
      dir: o.outboxDir,
      maxBytes: o.outboxMaxBytes,
      owner: this.boot,
      fsync: o.outboxFsync,
      staleClaimMs: o.staleClaimMs,
      logger: o.logger,
    });
    this.redis = new Redis(o.redisUrl, {
      // Fail fast instead of buffering commands while disconnected: a failed send goes to the outbox.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 5000,
      // Keep reconnecting in the background for as long as the process lives.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 2000),
      connectionName: `arouter-usage-${this.boot}`,
    });
    this.redis.on('error', (e: Error) => this.log('debug', 'usage redis connection error', { redis: o.redisTarget, error: e.message }));
    this.redis.on('close', () => {
      if (!this.closed) this.markDown(new Error('redis connection closed'));
    });
    this.redis.on('ready', () => this.schedule(0, true));
    this.queue = this.makeQueue();
    this.journal = new JournalKeeper({
      dir: o.outboxDir,
      owner: this.boot,
      bytes: o.journalBytes,
      staleMs: o.journalStaleMs,
      batchMax: o.batchMax,
      log: o.logger,
      spool: (batch) => {
        const r = this.outbox.appendSync(batch);
        if (r === 'written') this.spooled += batch.snippets.length;
        return r;
      },
      onRecovered: () => this.schedule(0, true),
    });
    // First run: confirm Redis and drain whatever a previous process left in the outbox.
    this.schedule(0, true);
  }

  push(s: UsageSnippet): void {
    try {
      if (this.closed) return this.pushAfterClose(s);
      // Encoded once, here: the journal copies this text and the batch's job and outbox file are made of it.
      const text = JSON.stringify(s);
      const b = this.open;
      b.push(s);
      this.openJson.push(text);
      this.journal.append(text);
      if (b.length >= this.o.batchMax) this.cut();
      else if (b.length === 1) this.batchTimer = setTimeout(this.onBatchTimer, this.o.batchIntervalMs);
    } catch (e) {
      this.log('error', 'usage push failed', { error: errText(e) });
    }
  }

  async flush(): Promise<void> {
    this.cut();
    // Snapshot: a flush waits for what was pushed before it, not for traffic that keeps arriving.
    await Promise.all([...this.inflight]);
    if (this.stranded.length > 0) {
      const again = this.stranded.splice(0);
      await Promise.all(again.map((b) => this.deliver(b)));
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  stats(): UsageProducerStats {
    let strandedSnippets = 0;
    for (const b of this.stranded) strandedSnippets += b.snippets.length;
    return {
      queued: this.open.length + this.inflightSnippets + strandedSnippets,
      outboxBytes: this.outbox.bytes,
      outboxFiles: this.outbox.files,
      sent: this.sent,
      spooled: this.spooled,
      drained: this.drained,
      droppedOutboxFull: this.outbox.droppedFull,
      droppedIoError: this.droppedIo,
      redisUp: this.link === 'up',
      consecutiveFailures: this.failures,
      outboxWritable: !this.diskFailing && !this.outbox.full,
      journalSkipped: this.journal.skipped,
      journalRecovered: this.journal.recovered,
    };
  }

  private makeQueue(): Queue<UsageJobData> {
    const j = this.o.jobOptions;
    const defaultJobOptions: JobsOptions = {
      attempts: j.attempts,
      backoff: { type: 'exponential', delay: j.backoffDelayMs },
      removeOnComplete: { count: j.keepCompleted.count, age: j.keepCompleted.ageSeconds },
      removeOnFail: { count: j.keepFailed.count, age: j.keepFailed.ageSeconds },
    };
    const q = new Queue<UsageJobData>(this.o.queueName, { connection: this.redis, defaultJobOptions });
    // An 'error' event without a listener would throw and take the proxy down.
    q.on('error', (e: Error) => this.log('debug', 'usage queue error', { error: e.message }));
    return q;
  }

  private readonly onBatchTimer = (): void => {
    this.batchTimer = undefined;
    this.cut();
  };

  private cut(): void {
    if (this.batchTimer !== undefined) {
      clearTimeout(this.batchTimer);
      this.batchTimer = undefined;
    }
    if (this.open.length === 0) return;
    const snippets = this.open;
    const json = this.openJson;
    this.open = [];
    this.openJson = [];
    const n = snippets.length;
    this.inflightSnippets += n;
    const batch: OutboxBatch = { id: this.nextId(), snippets, json };
    const mark = this.journal.cut();
    if (mark) this.journalMarks.set(batch, mark);
    const p: Promise<void> = this.deliver(batch).finally(() => {
      this.inflight.delete(p);
      this.inflightSnippets -= n;
    });
    this.inflight.add(p);
  }

  private nextId(): string {
    this.seq += 1;
    return `u-${this.boot}-${this.seq}`;
  }

  /** Never rejects: the batch ends in Redis, on disk, or in the stranded list. */
  private async deliver(batch: OutboxBatch): Promise<void> {
    if (this.link !== 'down' && (await this.send([batch]))) return this.settled(batch);
    try {
      if ((await this.outbox.append(batch)) === 'written') this.spooled += batch.snippets.length;
      // Written, or dropped and counted because the outbox is full: either way the journal need not hold it.
      this.settled(batch);
      this.diskFailing = false;
      this.schedule(this.backoff(), false);
    } catch (e) {
      this.diskFailing = true;
      this.strand(batch, e);
    }
  }

  /** One Redis round trip for all `batches`; false (and the link marked down) on error or timeout. */
  private async send(batches: readonly OutboxBatch[]): Promise<boolean> {
    const first = batches[0];
    if (first === undefined) return true;
    try {
      const p =
        batches.length === 1
          ? this.queue.add(USAGE_JOB_NAME, encodeUsageJob(first.snippets, first.json), { jobId: first.id })
          : this.queue.addBulk(await encodeYielding(batches));
      await within<unknown>(p, this.o.sendTimeoutMs, 'redis add');
    } catch (e) {
      this.markDown(e);
      return false;
    }
    for (const b of batches) this.sent += b.snippets.length;
    if (this.link === 'unknown') this.link = 'up';
    // Only a batch Redis took ends a failure streak: a Redis that answers PING but refuses writes (MISCONF, OOM under
    // noeviction, READONLY after a failover) would otherwise be retried at the shortest delay forever.
    this.failures = 0;
    return true;
  }

  private strand(batch: OutboxBatch, e: unknown): void {
    if (this.stranded.length === 0) {
      this.log('error', 'usage outbox write failed; holding batches in memory and retrying', { dir: this.o.outboxDir, error: errText(e) });
    }
    this.stranded.push(batch);
    while (this.stranded.length > STRANDED_MAX_BATCHES) {
      const lost = this.stranded.shift();
      if (lost) {
        this.droppedIo += lost.snippets.length;
        this.settled(lost);
      }
    }
    this.schedule(this.backoff(), false);
  }

  private pushAfterClose(s: UsageSnippet): void {
    if (!this.warnedLatePush) {
      this.warnedLatePush = true;
      this.log('warn', 'usage push after close: writing straight to the outbox', { dir: this.o.outboxDir });
    }
    try {
      if (this.outbox.appendSync({ id: this.nextId(), snippets: [s] }) === 'written') this.spooled += 1;
    } catch (e) {
      this.droppedIo += 1;
      this.log('error', 'usage snippet lost: outbox write failed after close', { error: errText(e), requestId: s.requestId });
    }
  }

  private markDown(e: unknown): void {
    if (this.link !== 'down') {
      this.link = 'down';
      if (!this.closed) {
        this.log('warn', 'usage: redis unavailable or slow; spooling usage batches to the outbox', { redis: this.o.redisTarget, error: errText(e) });
      }
    }
    this.schedule(this.backoff(), false);
  }

  private markUp(): void {
    if (this.link === 'down') {
      this.log('info', 'usage: redis reachable again; draining the outbox', { redis: this.o.redisTarget, outboxFiles: this.outbox.files });
    }
    this.link = 'up';
  }

  private backoff(): number {
    const base = Math.min(this.o.retryMaxMs, this.o.retryMinMs * 2 ** Math.min(this.failures, 30));
    // Jitter so that pods coming back together do not probe and drain in lockstep.
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  /** One maintenance run at a time; `urgent` (a reconnect) cuts a pending backoff short. */
  private schedule(delayMs: number, urgent: boolean): void {
    if (this.closed) return;
    if (this.maintRunning) {
      if (urgent) this.maintAgain = true;
      return;
    }
    if (this.maintTimer !== undefined) {
      if (!urgent) return;
      clearTimeout(this.maintTimer);
    }
    this.maintTimer = setTimeout(this.runMaintenance, urgent ? 0 : delayMs);
    // Background work must not keep a finished process alive; close() is the orderly end.
    this.maintTimer.unref();
  }

  private readonly runMaintenance = (): void => {
    this.maintTimer = undefined;
    const run = this.maintain().catch((e: unknown) => {
      this.log('error', 'usage outbox maintenance failed', { dir: this.o.outboxDir, error: errText(e) });
      this.failures += 1;
      return this.backoff();
    });
    this.maintRunning = run.then((next) => {
      this.maintRunning = undefined;
      if (this.closed) return;
      if (this.maintAgain) {
        this.maintAgain = false;
        this.schedule(0, true);
      } else if (next !== null) {
        this.schedule(next, false);
      }
    });
  };

  /** Probe Redis if needed, retry stranded batches, drain the outbox. Returns the delay to the next run, or null when idle. */
  private async maintain(): Promise<number | null> {
    if (this.link !== 'up' && !(await this.probe())) {
      this.failures += 1;
      await this.retryStranded();
      return this.backoff();
    }
    await this.retryStranded();
    const cands = await this.outbox.scan();
    let progressed = false;
    for (let i = 0; i < cands.length && !this.closed; i += this.o.drainChunk) {
      const claimed = await this.outbox.claim(cands.slice(i, i + this.o.drainChunk));
      if (claimed.length === 0) continue;
      if (!(await this.send(claimed.map((c) => c.batch)))) {
        await this.outbox.unclaim(claimed);
        this.failures += 1;
        return this.backoff();
      }
      await this.outbox.release(claimed);
      for (const c of claimed) this.drained += c.batch.snippets.length;
      progressed = true;
    }
    if (this.closed) return null;
    // Rescan after progress: batches may have been spooled while we drained.
    if (progressed) return 0;
    // Files claimed by another live process remain; look again later in case it dies holding them.
    return this.outbox.files > 0 ? this.o.retryMaxMs : null;
  }

  private async probe(): Promise<boolean> {
    try {
      // BullMQ's own connection setup must have finished before jobs can be added.
      await within(this.queue.waitUntilReady(), this.o.sendTimeoutMs, 'bullmq init');
    } catch (e) {
      if (!(e instanceof TimeoutError)) this.rebuildQueue(e);
      this.markDown(e);
      return false;
    }
    try {
      await within(this.redis.ping(), this.o.sendTimeoutMs, 'redis ping');
    } catch (e) {
      this.markDown(e);
      return false;
    }
    this.markUp();
    return true;
  }

  /** BullMQ's setup can fail for good (e.g. the connection dropped mid-handshake); a fresh Queue on the same connection recovers. */
  private rebuildQueue(e: unknown): void {
    this.log('warn', 'usage queue setup failed; recreating it', { error: errText(e) });
    const old = this.queue;
    this.queue = this.makeQueue();
    old.close().catch(() => undefined);
  }

  private async retryStranded(): Promise<void> {
    if (this.stranded.length === 0) return;
    const again = this.stranded.splice(0);
    for (const b of again) await this.deliver(b);
  }

  private async shutdown(): Promise<void> {
    // Pushes during this first flush still batch normally; after it they go straight to disk.
    await this.flush();
    this.closed = true;
    if (this.maintTimer !== undefined) clearTimeout(this.maintTimer);
    this.maintTimer = undefined;
    await this.flush();
    // A drain in progress stops after its current chunk.
    await this.maintRunning;
    let lostAtClose = false;
    if (this.stranded.length > 0) {
      const lost = this.stranded.splice(0);
      let n = 0;
      for (const b of lost) {
        try {
          if (this.outbox.appendSync(b) === 'written') this.spooled += b.snippets.length;
        } catch {
          n += b.snippets.length;
        }
      }
      if (n > 0) {
        this.droppedIo += n;
        this.log('error', 'usage snippets lost at close: neither redis nor the outbox took them (the crash journal, when on, keeps them for the next process on this outbox)', { snippets: n });
      }
      lostAtClose = n > 0;
    }
    // Every batch is in Redis or on disk (or kept by the journal), and later pushes go straight to disk.
    this.journal.close(lostAtClose);
    await within(this.queue.close(), this.o.sendTimeoutMs, 'queue close').catch(() => undefined);
    await within(this.redis.quit(), this.o.sendTimeoutMs, 'redis quit').catch(() => this.redis.disconnect());
  }

  /** The batch is in Redis, in an outbox file, or counted lost: its journal lines may go. */
  private settled(batch: OutboxBatch): void {
    this.journal.ack(this.journalMarks.get(batch));
  }
}

/**
 * A drain's jobs, one batch encoded per turn of the event loop: a chunk of full batches takes 100 ms and more to
 * encode, which in one go would stall every response the process is relaying.
 */
async function encodeYielding(batches: readonly OutboxBatch[]): Promise<{ name: string; data: UsageJobData; opts: JobsOptions }[]> {
  const jobs = [];
  for (const b of batches) {
    jobs.push({ name: USAGE_JOB_NAME, data: encodeUsageJob(b.snippets, b.json), opts: { jobId: b.id } });
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return jobs;
}

/** Build a producer; options are validated here, once (TypeError on bad input). */
export function createUsageProducer(options: UsageProducerOptions): UsageProducer {
  return new Producer(resolveProducerOptions(options));
}
