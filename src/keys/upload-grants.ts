// Upload sessions a provider hands out as a URL: the URL arouter gives back carries a grant standing in for the key.
//
// Google's resumable upload answers its start request with an upload URL; the Python SDK and Google's own REST steps
// then send the bytes there with no credential at all (the provider's upload_id is the capability). arouter turns
// the URL into one through itself, so it appends a grant: a random token, kept in Redis (as its hash) with the key
// that started the session and the exact URL it is good for. A request to that URL without an arouter key is then
// the starting key's, revocation and rate limit included; nothing else can be reached with the token.
import { createHash, randomBytes } from 'node:crypto';
import type Redis from 'ioredis';

/** The query parameter the grant rides in; stripped before anything is forwarded. */
export const GRANT_PARAM = 'arouter_upload';

/** Google keeps a resumable upload session for a week. */
const GRANT_TTL_S = 7 * 24 * 3600;

export interface UploadGrant {
  /** Hash of the arouter key that started the session. */
  keyHash: string;
  /** `<slug><path><query without the grant>` the grant is good for. */
  target: string;
}

export interface UploadGrants {
  /** A new grant for `target`, or null when it cannot be recorded (the URL then goes out without one). */
  mint(grant: UploadGrant): Promise<string | null>;
  /** The key hash a grant stands for at `target`, or null when it is unknown, expired or for another URL. */
  redeem(token: string, target: string): Promise<string | null>;
}

export class GrantStoreUnavailable extends Error {}

const tokenHash = (token: string) => createHash('sha256').update(token).digest('base64url');

export function redisUploadGrants(redis: Redis, prefix: string): UploadGrants {
  const key = (token: string) => `${prefix}:upload:${tokenHash(token)}`;
  return {
    async mint(grant) {
      const token = randomBytes(24).toString('base64url');
      try {
        await redis.set(key(token), JSON.stringify(grant), 'EX', GRANT_TTL_S);
        return token;
      } catch {
        return null;
      }
    },
    async redeem(token, target) {
      let raw: string | null;
      try {
        raw = await redis.get(key(token));
      } catch {
        throw new GrantStoreUnavailable();
      }
      if (raw === null) return null;
      const grant = JSON.parse(raw) as Partial<UploadGrant>;
      return grant.target === target && typeof grant.keyHash === 'string' ? grant.keyHash : null;
    },
  };
}

/** The query without the grant parameter ('' or '?...'), and the grant's value if there was one. */
export function splitGrant(search: string): { search: string; token: string | null } {
  if (!search.includes(`${GRANT_PARAM}=`)) return { search, token: null };
  let token: string | null = null;
  const kept = search
    .slice(1)
    .split('&')
    .filter((pair) => {
      if (!pair.startsWith(`${GRANT_PARAM}=`)) return true;
      token ??= pair.slice(GRANT_PARAM.length + 1);
      return false;
    });
  const rest = kept.join('&');
  return { search: rest ? `?${rest}` : '', token };
}

/** `url` with the grant appended to its query. */
export function withGrant(url: string, token: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${GRANT_PARAM}=${token}`;
}
