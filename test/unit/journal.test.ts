// The crash journal on its own: what a dead writer leaves is exactly the snippets whose batches were not delivered,
// across the ring's wrap, out-of-order acknowledgements and a full ring.
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, orphanJournals, removeOrphan } from '../../src/usage/journal.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';
import { fixtureSnippet, OPENAI_CHAT } from '../helpers/usage-snippets.ts';

let dir: string;
beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), 'journal-unit-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const snip = (i: number): UsageSnippet => fixtureSnippet(OPENAI_CHAT, { requestId: `req_${i}`, accountId: 'acct_j', ts: 1_700_000_000_000 + i });
/** What another process recovers once the writer is taken for dead. */
const recovered = (): string[] => orphanJournals(dir, 'reader', 0, Date.now() + 60_000).flatMap((o) => o.snippets.map((s) => s.requestId));
const ids = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, k) => `req_${from + k}`);

describe('Journal', () => {
  test('holds every snippet of a batch not yet acknowledged, whole, and lets go of acknowledged ones', () => {
    const j = new Journal(dir, 'writer', 256 * 1024);
    for (let i = 0; i < 5; i++) j.append(snip(i));
    const first = j.cut();
    for (let i = 5; i < 10; i++) j.append(snip(i));
    const second = j.cut();
    // Acknowledged out of order: the first batch is still on its way, so both are held.
    j.ack(second);
    expect(recovered()).toEqual(ids(0, 10));
    const [orphan] = orphanJournals(dir, 'reader', 0, Date.now() + 60_000);
    expect(orphan!.snippets[3]).toEqual(snip(3));
    j.ack(first);
    expect(recovered()).toEqual([]);
    // The open batch (pushed, not cut) is held too.
    for (let i = 10; i < 13; i++) j.append(snip(i));
    expect(recovered()).toEqual(ids(10, 13));
    expect(j.skipped).toBe(0);
  });

  test('lines that wrap around the end of the ring come back whole', () => {
    const j = new Journal(dir, 'writer', 64 * 1024);
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
    expect(JSON.stringify(snip(0)).length * i).toBeGreaterThan(4 * 64 * 1024);
    for (let k = 0; k < 20; k++) j.append(snip(i + k));
    expect(recovered()).toEqual([...pendingIds, ...ids(i, i + 20)]);
    expect(j.skipped).toBe(0);
  });

  test('a full ring skips and counts new snippets, and keeps the ones it holds intact', () => {
    const j = new Journal(dir, 'writer', 64 * 1024);
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
    const j = new Journal(dir, 'writer', 64 * 1024);
    const big = { ...snip(1), error: 'x'.repeat(9000) };
    j.append(big);
    j.append(snip(2));
    expect(j.skipped).toBe(1);
    expect(recovered()).toEqual(['req_2']);
  });
});

describe('orphanJournals', () => {
  test("a live writer's journal is left alone; its own writer never reads it; a stale one is recovered", () => {
    const j = new Journal(dir, 'writer', 64 * 1024);
    j.append(snip(1));
    expect(orphanJournals(dir, 'reader', 10_000)).toEqual([]);
    expect(orphanJournals(dir, 'writer', 0, Date.now() + 60_000)).toEqual([]);
    j.beat(Date.now() - 20_000);
    expect(orphanJournals(dir, 'reader', 10_000).map((o) => o.snippets.length)).toEqual([1]);
  });

  test('a file that is not a journal is recovered as empty and can be removed; other files are ignored', () => {
    writeFileSync(join(dir, 'journal-garbage.bin'), 'not a journal at all, long enough to have a header of sixty-four bytes');
    writeFileSync(join(dir, '000000000000001-000000001-u-x-1.batch'), '{}');
    const orphans = orphanJournals(dir, 'reader', 0);
    expect(orphans.map((o) => [o.snippets.length, o.unreadable])).toEqual([[0, 0]]);
    removeOrphan(orphans[0]!);
    expect(existsSync(join(dir, 'journal-garbage.bin'))).toBe(false);
    expect(existsSync(join(dir, '000000000000001-000000001-u-x-1.batch'))).toBe(true);
  });

  test('a clean close removes the journal', () => {
    const j = new Journal(dir, 'writer', 64 * 1024);
    j.remove();
    expect(existsSync(j.path)).toBe(false);
    expect(orphanJournals(dir, 'reader', 0)).toEqual([]);
  });
});
