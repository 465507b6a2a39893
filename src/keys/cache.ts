// Per-pod key cache: the hot path reads memory; Redis is consulted on a miss and refreshed in the background.
import type { KeyRecord } from './store.ts';

export interface KeyLookup {
  findByHash(hash: string): Promise<KeyRecord | null>;
}

interface Entry {
  record: KeyRecord | null;
  checkedAt: number;
  refreshing: boolean;
  /** When the last re-check past maxAge failed: for a short while after, stale entries are served without waiting. */
  failedAt: number;
}

/** After a failed re-check, how long requests use the (still in grace) cached entry instead of waiting on the store again. */
const RETRY_AFTER_FAILURE_MS = 1_000;

export interface KeyCacheOptions {
  /** After this, a hit is served but re-checked in the background. */
  refreshAfterMs: number;
  /**
   * After this, a hit is not trusted and the request waits for Redis (bounds revocation delay when pub/sub is missed),
   * unless the revocation feed has been up since the entry was checked: then it could not have missed one.
   */
  maxAgeMs: number;
  /** When Redis is down, known keys keep working this long past maxAge. */
  outageGraceMs: number;
  maxEntries: number;
  now?: () => number;
}

export class KeyStoreUnavailable extends Error {
  readonly code = 'key_store_unavailable';
}

export class KeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<KeyRecord | null>>();
  /**
   * When a revocation was heard while that key had a lookup in flight: any lookup that started before it may have read
   * the record before the revoke. Kept until no lookup of the key is in flight, since a blocking load and a background
   * re-check can overlap.
   */
  private readonly revokedWhileLoading = new Map<string, number>();
  private readonly now: () => number;
  /** Since when revocation messages have been arriving without a break (null: the feed is down or never came up). */
  private feedUpSince: number | null = null;

  constructor(
    private readonly lookup: KeyLookup,
    private readonly opts: KeyCacheOptions,
  ) {
    if (opts.refreshAfterMs > opts.maxAgeMs) throw new Error('KeyCache: refreshAfterMs must not exceed maxAgeMs');
    this.now = opts.now ?? Date.now;
  }

  /**
   * The record when it can be used without waiting for a lookup (the common case), else undefined: callers then
   * take get(). Synchronous, so the hot path does not pay for a promise per request.
   */
  peek(hash: string): KeyRecord | null | undefined {
    const e = this.entries.get(hash);
    if (e === undefined) return undefined;
    const age = this.now() - e.checkedAt;
    if (age < this.opts.refreshAfterMs) return e.record;
    if (!this.usableWhileRefreshing(e, age)) return undefined;
    this.refreshSoon(hash, e);
    return e.record;
  }

  /** Resolves the record for a key hash, or null for unknown keys. Throws KeyStoreUnavailable on a cold miss with Redis down. */
  async get(hash: string): Promise<KeyRecord | null> {
    const usable = this.peek(hash);
    if (usable !== undefined) return usable;
    const e = this.entries.get(hash);
    if (!e) return this.load(hash);
    const now = this.now();
    const inGrace = !!e.record && now - e.checkedAt < this.opts.maxAgeMs + this.opts.outageGraceMs;
    // A store that just failed (down, or frozen until a command timeout) must not make every request wait again.
    if (inGrace && now - e.failedAt < RETRY_AFTER_FAILURE_MS) {
      this.refreshSoon(hash, e);
      return e.record;
    }
    try {
      return await this.load(hash);
    } catch (err) {
      e.failedAt = this.now();
      if (inGrace) return e.record;
      throw err;
    }
  }

  /** Called on a revocation message: forget the key at once. */
  invalidate(hash: string): void {
    const e = this.entries.get(hash);
    if (e?.record) e.record = { ...e.record, revoked: true };
    if (this.loading.has(hash) || e?.refreshing) this.revokedWhileLoading.set(hash, this.now());
  }

  /**
   * The revocation feed (pub/sub) is subscribed, or has just dropped. Call `true` only once the subscription is
   * confirmed by the server: every revocation published after that moment reaches this pod.
   */
  setRevocationFeed(up: boolean): void {
    if (!up) this.feedUpSince = null;
    else this.feedUpSince ??= this.now();
  }

  /** Whether revocations are arriving now (for metrics: while false, idle keys wait for Redis past maxAge). */
  get revocationFeedUp(): boolean {
    return this.feedUpSince !== null;
  }

  /**
   * Before maxAge; or past it while the feed has been up since the check (a revocation since would have arrived), but
   * no longer than the outage grace: an entry no re-check has confirmed for that long waits for Redis, feed or not.
   */
  private usableWhileRefreshing(e: Entry, age: number): boolean {
    if (age < this.opts.maxAgeMs) return true;
    return this.feedUpSince !== null && e.checkedAt >= this.feedUpSince && age < this.opts.maxAgeMs + this.opts.outageGraceMs;
  }

  get size(): number {
    return this.entries.size;
  }

  /** One store lookup per key at a time, however many requests are waiting for it. */
  private load(hash: string): Promise<KeyRecord | null> {
    let p = this.loading.get(hash);
    if (!p) {
      p = this.loadOnce(hash).finally(() => {
        this.loading.delete(hash);
        this.forgetRevocationIfIdle(hash);
      });
      this.loading.set(hash, p);
    }
    return p;
  }

  private async loadOnce(hash: string): Promise<KeyRecord | null> {
    // The record may have been read at any point of the lookup: its start is the moment it is known to be current.
    const checkedAt = this.now();
    let record: KeyRecord | null;
    try {
      record = await this.lookup.findByHash(hash);
    } catch (err) {
      throw new KeyStoreUnavailable(err instanceof Error ? err.message : 'lookup failed');
    }
    record = this.withRevocationsHeard(hash, record, checkedAt);
    if (this.entries.size >= this.opts.maxEntries) this.evictOldest();
    this.entries.set(hash, { record, checkedAt, refreshing: false, failedAt: 0 });
    return record;
  }

  /**
   * Re-checks an entry after the current request has gone on its way: issuing a Redis command costs the request that
   * triggers it a good fraction of a millisecond when the process has been idle.
   */
  private refreshSoon(hash: string, e: Entry): void {
    if (e.refreshing) return;
    e.refreshing = true;
    setImmediate(() => this.refreshInBackground(hash, e));
  }

  private refreshInBackground(hash: string, e: Entry): void {
    const checkedAt = this.now();
    this.lookup.findByHash(hash).then(
      (record) => {
        e.record = this.withRevocationsHeard(hash, record, checkedAt);
        e.checkedAt = checkedAt;
        e.refreshing = false;
        this.forgetRevocationIfIdle(hash);
      },
      () => {
        e.refreshing = false;
        this.forgetRevocationIfIdle(hash);
      },
    );
  }

  /** A looked-up record, marked revoked if a revocation for it arrived after the lookup started. */
  private withRevocationsHeard(hash: string, record: KeyRecord | null, startedAt: number): KeyRecord | null {
    const revokedAt = this.revokedWhileLoading.get(hash);
    return revokedAt !== undefined && startedAt <= revokedAt && record ? { ...record, revoked: true } : record;
  }

  private forgetRevocationIfIdle(hash: string): void {
    if (!this.loading.has(hash) && !this.entries.get(hash)?.refreshing) this.revokedWhileLoading.delete(hash);
  }

  private evictOldest(): void {
    // Map iterates in insertion order: dropping the first ~10% is a cheap approximation of LRU.
    let n = Math.max(1, Math.floor(this.entries.size / 10));
    for (const k of this.entries.keys()) {
      this.entries.delete(k);
      if (--n === 0) break;
    }
  }
}
