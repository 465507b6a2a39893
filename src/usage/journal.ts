// Crash journal: every pushed snippet is copied into a memory-mapped file until its batch is in Redis or the outbox,
// so a SIGKILLed or OOM-killed proxy's open batch is recovered by the next process instead of lost.
//
// The file is a ring of JSON lines after a 64-byte header. Writing is a copy into shared memory (no system call):
// the kernel holds the pages, so they outlive the process; only a machine crash can lose them (like the outbox
// without fsync). Offsets are logical (they grow while lines are held, and restart at 0 once none is; the ring
// position is the offset modulo the ring's size), and the header records where unacknowledged lines start (tail)
// and end (head), and a heartbeat, so another process can tell a dead writer's file from a live one. A line is
// copied in before head moves past it, so a reader never sees half a line. The file is written full of zeros before it is mapped: a sparse file would get its disk blocks
// on first touch, and on a full disk that touch is a SIGBUS no code can catch, where a write is an error.
import { closeSync, fstatSync, openSync, readdirSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { UsageSnippet } from './snippet.ts';

const MAGIC = 0x314a5241; // "ARJ1", little-endian
const HEADER = 64;
const AT = { magic: 0, heartbeat: 8, tail: 16, head: 24 } as const;
const FILE = /^journal-([0-9a-z]+)\.bin$/;
const TEMP = /^journal-([0-9a-z]+)\.tmp$/;
const NEWLINE = 0x0a;
const ZEROS = new Uint8Array(1 << 20);
const REMAKE_RETRY_MS = 60_000;

/** A cut batch's place in the ring, released once the batch is in Redis or on disk. */
export interface JournalMark {
  readonly end: number;
  acked: boolean;
}

interface Mapped {
  map: Uint8Array<ArrayBuffer>;
  view: DataView;
  /** Open on the file, to notice when another process removed it. */
  fd: number;
}

/**
 * Creates the file under a temporary name, full of zeros, lets `fill` write its content and header, then gives it
 * its name (atomically): a reader never sees a named journal without its header, nor a made-again one without its
 * lines. On any failure nothing is left behind, neither the file nor its descriptor.
 */
function createMapped(path: string, bytes: number, fill: (m: Mapped) => void): Mapped {
  const temp = path.replace(/\.bin$/, '.tmp');
  const fd = openSync(temp, 'w');
  try {
    // writeSync may write less than asked (a disk filling up): count what it wrote; a full disk then throws ENOSPC.
    for (let at = 0; at < bytes; ) at += writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, bytes - at), at);
    const map = Bun.mmap(temp, { shared: true });
    const m: Mapped = { map, view: new DataView(map.buffer, map.byteOffset, map.byteLength), fd };
    m.view.setUint32(AT.magic, MAGIC, true);
    m.view.setFloat64(AT.heartbeat, Date.now(), true);
    fill(m);
    renameSync(temp, path);
    return m;
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {
      // Not there: nothing to clean.
    }
    throw e;
  }
}

export class Journal {
  readonly path: string;
  /** Snippets not journaled: larger than an eighth of the ring, or no room (acknowledgements far behind). */
  skipped = 0;
  private m: Mapped;
  private readonly ring: number;
  /** One line is encoded here first, then copied into the ring in one or two pieces. */
  private readonly line: Uint8Array;
  /** The line's room for its text: all of it but the byte kept for the newline. */
  private readonly lineText: Uint8Array;
  private readonly encoder = new TextEncoder();
  /** Cut batches not yet acknowledged, oldest first; the open batch's lines follow the last one's end. */
  private readonly marks: JournalMark[] = [];
  private tail = 0;
  private head = 0;
  /** After a failed re-creation: when to try again (0: not failing). */
  private remakeAfter = 0;

  /** Throws when the file cannot be made (a full disk among others): the caller runs without a journal. */
  constructor(dir: string, owner: string, bytes: number) {
    this.path = join(dir, `journal-${owner}.bin`);
    this.m = createMapped(this.path, bytes, () => undefined);
    this.ring = this.m.map.length - HEADER;
    this.line = new Uint8Array(Math.floor(this.ring / 8));
    this.lineText = this.line.subarray(0, this.line.length - 1);
    this.publish();
  }

