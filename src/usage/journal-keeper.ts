// The producer's side of the crash journal: its own journal's heartbeat, and dead processes' journals moved into the outbox.
import { Journal, OrphanScanner, type JournalMark } from './journal.ts';
import type { OutboxBatch } from './outbox.ts';
import { errText, JOURNAL_BEAT_MS, type UsageLogger } from './producer-options.ts';

/** Every fifth heartbeat also looks for dead processes' journals. */
const SCAN_EVERY = 5;

export interface JournalKeeperOptions {
  dir: string;
  owner: string;
  /** 0: no journal of its own (dead processes' journals are still recovered). */
  bytes: number;
  staleMs: number;
  batchMax: number;
  log: UsageLogger;
  /** Writes a recovered batch to the outbox; 'full' when the outbox dropped it (and counted it). */
  spool(batch: OutboxBatch): 'written' | 'full';
  /** Called after recovered batches were spooled, so the outbox drain starts. */
  onRecovered(): void;
}

export class JournalKeeper {
  /** Snippets recovered from dead processes' journals into the outbox. */
  recovered = 0;
  private readonly journal: Journal | undefined;
  private readonly scanner: OrphanScanner;
  private readonly timer: ReturnType<typeof setInterval>;
  private beats = 0;
  private closed = false;

  constructor(private readonly o: JournalKeeperOptions) {
    this.journal = o.bytes > 0 ? this.open() : undefined;
    this.scanner = new OrphanScanner(o.dir, o.owner, o.staleMs);
    this.timer = setInterval(this.tick, JOURNAL_BEAT_MS);
    // Background work must not keep a finished process alive.
    this.timer.unref();
    // Seen now, a dead predecessor's journal is recovered once it has stayed still for staleMs.
    setTimeout(() => this.recover(), 0).unref();
  }

  get skipped(): number {
    return this.journal?.skipped ?? 0;
  }

  /** `text`: the snippet's JSON. */
  append(text: string): void {
    this.journal?.append(text);
  }

  cut(): JournalMark | undefined {
    return this.journal?.cut();
  }

  ack(mark: JournalMark | undefined): void {
    if (mark) this.journal?.ack(mark);
  }

  /**
   * Every batch is in Redis or on disk: the journal goes. With snippets lost at close (neither Redis nor the disk
   * took them) it stays, and the next process on this outbox recovers them.
   */
  close(lost: boolean): void {
    this.closed = true;
    clearInterval(this.timer);
    if (!lost) this.journal?.remove();
  }

  private open(): Journal | undefined {
    try {
      return new Journal(this.o.dir, this.o.owner, this.o.bytes);
    } catch (e) {
      this.o.log('error', 'usage crash journal unavailable; a killed process would lose its open batch', { dir: this.o.dir, error: errText(e) });
      return undefined;
    }
  }

  private readonly tick = (): void => {
    this.beat();
    if (++this.beats % SCAN_EVERY === 0) this.recover();
  };

  private beat(): void {
    try {
      if (this.journal?.beat() === 'remade') {
        this.o.log('warn', "usage crash journal was taken for a dead process's (a stall of journalStaleMs or more); made again", { journal: this.journal.path });
      }
    } catch (e) {
      this.o.log('error', 'usage crash journal could not be made again; a killed process would lose its open batch until it can', { error: errText(e) });
    }
  }

  /** Moves one dead process's journal into the outbox; the usual drain sends it. */
  private recover(): void {
    if (this.closed) return;
    try {
      const orphan = this.scanner.next();
      if (!orphan) return;
      let spooled = 0;
      for (let i = 0; i < orphan.snippets.length; i += this.o.batchMax) {
        const snippets = orphan.snippets.slice(i, i + this.o.batchMax);
        const json = orphan.json.slice(i, i + this.o.batchMax);
        // Ids fixed by the journal, the place of its lines and the lines themselves: a batch spooled again (a retry
        // after a full outbox, two processes recovering one journal) is the same BullMQ job, which Redis takes once.
        // The lines are in the id because a writer remade after a stall journals new lines from the same offsets
        // (a quiet ring restarts at 0): the same owner and place would name a job Redis holds already and drops.
        const id = `j-${orphan.owner}-${orphan.tail}-${i}-${Bun.hash(json.join('\n')).toString(36)}`;
        if (this.o.spool({ id, snippets, json }) === 'full') {
          this.o.log('error', 'usage journal recovery waits: the outbox is full', { journal: orphan.path, spooled, snippets: orphan.snippets.length });
          return;
        }
        spooled += snippets.length;
        // A large journal takes a while: this process must not look dead to a third one meanwhile.
        this.beat();
      }
      this.scanner.done(orphan);
      this.recovered += spooled;
      this.o.log('warn', 'usage: recovered the crash journal of a process that stopped without closing', {
        journal: orphan.path,
        snippets: orphan.snippets.length,
        spooled,
        unreadable_lines: orphan.unreadable,
      });
      this.o.onRecovered();
    } catch (e) {
      // Kept for the next scan unless it could not be removed: a journal is removed only once it is in the outbox.
      this.o.log('error', 'usage journal recovery failed', { dir: this.o.dir, error: errText(e) });
    }
  }
}
