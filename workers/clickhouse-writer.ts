// Buffers rows and inserts them into ClickHouse in JSONEachRow batches (N rows or T ms), retrying until they land.
import type { ClickHouseClient } from '@clickhouse/client';

export class WriterClosedError extends Error {
  readonly code = 'writer_closed';
  readonly status = 503;
  constructor() {
    super('usage writer is closed; the rows were not confirmed as written');
  }
}

export interface ClickHouseWriterOptions<Row> {
  /** Only insert is used; a narrower type lets tests observe the inserts. */
  client: Pick<ClickHouseClient, 'insert'>;
  /** Database-qualified table name, e.g. arouter.usage_events. */
  table: string;
  /** Insert as soon as this many rows are buffered. */
  maxRows: number;
  /** ... or this long after the oldest buffered row arrived. */
  flushMs: number;
  /** Backoff between failed attempts: doubles from retryBaseMs up to retryMaxMs, with jitter. */
  retryBaseMs?: number;
  retryMaxMs: number;
  /** Runs after each successful insert, inside the retried unit (a failure re-inserts; duplicates collapse). */
  afterInsert?: (rows: readonly Row[]) => Promise<void>;
  /** Told about every failed attempt; messages carry no credentials. */
  onRetry?: (err: Error, attempt: number, delayMs: number) => void;
}

interface Pending<Row> {
  rows: readonly Row[];
  at: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * One insert in flight at a time: ClickHouse prefers few large inserts, and rows written while one is in flight
 * simply join the next batch. write() settles only when its rows are in (or the writer is aborted), which is what
 * lets the worker complete a job only after its rows are stored.
 */
export class ClickHouseWriter<Row extends object> {
  private buffer: Pending<Row>[] = [];
  private bufferedRows = 0;
  private inFlight: Pending<Row>[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private draining = false;
  private closed = false;
  private readonly abort = new AbortController();
  private idle: Promise<void> = Promise.resolve();
  private settleIdle: () => void = () => {};

  constructor(private readonly opts: ClickHouseWriterOptions<Row>) {}

  /** Rows waiting for, or in, an insert. */
  get pendingRows(): number {
    return this.bufferedRows + this.inFlight.reduce((n, p) => n + p.rows.length, 0);
  }

  write(rows: readonly Row[]): Promise<void> {
    if (this.closed || this.abort.signal.aborted) return Promise.reject(new WriterClosedError());
    if (rows.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      if (this.buffer.length === 0 && !this.running) this.idle = new Promise((r) => (this.settleIdle = r));
      this.buffer.push({ rows, at: Date.now(), resolve, reject });
      this.bufferedRows += rows.length;
      this.schedule();
    });
  }

  /** From now on, insert whatever is buffered at once instead of waiting for the interval (shutdown). */
  drain(): void {
    this.draining = true;
    this.schedule();
  }

  /** Drain, then refuse further writes. After timeoutMs, whatever is still unwritten is rejected (see abortPending). */
  async close(timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.drain();
    const deadline = Number.isFinite(timeoutMs) ? setTimeout(() => this.abortPending(), timeoutMs) : undefined;
    try {
      await this.idle;
    } finally {
      clearTimeout(deadline);
      this.closed = true;
    }
  }

  /** Stop retrying and reject every unconfirmed write with WriterClosedError, so their jobs can go back to the queue. */
  abortPending(): void {
    this.abort.abort();
    clearTimeout(this.timer);
    const err = new WriterClosedError();
    for (const p of [...this.inFlight, ...this.buffer]) p.reject(err);
    this.inFlight = [];
    this.buffer = [];
    this.bufferedRows = 0;
    this.settleIdle();
  }

  private schedule(): void {
    if (this.running || this.buffer.length === 0) return;
    clearTimeout(this.timer);
    const oldest = this.buffer[0]!.at;
    const wait = this.draining || this.bufferedRows >= this.opts.maxRows ? 0 : Math.max(0, oldest + this.opts.flushMs - Date.now());
    if (wait === 0) void this.run();
    else this.timer = setTimeout(() => void this.run(), wait);
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    clearTimeout(this.timer);
    try {
      while (this.buffer.length > 0 && !this.abort.signal.aborted) {
        const batch = this.takeBatch();
        const rows = batch.flatMap((p) => p.rows);
        try {
          await this.insertWithRetry(rows);
        } catch {
          break; // aborted: abortPending already rejected this batch
        }
        for (const p of batch) p.resolve();
        this.inFlight = [];
        const full = this.bufferedRows >= this.opts.maxRows;
        if (!full && !this.draining) break;
      }
    } finally {
      this.running = false;
    }
    if (this.buffer.length === 0) this.settleIdle();
    else this.schedule();
  }

  /** Whole writes only, so a write's rows are confirmed together; at least one write even if it alone exceeds maxRows. */
  private takeBatch(): Pending<Row>[] {
    const batch: Pending<Row>[] = [];
    let n = 0;
    while (this.buffer.length > 0 && (batch.length === 0 || n + this.buffer[0]!.rows.length <= this.opts.maxRows)) {
      const p = this.buffer.shift()!;
      batch.push(p);
      n += p.rows.length;
    }
    this.bufferedRows -= n;
    this.inFlight = batch;
    return batch;
  }

  private async insertWithRetry(rows: Row[]): Promise<void> {
    const base = this.opts.retryBaseMs ?? 100;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.opts.client.insert({ table: this.opts.table, values: rows, format: 'JSONEachRow' });
        await this.opts.afterInsert?.(rows);
        return;
      } catch (e) {
        if (this.abort.signal.aborted) throw new WriterClosedError();
        const ceiling = Math.min(base * 2 ** Math.min(attempt - 1, 30), this.opts.retryMaxMs);
        const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
        this.opts.onRetry?.(e instanceof Error ? e : new Error(String(e)), attempt, delay);
        await sleep(delay, this.abort.signal);
        if (this.abort.signal.aborted) throw new WriterClosedError();
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