  /** Copies a snippet's JSON text into the ring; never throws (a snippet that does not fit is counted, not journaled). */
  append(text: string): void {
    // The newline is added as a byte: a concatenated copy of the text would be one more string per request to collect.
    const { read, written: bytes } = this.encoder.encodeInto(text, this.lineText);
    const written = bytes + 1;
    this.line[bytes] = NEWLINE;
    // Too big for a line, or the ring is full of lines whose batches are still on their way: not journaled.
    if (read < text.length || this.head + written - this.tail >= this.ring) return void this.skipped++;
    const at = this.head % this.ring;
    const first = Math.min(written, this.ring - at);
    this.m.map.set(this.line.subarray(0, first), HEADER + at);
    if (first < written) this.m.map.set(this.line.subarray(first, written), HEADER);
    this.head += written;
    this.publish();
  }

  /** The open batch is cut: its lines end here. */
  cut(): JournalMark {
    const mark: JournalMark = { end: this.head, acked: false };
    this.marks.push(mark);
    return mark;
  }

  /** The batch is in Redis or in an outbox file: its lines (and acknowledged ones before them) need not be kept. */
  ack(mark: JournalMark): void {
    mark.acked = true;
    if (!this.marks[0]?.acked) return;
    while (this.marks[0]?.acked) this.tail = this.marks.shift()!.end;
    // Nothing held and no open batch: start again at the front, so a quiet ring touches few pages.
    if (this.marks.length === 0 && this.tail === this.head) this.tail = this.head = 0;
    this.publish();
  }

  /**
   * Tells other processes this writer is alive. When the file had been removed (a stall long enough for another
   * process to take this one for dead and recover it) it is made again with what it held ('remade'); if that fails
   * (a full disk) the error is thrown once and the journal is 'unprotected' until a retry a minute later succeeds.
   */
  beat(now = Date.now()): 'alive' | 'remade' | 'unprotected' {
    this.m.view.setFloat64(AT.heartbeat, now, true);
    if (fstatSync(this.m.fd).nlink > 0) return 'alive';
    if (now < this.remakeAfter) return 'unprotected';
    const old = this.m;
    try {
      this.m = createMapped(this.path, old.map.length, (m) => {
        m.map.set(old.map.subarray(HEADER), HEADER);
        m.view.setFloat64(AT.tail, this.tail, true);
        m.view.setFloat64(AT.head, this.head, true);
      });
    } catch (e) {
      this.remakeAfter = now + REMAKE_RETRY_MS;
      throw e;
    }
    this.remakeAfter = 0;
    closeSync(old.fd);
    return 'remade';
  }

  /** Closing cleanly: every batch was delivered (or counted lost), so nothing here is needed. */
  remove(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone: another process took it for a dead one's after a long stall, and sends its lines again.
    }
    closeSync(this.m.fd);
  }

  private publish(): void {
    this.m.view.setFloat64(AT.tail, this.tail, true);
    this.m.view.setFloat64(AT.head, this.head, true);
  }
}

/** A journal's undelivered snippets, as another process reads them. */
export interface OrphanJournal {
  path: string;
  /** The file read, so a journal made again under the same name since is not the one removed. */
  ino: number;
  /** The writer's id, from the file name, and where its held lines start: stable ids for the recovered batches. */
  owner: string;
  tail: number;
  snippets: UsageSnippet[];
  /** Each snippet's line as the journal held it, in step with `snippets`. */
  json: string[];
  /** Lines that were not a snippet, or a header that made no sense (should not happen). */
  unreadable: number;
}

/**
 * Finds dead writers' journals in an outbox directory. A journal is dead when its heartbeat has not changed for
 * `staleMs` of this process's own monotonic clock: neither a clock step on either side nor a file seen for the first
 * time long after its writer died (a pod restarted) can make a live one look dead on a single reading.
 */
