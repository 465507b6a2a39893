// Buffers rows and inserts them into ClickHouse in JSONEachRow batches (N rows or T ms), retrying until they land.
import type { ClickHouseClient } from '@clickhouse/client';

export class WriterClosedError extends Error {
  readonly code = 'writer_closed';
  readonly status = 503;
  constructor() {
    super('usage writer is closed; the rows were not confirmed as written');
  }
}

/** ClickHouse refused a write's rows as data (it cannot parse them, a value out of range): no retry can land them. */
export class RowsRefusedError extends Error {
  readonly code = 'rows_refused';
  constructor(readonly reason: string) {
    super(`ClickHouse refused these rows: ${reason.slice(0, 500)}`);
  }
}

/**
 * ClickHouse error codes that are about the rows sent, not the server's state: CANNOT_PARSE_TEXT (6),
 * CANNOT_PARSE_QUOTED_STRING (26), CANNOT_PARSE_INPUT_ASSERTION_FAILED (27), CANNOT_PARSE_DATE (38),
 * CANNOT_PARSE_DATETIME (41), TYPE_MISMATCH (53), SYNTAX_ERROR (62), ARGUMENT_OUT_OF_BOUND (69),
 * CANNOT_CONVERT_TYPE (70), CANNOT_PARSE_NUMBER (72), INCORRECT_DATA (117). A retry of such a batch fails the same way.
 */
const DATA_ERRORS = new Set(['6', '26', '27', '38', '41', '53', '62', '69', '70', '72', '117']);
function isDataError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (code !== undefined) return DATA_ERRORS.has(String(code));
  // The client parses the code out of current servers' messages only; 18.16 says "Code: 27, e.displayText() = ...".
  const m = /^Code: (\d+)[,.]/.exec(e instanceof Error ? e.message : '');
  return m !== null && DATA_ERRORS.has(m[1]!);
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
        try {
          await this.insertWrites(batch);
        } catch {
          break; // aborted: abortPending already rejected this batch
        }
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

  /**
   * Inserts the writes together, retrying an outage for as long as it lasts. Rows ClickHouse refuses as data would
   * fail every retry and hold up every write behind them: the writes are then tried in halves, down to the one that
   * holds them, which alone is rejected (its job fails; the others land).
   */
  private async insertWrites(batch: readonly Pending<Row>[]): Promise<void> {
    try {
      await this.insertWithRetry(batch.flatMap((p) => p.rows));
    } catch (e) {
      if (!(e instanceof RowsRefusedError)) throw e;
      if (batch.length === 1) return batch[0]!.reject(e);
      const half = Math.ceil(batch.length / 2);
      await this.insertWrites(batch.slice(0, half));
      await this.insertWrites(batch.slice(half));
      return;
    }
    for (const p of batch) p.resolve();
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
        if (isDataError(e)) throw new RowsRefusedError(e instanceof Error ? e.message : String(e));
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
