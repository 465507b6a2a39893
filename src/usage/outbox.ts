// Durable on-disk outbox for usage batches Redis could not take: one file per batch, claimed by atomic rename.
//
// Layout of the directory (all names sort oldest first):
//   <base>.batch                       a pending batch, JSON {v, id, snippets}
//   <base>.claim-<owner>-<claimedAtMs>  being sent by process <owner>; deleted once Redis accepted it
//   <base>.tmp                          being written; renamed to .batch when complete
//   <base>.bad                          unreadable (e.g. torn by a machine crash), kept for an operator
// where <base> = <ms since epoch, 15 digits>-<per-process counter, 9 digits>-<batch id>.
//
// Two processes sharing a directory never send the same file twice: rename() is atomic, so only one
// claimer of a name succeeds and the other sees ENOENT. A claim whose owner died is taken over after
// `staleClaimMs`; a late duplicate that could cause is ignored by BullMQ (same job id) and collapsed
// by ClickHouse (same request_id).
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { snippetsJson } from './job-payload.ts';
import type { UsageLogger } from './producer-options.ts';
import type { UsageSnippet } from './snippet.ts';

export interface OutboxBatch {
  /** Also the BullMQ job id, so every copy of a batch is the same job. */
  id: string;
  snippets: UsageSnippet[];
  /** Each snippet's JSON text, in order, when the producer encoded it already (for the crash journal). */
  json?: string[];
}

/** A batch this process has claimed: send it, then `release` (accepted) or `unclaim` (try later). */
export interface ClaimedBatch {
  readonly batch: OutboxBatch;
  readonly base: string;
  readonly file: string;
}

/** A file that can be claimed: a pending batch or a stale claim. */
export interface OutboxCandidate {
  readonly base: string;
  readonly file: string;
}

export interface OutboxOptions {
  dir: string;
  maxBytes: number;
  /** Unique per process, [0-9a-z]+; marks this process's claims. */
  owner: string;
  fsync: boolean;
  staleClaimMs: number;
  logger: UsageLogger;
  now?: () => number;
}

export type AppendResult = 'written' | 'full';

const CLAIM = /^(.+)\.claim-([0-9a-z]+)-(\d+)$/;
const STAT_PARALLEL = 64;

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** A batch file's bytes: {v, id, snippets}, as JSON.stringify writes them, from the snippets' own text when known. */
function batchFile(batch: OutboxBatch): Buffer {
  return Buffer.from(`{"v":1,"id":${JSON.stringify(batch.id)},"snippets":${snippetsJson(batch.snippets, batch.json)}}`);
}

function parseBatch(text: string): OutboxBatch | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as { id?: unknown; snippets?: unknown };
    if (typeof o.id !== 'string' || o.id === '' || !Array.isArray(o.snippets)) return undefined;
    return { id: o.id, snippets: o.snippets as UsageSnippet[] };
  } catch {
    return undefined;
  }
}

export class Outbox {
  readonly dir: string;
  private readonly o: OutboxOptions;
  private readonly now: () => number;
  /** Bytes of every pending or claimed file we know of, by base name. */
  private readonly sizes = new Map<string, number>();
  /** Claim files this process holds right now; one of its own claims not in here was orphaned by an error. */
  private readonly held = new Set<string>();
  private total = 0;
  /** Bytes promised to appends still being written, so concurrent appends cannot overshoot the cap. */
  private reserved = 0;
  private counter = 0;
  /** Batches this process wrote while a scan was reading the directory; that scan must not forget them. */
  private writtenDuringScan: Set<string> | undefined;
  private fullSince: number | undefined;
  private droppedInEpisode = 0;
  /** Snippets dropped because the outbox was full, since start. */
  droppedFull = 0;

  constructor(o: OutboxOptions) {
    if (!/^[0-9a-z]+$/.test(o.owner)) throw new TypeError('outbox owner must match [0-9a-z]+');
    this.o = o;
    this.dir = o.dir;
    this.now = o.now ?? Date.now;
  }

  get bytes(): number {
    return this.total + this.reserved;
  }

  get files(): number {
    return this.sizes.size;
  }

  get full(): boolean {
    return this.fullSince !== undefined;
  }

