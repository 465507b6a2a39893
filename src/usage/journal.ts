// Crash journal: every pushed snippet is copied into a memory-mapped file until its batch is in Redis or the outbox,
// so a SIGKILLed or OOM-killed proxy's open batch is recovered by the next process instead of lost.
//
// The file is a ring of JSON lines after a 64-byte header. Writing is a copy into shared memory (no system call):
// the kernel holds the pages, so they outlive the process; only a machine crash can lose them (like the outbox
// without fsync). Offsets are logical (they only grow; the ring position is the offset modulo the ring's size), and
// the header records where unacknowledged lines start (tail) and end (head), and a heartbeat, so another process
// can tell a dead writer's file from a live one. A line is copied in before head moves past it, so a reader never
// sees half a line.
import { closeSync, ftruncateSync, openSync, readdirSync, readFileSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { UsageSnippet } from './snippet.ts';

const MAGIC = 0x314a5241; // "ARJ1", little-endian
const HEADER = 64;
const AT = { magic: 0, heartbeat: 8, tail: 16, head: 24 } as const;
const FILE = /^journal-([0-9a-z]+)\.bin$/;
const NEWLINE = 0x0a;

/** A cut batch's place in the ring, released once the batch is in Redis or on disk. */
export interface JournalMark {
  readonly end: number;
  acked: boolean;
}

export class Journal {
  readonly path: string;
  /** Snippets not journaled: larger than an eighth of the ring, or no room (acknowledgements far behind). */
  skipped = 0;
  private readonly map: Uint8Array<ArrayBuffer>;
  private readonly view: DataView;
  private readonly ring: number;
  /** One line is encoded here first, then copied into the ring in one or two pieces. */
  private readonly line: Uint8Array;
  private readonly encoder = new TextEncoder();
  /** Cut batches not yet acknowledged, oldest first; the open batch's lines follow the last one's end. */
  private readonly marks: JournalMark[] = [];
  private tail = 0;
  private head = 0;

  constructor(dir: string, owner: string, bytes: number) {
    this.path = join(dir, `journal-${owner}.bin`);
    const fd = openSync(this.path, 'w+');
    try {
      ftruncateSync(fd, bytes);
    } finally {
      closeSync(fd);
    }
    this.map = Bun.mmap(this.path, { shared: true });
    this.view = new DataView(this.map.buffer, this.map.byteOffset, this.map.byteLength);
    this.ring = this.map.length - HEADER;
    this.line = new Uint8Array(Math.floor(this.ring / 8));
    this.view.setUint32(AT.magic, MAGIC, true);
    this.beat();
    this.publish();
  }

  /** Copies the snippet into the ring; never throws (a snippet that does not fit is counted, not journaled). */
  append(s: UsageSnippet): void {
    const text = `${JSON.stringify(s)}\n`;
    const { read, written } = this.encoder.encodeInto(text, this.line);
    // Too big for a line, or the ring is full of lines whose batches are still on their way: not journaled.
    if (read < text.length || this.head + written - this.tail >= this.ring) return void this.skipped++;
    const at = this.head % this.ring;
    const first = Math.min(written, this.ring - at);
    this.map.set(this.line.subarray(0, first), HEADER + at);
    if (first < written) this.map.set(this.line.subarray(first, written), HEADER);
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

  /** Tells other processes this writer is alive. */
  beat(now = Date.now()): void {
    this.view.setFloat64(AT.heartbeat, now, true);
  }

  /** Closing cleanly: every batch was delivered, so nothing here is needed. */
  remove(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone: another process took it for a dead one's after a long stall, and will send its lines again.
    }
  }

  private publish(): void {
    this.view.setFloat64(AT.tail, this.tail, true);
    this.view.setFloat64(AT.head, this.head, true);
  }
}

/** Another process's journal whose writer stopped beating `staleMs` ago, with the snippets it had not delivered. */
export interface OrphanJournal {
  path: string;
  snippets: UsageSnippet[];
  /** Lines that were not a snippet (should not happen: a line is complete before head passes it). */
  unreadable: number;
}

/** Journals in `dir` not owned by `owner` whose heartbeat is older than `staleMs`. */
export function orphanJournals(dir: string, owner: string, staleMs: number, now = Date.now()): OrphanJournal[] {
  const out: OrphanJournal[] = [];
  for (const name of readdirSync(dir)) {
    const m = FILE.exec(name);
    if (!m || m[1] === owner) continue;
    const path = join(dir, name);
    try {
      // The header first: a live writer's journal is not read whole every few seconds.
      if (!stale(path, staleMs, now)) continue;
      const orphan = readOrphan(path, readFileSync(path));
      if (orphan) out.push(orphan);
    } catch {
      // Taken by another process meanwhile.
    }
  }
  return out;
}

function stale(path: string, staleMs: number, now: number): boolean {
  const header = new Uint8Array(HEADER);
  const fd = openSync(path, 'r');
  try {
    if (readSync(fd, header, 0, HEADER, 0) < HEADER) return true;
  } finally {
    closeSync(fd);
  }
  const view = new DataView(header.buffer);
  return view.getUint32(AT.magic, true) !== MAGIC || now - view.getFloat64(AT.heartbeat, true) >= staleMs;
}

function readOrphan(path: string, bytes: Uint8Array): OrphanJournal {
  const result: OrphanJournal = { path, snippets: [], unreadable: 0 };
  if (bytes.length <= HEADER) return result;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(AT.magic, true) !== MAGIC) return result;
  const ring = bytes.length - HEADER;
  const tail = view.getFloat64(AT.tail, true);
  const head = view.getFloat64(AT.head, true);
  if (!Number.isSafeInteger(tail) || !Number.isSafeInteger(head) || tail < 0 || head < tail || head - tail >= ring) return { ...result, unreadable: 1 };
  // The held lines in order, in one buffer: the ring's end and its start when they wrapped.
  const at = tail % ring;
  const n = head - tail;
  const held = new Uint8Array(n);
  const first = Math.min(n, ring - at);
  held.set(bytes.subarray(HEADER + at, HEADER + at + first));
  held.set(bytes.subarray(HEADER, HEADER + n - first), first);
  const decoder = new TextDecoder();
  let start = 0;
  for (let nl = held.indexOf(NEWLINE); nl !== -1; nl = held.indexOf(NEWLINE, start)) {
    const s = parseSnippet(decoder.decode(held.subarray(start, nl)));
    if (s) result.snippets.push(s);
    else result.unreadable++;
    start = nl + 1;
  }
  return result;
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

/** Forgets an orphan once its snippets are safely in the outbox. */
export function removeOrphan(o: OrphanJournal): void {
  try {
    unlinkSync(o.path);
  } catch {
    // Another process removed it first.
  }
}
