// Keys in Redis, stored only as hashes; revocations are published so every pod drops them at once.
import type Redis from 'ioredis';
import { generateKey, generateKeyId, hashKey } from './format.ts';

/**
 * A key's reach into the providers' stored-object APIs, whose objects every account shares (README, Keys): all of
 * them (true), none (false), or only the objects its own account's requests made ('own', where a provider declares
 * which collections arouter can track).
 */
export type StoredObjectAccess = boolean | 'own';

export interface KeyRecord {
  id: string;
  account: string;
  name: string;
  createdAt: string;
  revoked: boolean;
  /** Requests per minute allowed on this key per pod; 0 = the pod default. */
  rpm: number;
  storedObjects: StoredObjectAccess;
  /** SHA-256 of the secret, compared in constant time on every check. */
  hash: string;
}

export interface CreatedKey {
  id: string;
  key: string;
  account: string;
  name: string;
  /** Requests per minute on each pod; 0: the pod default (AROUTER_KEY_RPM). */
  rpm: number;
  storedObjects: StoredObjectAccess;
}

/** What a key may do besides reaching the providers; absent options keep the defaults. */
export interface KeyOptions {
  name?: string;
  /** Requests per minute per pod; 0 = the pod default. */
  rpm?: number;
  /** false keeps the key off every provider's stored-object APIs, 'own' limits it to its account's objects; default true. */
  storedObjects?: StoredObjectAccess;
}

/** Account ids: what the admin API and the CLI accept (they are parts of Redis keys and log fields). */
export const ACCOUNT_ID_PATTERN = '^[A-Za-z0-9._:@-]+$';
export const ACCOUNT_ID_MAX = 128;

export class KeyStore {
  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
  ) {}

  get revocationChannel(): string {
    return `${this.prefix}:revocations`;
  }

  private byHash(hash: string) {
    return `${this.prefix}:key:${hash}`;
  }
  private byId(id: string) {
    return `${this.prefix}:keyid:${id}`;
  }
  private accountSet(account: string) {
    return `${this.prefix}:account:${account}`;
  }

  async create(account: string, o: KeyOptions = {}): Promise<CreatedKey> {
    const key = generateKey();
    const id = generateKeyId();
    const hash = hashKey(key);
    const name = o.name ?? '';
    const storedObjects = o.storedObjects ?? true;
    const fields = { id, account, name, createdAt: new Date().toISOString(), revoked: '0', rpm: String(o.rpm ?? 0), ...storedFields(storedObjects), hash };
    await this.redis
      .multi()
      .hset(this.byHash(hash), fields)
      .set(this.byId(id), hash)
      .sadd(this.accountSet(account), id)
      .exec();
    return { id, key, account, name, rpm: o.rpm ?? 0, storedObjects };
  }

  async findByHash(hash: string): Promise<KeyRecord | null> {
    const h = await this.redis.hgetall(this.byHash(hash));
    return h.id ? toRecord(h) : null;
  }

  async list(account: string): Promise<KeyRecord[]> {
    const ids = await this.redis.smembers(this.accountSet(account));
    if (ids.length === 0) return [];
    const hashes = await this.redis.mget(ids.map((id) => this.byId(id)));
    const pipe = this.redis.pipeline();
    for (const h of hashes) if (h) pipe.hgetall(this.byHash(h));
    const rows = (await pipe.exec()) ?? [];
    return rows
      .map(([, v]) => v as Record<string, string>)
      .filter((v) => v && v.id)
      .map(toRecord)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Returns false when no such key exists. */
  async revoke(id: string): Promise<boolean> {
    const hash = await this.redis.get(this.byId(id));
    if (!hash) return false;
    await this.redis.hset(this.byHash(hash), 'revoked', '1');
    await this.redis.publish(this.revocationChannel, hash);
    return true;
  }
}

/**
 * "own" is stored as "none" plus a field of its own, so a pod from before the option reads such a key as kept off
 * the stored objects entirely (safe during a rolling upgrade or a rollback) rather than as reaching all of them.
 */
function storedFields(access: StoredObjectAccess): Record<string, string> {
  if (access === 'own') return { storedObjects: '0', ownStoredObjects: '1' };
  return { storedObjects: access ? '1' : '0' };
}

function toRecord(h: Record<string, string>): KeyRecord {
  return {
    id: h.id ?? '',
    account: h.account ?? '',
    name: h.name ?? '',
    createdAt: h.createdAt ?? '',
    revoked: h.revoked === '1',
    rpm: Number(h.rpm ?? 0) || 0,
    // Keys created before the option existed had no such field: they keep the access they had.
    // 'own' in the field itself was how a development build stored it: still read as what it meant.
    storedObjects: h.storedObjects === '0' ? (h.ownStoredObjects === '1' ? 'own' : false) : h.storedObjects === 'own' ? 'own' : true,
    hash: h.hash ?? '',
  };
}