  /** Write one batch durably (see producer.ts for what "durably" covers). Throws on I/O errors; 'full' means dropped and counted. */
  async append(batch: OutboxBatch): Promise<AppendResult> {
    const buf = batchFile(batch);
    if (!this.admit(buf.length, batch.snippets.length)) return 'full';
    const base = this.nextBase(batch.id);
    const tmp = join(this.dir, `${base}.tmp`);
    this.reserved += buf.length;
    try {
      const fh = await open(tmp, 'wx');
      try {
        // One write call in practice; the loop only matters if the kernel returns a short write.
        for (let off = 0; off < buf.length; ) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
        if (this.o.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(this.dir, `${base}.batch`));
      if (this.o.fsync) await this.syncDir();
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    } finally {
      this.reserved -= buf.length;
    }
    this.track(base, buf.length);
    this.writtenDuringScan?.add(base);
    return 'written';
  }

  /** Synchronous append, for the rare push after close() when no event loop turn may follow. */
  appendSync(batch: OutboxBatch): AppendResult {
    const buf = batchFile(batch);
    if (!this.admit(buf.length, batch.snippets.length)) return 'full';
    const base = this.nextBase(batch.id);
    const tmp = join(this.dir, `${base}.tmp`);
    try {
      const fd = openSync(tmp, 'wx');
      try {
        for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
        if (this.o.fsync) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, join(this.dir, `${base}.batch`));
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
      throw e;
    }
    this.track(base, buf.length);
    return 'written';
  }

  /**
   * List what can be claimed, oldest first, and bring the depth figures in line with the directory
   * (files another process wrote or removed, leftovers of a crashed one).
   */
  async scan(): Promise<OutboxCandidate[]> {
    const fresh = new Set<string>();
    this.writtenDuringScan = fresh;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } finally {
      this.writtenDuringScan = undefined;
    }
    const now = this.now();
    /** base → current file name, for every pending or claimed batch. */
    const seen = new Map<string, string>();
    const out: OutboxCandidate[] = [];
    const tmps: string[] = [];
    for (const name of names) {
      if (name.endsWith('.batch')) {
        const base = name.slice(0, -'.batch'.length);
        seen.set(base, name);
        out.push({ base, file: name });
        continue;
      }
      const m = CLAIM.exec(name);
      if (m) {
        const base = m[1] as string;
        seen.set(base, name);
        // Another process's stale claim (it died), or one of this process's own that an error left behind.
        const orphan = m[2] !== this.o.owner || !this.held.has(name);
        if (orphan && now - Number(m[3]) > this.o.staleClaimMs) out.push({ base, file: name });
        continue;
      }
      // The crash journal's files share the directory (journal.ts looks after its own .tmp).
      if (name.endsWith('.tmp') && !name.startsWith('journal-')) tmps.push(name);
    }
    for (const base of [...this.sizes.keys()]) if (!seen.has(base) && !fresh.has(base)) this.untrack(base);
    const unknown = [...seen].filter(([base]) => !this.sizes.has(base));
    for (let i = 0; i < unknown.length; i += STAT_PARALLEL) {
      await Promise.all(
        unknown.slice(i, i + STAT_PARALLEL).map(async ([base, file]) => {
          try {
            this.track(base, (await stat(join(this.dir, file))).size);
          } catch (e) {
            if (!isMissing(e)) throw e;
          }
        }),
      );
    }
    for (const t of tmps) await this.recoverTmp(t, now);
    out.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
    return out;
  }

  /** Claim and read candidates. Ones another process took first are skipped; unreadable ones are set aside as .bad. */
  async claim(cands: readonly OutboxCandidate[]): Promise<ClaimedBatch[]> {
    const got: ClaimedBatch[] = [];
    try {
      await this.claimInto(got, cands);
    } catch (e) {
      // The caller never sees these: hand them back now rather than leave them to the stale-claim sweep.
      await this.unclaim(got).catch(() => undefined);
      throw e;
    }
    return got;
  }

