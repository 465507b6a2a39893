// The crash journal on its own: what a dead writer leaves is exactly the snippets whose batches were not delivered,
// across the ring's wrap, out-of-order acknowledgements and a full ring.
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, OrphanScanner, readJournal } from '../../src/usage/journal.ts';
import { Outbox } from '../../src/usage/outbox.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';
import { fixtureSnippet, OPENAI_CHAT } from '../helpers/usage-snippets.ts';

let dir: string;
beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), 'journal-unit-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const snippet = (i: number): UsageSnippet => fixtureSnippet(OPENAI_CHAT, { requestId: `req_${i}`, accountId: 'acct_j', ts: 1_700_000_000_000 + i });
/** A snippet's JSON text, as the producer hands it to the journal. */
const snip = (i: number): string => JSON.stringify(snippet(i));
/** What another process recovers once the writer is taken for dead. */
let journal: Journal;
const recovered = (): string[] => readJournal(journal.path).snippets.map((s) => s.requestId);
const ids = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, k) => `req_${from + k}`);

describe('Journal', () => {
  test('holds every snippet of a batch not yet acknowledged, whole, and lets go of acknowledged ones', () => {
    const j = (journal = new Journal(dir, 'writer', 256 * 1024));
    for (let i = 0; i < 5; i++) j.append(snip(i));
    const first = j.cut();
    for (let i = 5; i < 10; i++) j.append(snip(i));
    const second = j.cut();
    // Acknowledged out of order: the first batch is still on its way, so both are held.
    j.ack(second);
    expect(recovered()).toEqual(ids(0, 10));
    expect(readJournal(j.path).snippets[3]).toEqual(snippet(3));
    j.ack(first);
    expect(recovered()).toEqual([]);
    // The open batch (pushed, not cut) is held too.
    for (let i = 10; i < 13; i++) j.append(snip(i));
    expect(recovered()).toEqual(ids(10, 13));
    expect(j.skipped).toBe(0);
  });

  test('lines that wrap around the end of the ring come back whole', () => {
    const j = (journal = new Journal(dir, 'writer', 64 * 1024));
    let i = 0;
    let pending = j.cut();
    let pendingIds: string[] = [];
    // Batch after batch, each delivered only once the next is cut: the ring never empties, so the writing position
    // goes round it several times (64 KiB against about 400 snippets of some 600 bytes).
    for (let round = 0; round < 50; round++) {
      const start = i;
      for (let k = 0; k < 8; k++) j.append(snip(i++));
      const next = j.cut();
      j.ack(pending);
      pending = next;
      pendingIds = ids(start, i);
      expect(recovered()).toEqual(pendingIds);
    }
    expect(snip(0).length * i).toBeGreaterThan(4 * 64 * 1024);
    for (let k = 0; k < 20; k++) j.append(snip(i + k));
    expect(recovered()).toEqual([...pendingIds, ...ids(i, i + 20)]);
    expect(j.skipped).toBe(0);
  });

  test('a full ring skips and counts new snippets, and keeps the ones it holds intact', () => {
    const j = (journal = new Journal(dir, 'writer', 64 * 1024));
    let n = 0;
    while (j.skipped === 0) j.append(snip(n++));
    const held = n - 1;
    expect(held).toBeGreaterThan(10);
    expect(recovered()).toEqual(ids(0, held));
    // Once its batch is delivered the room comes back.
    j.ack(j.cut());
    j.append(snip(1000));
    expect(recovered()).toEqual(['req_1000']);
  });

  test('a snippet larger than an eighth of the ring is counted, not journaled', () => {
    const j = (journal = new Journal(dir, 'writer', 64 * 1024));
    const big = JSON.stringify({ ...snippet(1), error: 'x'.repeat(9000) });
    j.append(big);
    j.append(snip(2));
    expect(j.skipped).toBe(1);
    expect(recovered()).toEqual(['req_2']);
  });
});

