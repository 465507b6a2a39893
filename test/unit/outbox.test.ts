// Outbox on a real temp directory: ordering, claims across processes, the byte cap, crash leftovers.
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox, type OutboxBatch, type OutboxOptions } from '../../src/usage/outbox.ts';
import type { LogFields, LogLevel } from '../../src/usage/producer-options.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';

function snippet(requestId: string): UsageSnippet {
  return {
    v: 1,
    requestId,
    ts: 1_700_000_000_000,
    accountId: 'acct',
    keyId: 'key',
    provider: 'openai',
    format: 'openai-chat',
    requestModel: 'gpt-x',
    method: 'POST',
    path: '/v1/chat/completions',
    status: 200,
    stream: false,
    outcome: 'complete',
    latencyMs: 12,
    bytesIn: 100,
    bytesOut: 200,
    capture: { kind: 'json', fields: { usage: '{"prompt_tokens":1}' } },
  };
}

function batch(id: string, n = 2): OutboxBatch {
  return { id, snippets: Array.from({ length: n }, (_, i) => snippet(`${id}-r${i}`)) };
}

let dir: string;
let logs: { level: LogLevel; msg: string; fields?: LogFields }[];
let clock: number;

function outbox(over: Partial<OutboxOptions> = {}): Outbox {
  return new Outbox({
    dir,
    maxBytes: 1 << 20,
    owner: 'a1',
    fsync: false,
    staleClaimMs: 60_000,
    logger: (level, msg, fields) => logs.push({ level, msg, fields }),
    now: () => clock,
    ...over,
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'outbox-unit-'));
  logs = [];
  clock = 1_700_000_000_000;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('Outbox', () => {
  test("a batch carrying its snippets' JSON text is written as the same bytes, and read back whole", async () => {
    const plain = batch('plain', 3);
    const withText: OutboxBatch = { id: 'texted', snippets: batch('plain', 3).snippets, json: plain.snippets.map((s) => JSON.stringify(s)) };
    const ob = outbox();
    await ob.append(plain);
    ob.appendSync(withText);
    const text = (id: string) => readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith(`-${id}.batch`))!), 'utf8');
    expect(text('texted')).toBe(JSON.stringify({ v: 1, id: 'texted', snippets: plain.snippets }));
    expect(text('texted')).toBe(text('plain').replace('"id":"plain"', '"id":"texted"'));
    const claimed = await ob.claim(await ob.scan());
    expect(claimed.map((c) => c.batch)).toEqual([{ id: 'plain', snippets: plain.snippets }, { id: 'texted', snippets: plain.snippets }]);
  });

  test('appends one .batch file per batch and tracks depth', async () => {
    const ob = outbox();
    expect(await ob.append(batch('b1'))).toBe('written');
    expect(ob.appendSync(batch('b2'))).toBe('written');
    const files = readdirSync(dir);
    expect(files.filter((f) => f.endsWith('.batch'))).toHaveLength(2);
    expect(files.some((f) => f.endsWith('.tmp'))).toBe(false);
    expect(ob.files).toBe(2);
    const onDisk = readdirSync(dir).reduce((sum, f) => sum + Bun.file(join(dir, f)).size, 0);
    expect(ob.bytes).toBe(onDisk);
  });

  test('scan lists oldest first; claim, release deletes and frees the bytes', async () => {
    const ob = outbox();
    await ob.append(batch('first'));
    clock += 1;
    await ob.append(batch('second'));
    clock += 1;
    await ob.append(batch('third'));
    const cands = await ob.scan();
    const claimed = await ob.claim(cands);
    expect(claimed.map((c) => c.batch.id)).toEqual(['first', 'second', 'third']);
    expect(claimed[0]?.batch.snippets.map((s) => s.requestId)).toEqual(['first-r0', 'first-r1']);
    expect(readdirSync(dir).every((f) => f.includes('.claim-a1-'))).toBe(true);
    await ob.release(claimed.slice(0, 2));
    expect(ob.files).toBe(1);
    await ob.release(claimed.slice(2));
    expect(readdirSync(dir)).toEqual([]);
    expect(ob.files).toBe(0);
    expect(ob.bytes).toBe(0);
  });

  test('unclaim puts a batch back for a later try', async () => {
    const ob = outbox();
    await ob.append(batch('b1'));
    const claimed = await ob.claim(await ob.scan());
    await ob.unclaim(claimed);
    expect(readdirSync(dir).filter((f) => f.endsWith('.batch'))).toHaveLength(1);
    const again = await ob.claim(await ob.scan());
    expect(again.map((c) => c.batch.id)).toEqual(['b1']);
  });

  test('two processes on one directory never claim the same file', async () => {
    const writer = outbox({ owner: 'w' });
    for (let i = 0; i < 40; i++) await writer.append(batch(`b${i}`, 1));
    const a = outbox({ owner: 'a' });
    const b = outbox({ owner: 'b' });
    const [ca, cb] = await Promise.all([a.scan(), b.scan()]);
    const [ga, gb] = await Promise.all([a.claim(ca), b.claim(cb)]);
    const ids = [...ga, ...gb].map((c) => c.batch.id).sort();
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
    // Each claimant sees the other's live claims as taken, not as candidates.
    expect(await a.scan()).toEqual([]);
  });

  test('a foreign claim is left alone while fresh and taken over once stale', async () => {
    const dead = outbox({ owner: 'dead' });
    await dead.append(batch('orphan'));
    expect(await dead.claim(await dead.scan())).toHaveLength(1);
    const live = outbox({ owner: 'live', staleClaimMs: 30_000 });
    expect(await live.scan()).toEqual([]);
    expect(live.files).toBe(1);
    clock += 30_001;
    const got = await live.claim(await live.scan());
    expect(got.map((c) => c.batch.id)).toEqual(['orphan']);
    await live.release(got);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("this process's own claim that an error orphaned is offered again once stale; live ones never are", async () => {
    const ob = outbox({ staleClaimMs: 30_000 });
    await ob.append(batch('lost'));
    await ob.append(batch('live'));
    const [lost, live] = await ob.claim(await ob.scan());
    expect([lost?.batch.id, live?.batch.id]).toEqual(['lost', 'live']);
    // Putting `lost` back fails (something sits where its .batch name goes), so its claim file stays behind.
    const blocker = join(dir, `${lost!.base}.batch`);
    mkdirSync(join(blocker, 'x'), { recursive: true });
    await expect(ob.unclaim([lost!])).rejects.toThrow();
    rmSync(blocker, { recursive: true });
    expect(await ob.scan()).toEqual([]);
    clock += 30_001;
    const again = await ob.claim(await ob.scan());
    expect(again.map((c) => c.batch.id)).toEqual(['lost']);
    await ob.release([...again, live!]);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('a claim that fails partway hands back what it had already claimed', async () => {
    const ob = outbox();
    await ob.append(batch('first'));
    await ob.append(batch('second'));
    const cands = await ob.scan();
    rmSync(join(dir, cands[1]!.file));
    // A directory where a batch file should be: renaming works, reading it fails with EISDIR.
    mkdirSync(join(dir, cands[1]!.file));
    await expect(ob.claim(cands)).rejects.toThrow();
    const names = readdirSync(dir).sort();
    expect(names.some((n) => n.includes('.claim-'))).toBe(false);
    expect(names.filter((n) => n.endsWith('.batch'))).toHaveLength(2);
  });

  test('scan counts files another process wrote or removed', async () => {
    const other = outbox({ owner: 'other' });
    await other.append(batch('x'));
    await other.append(batch('y'));
    const ob = outbox();
    expect(ob.files).toBe(0);
    await ob.scan();
    expect(ob.files).toBe(2);
    expect(ob.bytes).toBe(other.bytes);
    await other.release(await other.claim(await other.scan()));
    await ob.scan();
    expect(ob.files).toBe(0);
    expect(ob.bytes).toBe(0);
  });

  test('when full: drops and counts, logs once per episode, and logs the recovery', async () => {
    const probe = Buffer.byteLength(JSON.stringify({ v: 1, id: 'b0', snippets: batch('b0').snippets }));
    const ob = outbox({ maxBytes: probe * 2 + 10 });
    expect(await ob.append(batch('b0'))).toBe('written');
    expect(await ob.append(batch('b1'))).toBe('written');
    expect(await ob.append(batch('b2'))).toBe('full');
    expect(ob.appendSync(batch('b3'))).toBe('full');
    expect(await ob.append(batch('b4', 5))).toBe('full');
    expect(ob.droppedFull).toBe(2 + 2 + 5);
    expect(ob.full).toBe(true);
    expect(logs.filter((l) => l.msg.includes('outbox full'))).toHaveLength(1);
    expect(readdirSync(dir)).toHaveLength(2);

    const cands = await ob.scan();
    await ob.release(await ob.claim(cands.slice(0, 1)));
    expect(ob.full).toBe(false);
    const recovered = logs.find((l) => l.msg.includes('accepting batches again'));
    expect(recovered?.fields?.droppedSnippets).toBe(9);

    expect(await ob.append(batch('b5'))).toBe('written');
    expect(await ob.append(batch('b6'))).toBe('full');
    expect(logs.filter((l) => l.msg.includes('outbox full'))).toHaveLength(2);
  });

  test('an unreadable file is set aside as .bad, logged, and not sent', async () => {
    const ob = outbox();
    await ob.append(batch('good'));
    writeFileSync(join(dir, '000000000000001-000000001-torn.batch'), '{"v":1,"id":"torn","snipp');
    const got = await ob.claim(await ob.scan());
    expect(got.map((c) => c.batch.id)).toEqual(['good']);
    expect(readdirSync(dir).filter((f) => f.endsWith('.bad'))).toEqual(['000000000000001-000000001-torn.bad']);
    expect(logs.some((l) => l.level === 'error' && l.msg.includes('unreadable'))).toBe(true);
    await ob.release(got);
    expect(ob.files).toBe(0);
  });

  test('a stale .tmp left by a crash is kept if whole and set aside if torn', async () => {
    const whole = JSON.stringify({ v: 1, id: 'whole', snippets: [snippet('r-whole')] });
    writeFileSync(join(dir, '000000000000001-000000001-whole.tmp'), whole);
    writeFileSync(join(dir, '000000000000001-000000002-torn.tmp'), whole.slice(0, 20));
    writeFileSync(join(dir, '000000000000001-000000003-fresh.tmp'), whole.slice(0, 20));
    const old = new Date(clock - 120_000);
    utimesSync(join(dir, '000000000000001-000000001-whole.tmp'), old, old);
    utimesSync(join(dir, '000000000000001-000000002-torn.tmp'), old, old);
    utimesSync(join(dir, '000000000000001-000000003-fresh.tmp'), new Date(clock), new Date(clock));
    const ob = outbox();
    await ob.scan();
    const got = await ob.claim(await ob.scan());
    expect(got.map((c) => c.batch.id)).toEqual(['whole']);
    const names = readdirSync(dir);
    expect(names).toContain('000000000000001-000000002-torn.bad');
    // A fresh .tmp may be another process mid-write: untouched.
    expect(names).toContain('000000000000001-000000003-fresh.tmp');
  });

  test('with fsync on, batches are written and read back the same', async () => {
    const ob = outbox({ fsync: true });
    expect(await ob.append(batch('synced', 3))).toBe('written');
    const got = await ob.claim(await ob.scan());
    expect(got[0]?.batch).toEqual(batch('synced', 3));
  });

  test('rejects an owner that would break claim names', () => {
    expect(() => outbox({ owner: 'A-b' })).toThrow(TypeError);
  });
});
