// Turns a request's key into an account, or an ArouterError; per-pod rate limiting of keys lives here too.
import { ArouterError, KeyRefusedError, keyStoreUnavailable, unauthorized } from '../errors.ts';
import { type KeyCache, KeyStoreUnavailable } from './cache.ts';
import { hashKey, looksLikeKey, sameHash } from './format.ts';
import type { KeyRecord, StoredObjectAccess } from './store.ts';

export interface Principal {
  accountId: string;
  keyId: string;
  /** How far the key reaches into the providers' stored-object APIs (see StoredObjectAccess). */
  storedObjects: StoredObjectAccess;
  /** The raw key, kept only to strip/redact it; never logged. (For a request on an upload grant: the grant.) */
  secret: string;
  /** Hash of the arouter key the request acts for (what an upload grant records). */
  keyHash?: string;
  /** The upload grant the request came with instead of a key. */
  grant?: string;
}

const MINUTE_MS = 60_000;

/** One key's requests in the current minute and the one before, for a sliding one-minute window. */
interface RateWindow {
  start: number;
  count: number;
  previous: number;
}

export class Authenticator {
  private readonly windows = new Map<string, RateWindow>();

  constructor(
    private readonly cache: KeyCache,
    private readonly defaultRpm: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Synchronous when the key is in the pod's cache (the common case); throws an ArouterError for a refused key. */
  authenticate(key: string | null): Principal | Promise<Principal> {
    if (!key) throw unauthorized();
    if (!looksLikeKey(key)) throw unauthorized('Invalid arouter key. Keys look like "lr_live_..."; create one with POST /admin/keys.');
    const hash = hashKey(key);
    const cached = this.cache.peek(hash);
    return cached === undefined ? this.lookup(key, hash) : this.admit(key, hash, cached);
  }

  private async lookup(key: string, hash: string): Promise<Principal> {
    return this.admit(key, hash, await this.recordOf(hash));
  }

  /** The key's record from the cache, or Redis when it is not cached; a 503 when Redis is needed and unreachable. */
  private async recordOf(hash: string): Promise<KeyRecord | null> {
    try {
      return await this.cache.get(hash);
    } catch (err) {
      if (err instanceof KeyStoreUnavailable) throw keyStoreUnavailable();
      throw err;
    }
  }

  private admit(key: string, hash: string, record: KeyRecord | null): Principal {
    if (!record || !sameHash(hash, record.hash)) throw unauthorized('Unknown arouter key.');
    if (record.revoked) throw new KeyRefusedError(401, 'authentication_error', 'This arouter key has been revoked.', record.id, record.account);
    this.checkRate(record);
    return { accountId: record.account, keyId: record.id, storedObjects: record.storedObjects, secret: key, keyHash: hash };
  }

  /**
   * A request on an upload grant (see upload-grants.ts) acts for the key that started the session: refused like that
   * key would be when it is gone, revoked or over its limit.
   */
  async authenticateGrant(keyHash: string, grant: string): Promise<Principal> {
    const record = await this.recordOf(keyHash);
    if (!record) throw unauthorized('The arouter key that started this upload no longer exists.');
    if (record.revoked) throw new KeyRefusedError(401, 'authentication_error', 'The arouter key that started this upload has been revoked.', record.id, record.account);
    this.checkRate(record);
    return { accountId: record.account, keyId: record.id, storedObjects: record.storedObjects, secret: grant, keyHash, grant };
  }

  /**
   * A sliding minute: the previous minute's count weighs in by the part of it still inside the last 60 s, so a burst
   * split across a minute boundary cannot pass twice the limit (a fixed window lets N through at 0:59 and N at 1:01).
   * Refused requests are not counted.
   */
  private checkRate(record: KeyRecord): void {
    const limit = record.rpm || this.defaultRpm;
    if (!limit) return;
    const now = this.now();
    let w = this.windows.get(record.id);
    if (!w) {
      w = { start: now, count: 0, previous: 0 };
      this.windows.set(record.id, w);
    }
    const elapsed = Math.floor((now - w.start) / MINUTE_MS);
    if (elapsed > 0) {
      w.previous = elapsed === 1 ? w.count : 0;
      w.count = 0;
      w.start += elapsed * MINUTE_MS;
    }
    const carried = w.previous * (1 - (now - w.start) / MINUTE_MS);
    if (carried + w.count + 1 > limit) {
      // When enough of the previous minute has slid out; if this minute alone is full, when this minute has ended and
      // enough of it has slid out in turn (its count then weighs in as the previous one).
      const room = limit - w.count - 1;
      const waitMs =
        room < 0
          ? w.start + MINUTE_MS - now + Math.max(0, 1 - (limit - 1) / w.count) * MINUTE_MS
          : (1 - room / w.previous) * MINUTE_MS - (now - w.start);
      // Whole milliseconds first (floating point leaves 20000.000000000004), and at most the window: the OpenAI SDK
      // ignores a Retry-After over 60 s, and the Anthropic SDK would sleep through a longer one on every retry.
      const waitS = Math.max(1, Math.ceil(Math.round(waitMs) / 1000));
      throw new KeyRefusedError(429, 'rate_limit_exceeded', `Key ${record.id} is over its limit of ${limit} requests per minute on this pod; retry after ${waitS} s.`, record.id, record.account, Math.min(60, waitS));
    }
    w.count++;
  }
}

export { ArouterError };