export class OrphanScanner {
  private readonly seen = new Map<string, { beat: number; since: number }>();
  /** Journals this process could not remove after recovering them: not sent again and again. */
  private readonly stuck = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly owner: string,
    private readonly staleMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The next dead writer's journal, read; at most one per call, so one scan stalls the event loop for one file. */
  next(): OrphanJournal | null {
    const t = this.now();
    const present = new Set<string>();
    for (const name of readdirSync(this.dir)) {
      const path = join(this.dir, name);
      if (TEMP.test(name)) removeAbandonedTemp(path, name, this.owner, this.staleMs);
      const m = FILE.exec(name);
      if (!m || m[1] === this.owner || this.stuck.has(path)) continue;
      present.add(path);
      try {
        const beat = readHeartbeat(path);
        const entry = this.seen.get(path);
        if (!entry || entry.beat !== beat) this.seen.set(path, { beat, since: t });
        else if (t - entry.since >= this.staleMs) return readJournal(path);
      } catch (e) {
        // Removed by another process between the listing and the read; anything else is reported once.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        this.stuck.add(path);
        throw e;
      }
    }
    for (const path of this.seen.keys()) if (!present.has(path)) this.seen.delete(path);
    return null;
  }

  /** Forgets a recovered journal once its snippets are in the outbox; throws if it cannot be removed. */
  done(o: OrphanJournal): void {
    this.seen.delete(o.path);
    try {
      // Made again since by its writer (it was only stalled) and now live: not this one to remove.
      if (statSync(o.path).ino !== o.ino) return;
      unlinkSync(o.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // another process recovered it too
      this.stuck.add(o.path);
      throw e;
    }
  }
}

/** A creation cut short by a crash leaves a `.tmp`: removed once it is older than a stale journal would be. */
function removeAbandonedTemp(path: string, name: string, owner: string, staleMs: number): void {
  if (name === `journal-${owner}.tmp`) return;
  try {
    if (Date.now() - statSync(path).mtimeMs > Math.max(staleMs, 60_000)) unlinkSync(path);
  } catch {
    // Gone already.
  }
}

function readAt(fd: number, length: number, position: number): Uint8Array {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

function readHeartbeat(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const h = readAt(fd, HEADER, 0);
    const view = new DataView(h.buffer, h.byteOffset, h.byteLength);
    // Not a journal (or cut short): a heartbeat that never changes, so it is taken as dead and removed.
    return h.length === HEADER && view.getUint32(AT.magic, true) === MAGIC ? view.getFloat64(AT.heartbeat, true) : -1;
  } finally {
    closeSync(fd);
  }
}

/** The snippets a journal holds (between its tail and head), read through the file: nothing else of it is loaded. */
export function readJournal(path: string): OrphanJournal {
  const fd = openSync(path, 'r');
  const owner = FILE.exec(basename(path))?.[1] ?? 'unknown';
  const result: OrphanJournal = { path, ino: fstatSync(fd).ino, owner, tail: 0, snippets: [], json: [], unreadable: 0 };
  try {
    const h = readAt(fd, HEADER, 0);
    const view = new DataView(h.buffer, h.byteOffset, h.byteLength);
    if (h.length < HEADER || view.getUint32(AT.magic, true) !== MAGIC) return result;
    const ring = fstatSync(fd).size - HEADER;
    const tail = view.getFloat64(AT.tail, true);
    const head = view.getFloat64(AT.head, true);
    if (!Number.isSafeInteger(tail) || !Number.isSafeInteger(head) || tail < 0 || head < tail || head - tail >= ring) return { ...result, unreadable: 1 };
    result.tail = tail;
    // The held lines in order: the ring's end and then its start when they wrapped.
    const at = tail % ring;
    const n = head - tail;
    const first = Math.min(n, ring - at);
    const held = new Uint8Array(n);
    held.set(readAt(fd, first, HEADER + at));
    if (first < n) held.set(readAt(fd, n - first, HEADER), first);
    const decoder = new TextDecoder();
    let start = 0;
    for (let nl = held.indexOf(NEWLINE); nl !== -1; nl = held.indexOf(NEWLINE, start)) {
      const line = decoder.decode(held.subarray(start, nl));
      const s = parseSnippet(line);
      if (s) {
        result.snippets.push(s);
        result.json.push(line);
      } else result.unreadable++;
      start = nl + 1;
    }
    return result;
  } finally {
    closeSync(fd);
  }
}

function parseSnippet(line: string): UsageSnippet | null {
  try {
    const v: unknown = JSON.parse(line);
    // The worker checks every snippet's shape; here only that it is one, so a stray line is not sent as one.
    return typeof v === 'object' && v !== null && typeof (v as { requestId?: unknown }).requestId === 'string' ? (v as UsageSnippet) : null;
  } catch {
    return null;
  }
}