describe('OrphanScanner', () => {
  /** A scanner on a clock the test moves. */
  const scanner = (staleMs: number) => {
    let t = 0;
    const sc = new OrphanScanner(dir, 'reader', staleMs, () => t);
    return { sc, advance: (ms: number) => void (t += ms) };
  };

  test('a journal is dead only once its heartbeat has stood still for staleMs of the reader\'s own clock', () => {
    const j = (journal = new Journal(dir, 'writer', 64 * 1024));
    j.append(snip(1));
    const { sc, advance } = scanner(10_000);
    // First seen long after its last beat (a restarted pod): not yet, however old the beat.
    j.beat(Date.now() - 3_600_000);
    expect(sc.next()).toBeNull();
    advance(9_000);
    expect(sc.next()).toBeNull();
    // It beats again: a live writer, the wait starts over.
    j.beat(Date.now());
    advance(2_000);
    expect(sc.next()).toBeNull();
    advance(9_999);
    expect(sc.next()).toBeNull();
    advance(1);
    const orphan = sc.next();
    expect(orphan?.snippets.map((s) => s.requestId)).toEqual(['req_1']);
    sc.done(orphan!);
    expect(existsSync(j.path)).toBe(false);
    expect(sc.next()).toBeNull();
  });

  test("the reader's own journal is never read as an orphan", () => {
    new Journal(dir, 'reader', 64 * 1024).append(snip(1));
    const { sc, advance } = scanner(1);
    expect(sc.next()).toBeNull();
    advance(10);
    expect(sc.next()).toBeNull();
  });

  test('a journal removed under a live writer (a stall taken for death) is made again with what it held', () => {
    const j = (journal = new Journal(dir, 'writer', 64 * 1024));
    for (let i = 0; i < 3; i++) j.append(snip(i));
    unlinkSync(j.path);
    expect(j.beat()).toBe('remade');
    expect(recovered()).toEqual(ids(0, 3));
    j.append(snip(3));
    expect(recovered()).toEqual(ids(0, 4));
    expect(j.beat()).toBe('alive');
  });

  test('a file that is not a journal is recovered as empty and removed; batches are left alone; an abandoned .tmp goes', () => {
    writeFileSync(join(dir, 'journal-garbage.bin'), 'not a journal at all, long enough to have a header of sixty-four bytes');
    writeFileSync(join(dir, '000000000000001-000000001-u-x-1.batch'), '{}');
    writeFileSync(join(dir, 'journal-crashed.tmp'), '');
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(join(dir, 'journal-crashed.tmp'), old, old);
    const { sc, advance } = scanner(100);
    expect(sc.next()).toBeNull();
    advance(100);
    const orphan = sc.next();
    expect([orphan?.snippets.length, orphan?.unreadable]).toEqual([0, 0]);
    sc.done(orphan!);
    expect(existsSync(join(dir, 'journal-garbage.bin'))).toBe(false);
    expect(existsSync(join(dir, 'journal-crashed.tmp'))).toBe(false);
    expect(existsSync(join(dir, '000000000000001-000000001-u-x-1.batch'))).toBe(true);
  });

  test('a journal made again by its writer after it was read is not the one removed', () => {
    const j = (journal = new Journal(dir, 'writer', 64 * 1024));
    j.append(snip(1));
    const { sc, advance } = scanner(100);
    expect(sc.next()).toBeNull();
    advance(100);
    const orphan = sc.next()!;
    // Another process recovered and removed it meanwhile; the writer, only stalled, makes it again.
    unlinkSync(j.path);
    expect(j.beat()).toBe('remade');
    sc.done(orphan);
    expect(existsSync(j.path)).toBe(true);
    expect(recovered()).toEqual(['req_1']);
  });

  test("the outbox leaves the journal's files alone, a stale .tmp included", async () => {
    writeFileSync(join(dir, 'journal-other.tmp'), 'half made');
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(join(dir, 'journal-other.tmp'), old, old);
    const j = new Journal(dir, 'writer', 64 * 1024);
    const ob = new Outbox({ dir, maxBytes: 1 << 20, owner: 'ob', fsync: false, staleClaimMs: 1, logger: () => {} });
    await ob.scan();
    expect(readdirSync(dir).sort()).toEqual(['journal-other.tmp', 'journal-writer.bin']);
    j.remove();
  });

  test('a clean close removes the journal', () => {
    const j = new Journal(dir, 'writer', 64 * 1024);
    j.remove();
    expect(existsSync(j.path)).toBe(false);
  });

  test('a journal that cannot be made throws (the producer then runs without one)', () => {
    expect(() => new Journal(join(dir, 'no-such-dir'), 'writer', 64 * 1024)).toThrow();
  });
});
