// Turns a request's key into an account, or an ArouterError; per-pod rate limiting of keys lives here too.
import { ArouterError, keyStoreUnavailable, rateLimited, unauthorized } from '../errors.ts';
import { type KeyCache, KeyStoreUnavailable } from './cache.ts';
import { hashKey, looksLikeKey, sameHash } from './format.ts';
import type { KeyRecord } from './store.ts';

export interface Principal {
  accountId: string;
  keyId: string;
  /** The raw key, kept only to strip/redact it; never logged. */
  secret: string;
}

export class Authenticator {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly cache: KeyCache,
    private readonly defaultRpm: number,
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
    let record: KeyRecord | null;
    try {
      record = await this.cache.get(hash);
    } catch (err) {
      if (err instanceof KeyStoreUnavailable) throw keyStoreUnavailable();
      throw err;
    }
    return this.admit(key, hash, record);
  }

  private admit(key: string, hash: string, record: KeyRecord | null): Principal {
    if (!record || !sameHash(hash, record.hash)) throw unauthorized('Unknown arouter key.');
    if (record.revoked) throw unauthorized('This arouter key has been revoked.');
    this.checkRate(record);
    return { accountId: record.account, keyId: record.id, secret: key };
  }

  private checkRate(record: KeyRecord): void {
    const limit = record.rpm || this.defaultRpm;
    if (!limit) return;
    const now = Date.now();
    let w = this.windows.get(record.id);
    if (!w || now - w.start >= 60_000) {
      w = { start: now, count: 0 };
      this.windows.set(record.id, w);
    }
    if (++w.count > limit) {
      throw rateLimited(`Key ${record.id} is over its limit of ${limit} requests per minute on this pod; retry after ${Math.ceil((w.start + 60_000 - now) / 1000)} s.`);
    }
  }
}

export { ArouterError };