  private async claimInto(got: ClaimedBatch[], cands: readonly OutboxCandidate[]): Promise<void> {
    for (const c of cands) {
      const file = `${c.base}.claim-${this.o.owner}-${this.now()}`;
      try {
        await rename(join(this.dir, c.file), join(this.dir, file));
      } catch (e) {
        if (isMissing(e)) continue;
        throw e;
      }
      let text: string;
      try {
        text = await readFile(join(this.dir, file), 'utf8');
      } catch (e) {
        await rename(join(this.dir, file), join(this.dir, `${c.base}.batch`)).catch(() => undefined);
        throw e;
      }
      const batch = parseBatch(text);
      if (!batch) {
        await this.quarantine(file, c.base, 'unreadable outbox file set aside');
        continue;
      }
      if (!this.sizes.has(c.base)) this.track(c.base, Buffer.byteLength(text));
      this.held.add(file);
      got.push({ batch, base: c.base, file });
    }
  }

  /** Redis accepted these: delete them. */
  async release(claimed: readonly ClaimedBatch[]): Promise<void> {
    for (const c of claimed) {
      this.held.delete(c.file);
      try {
        await unlink(join(this.dir, c.file));
      } catch (e) {
        // Taken over as stale by another process, which will send a harmless duplicate.
        if (!isMissing(e)) throw e;
      }
      this.untrack(c.base);
    }
    this.endFullEpisodeIfRoom();
  }

  /** Sending failed: put these back so they are tried again, still oldest first. */
  async unclaim(claimed: readonly ClaimedBatch[]): Promise<void> {
    for (const c of claimed) {
      this.held.delete(c.file);
      try {
        await rename(join(this.dir, c.file), join(this.dir, `${c.base}.batch`));
      } catch (e) {
        if (!isMissing(e)) throw e;
      }
    }
  }

  private admit(bytes: number, snippets: number): boolean {
    if (this.bytes + bytes <= this.o.maxBytes) {
      this.endFullEpisodeIfRoom();
      return true;
    }
    this.droppedFull += snippets;
    this.droppedInEpisode += snippets;
    if (this.fullSince === undefined) {
      this.fullSince = this.now();
      // Once per episode: the outbox only fills after a long Redis outage, and a line per batch would flood the log.
      this.o.logger('error', 'usage outbox full: dropping new usage batches until it drains', {
        dir: this.dir,
        outboxBytes: this.bytes,
        outboxMaxBytes: this.o.maxBytes,
        outboxFiles: this.files,
      });
    }
    return false;
  }

  private endFullEpisodeIfRoom(): void {
    if (this.fullSince === undefined || this.bytes >= this.o.maxBytes) return;
    this.o.logger('warn', 'usage outbox accepting batches again', {
      dir: this.dir,
      droppedSnippets: this.droppedInEpisode,
      fullForMs: this.now() - this.fullSince,
    });
    this.fullSince = undefined;
    this.droppedInEpisode = 0;
  }

  private nextBase(id: string): string {
    this.counter = (this.counter + 1) % 1e9;
    return `${String(this.now()).padStart(15, '0')}-${String(this.counter).padStart(9, '0')}-${id}`;
  }

  private track(base: string, bytes: number): void {
    const old = this.sizes.get(base);
    if (old !== undefined) this.total -= old;
    this.sizes.set(base, bytes);
    this.total += bytes;
  }

  private untrack(base: string): void {
    const old = this.sizes.get(base);
    if (old === undefined) return;
    this.sizes.delete(base);
    this.total -= old;
  }

  /** A .tmp older than a stale claim was left by a crash between write and rename: keep it if whole. */
  private async recoverTmp(name: string, now: number): Promise<void> {
    const path = join(this.dir, name);
    const base = name.slice(0, -'.tmp'.length);
    try {
      const st = await stat(path);
      if (now - st.mtimeMs <= this.o.staleClaimMs) return;
      if (parseBatch(await readFile(path, 'utf8'))) {
        await rename(path, join(this.dir, `${base}.batch`));
        this.track(base, st.size);
      } else {
        await this.quarantine(name, base, 'torn outbox file set aside');
      }
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
  }

  private async quarantine(file: string, base: string, msg: string): Promise<void> {
    await rename(join(this.dir, file), join(this.dir, `${base}.bad`)).catch(() => undefined);
    this.untrack(base);
    this.o.logger('error', msg, { dir: this.dir, file: `${base}.bad` });
  }

  private async syncDir(): Promise<void> {
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}
