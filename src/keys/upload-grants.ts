// Upload sessions a provider hands out as a URL: the URL arouter gives back carries a grant standing in for the key.
//
// Google's resumable upload answers its start request with an upload URL; the Python SDK and Google's own REST steps
// then send the bytes there with no credential at all (the provider's upload_id is the capability). arouter turns
// the URL into one through itself, so it appends a grant: a random token, kept in Redis (as its hash) with the key
// that started the session and the exact URL it is good for. A request to that URL with no credential, by the
// session's methods, is then the starting key's, revocation and rate limit included, until the session ends.
import { createHash, randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { queryParamName } from './extract.ts';

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
  /** The key hash a grant stands for at `target`, or null when it is unknown, expired or for another URL; throws when the store cannot be read. */
  redeem(token: string, target: string): Promise<string | null>;
  /** The session is over: the grant opens nothing any more. */
  drop(token: string): Promise<void>;
}

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
      // Redis's own errors reach the caller: an unreachable store refuses (503), it never grants.
      const raw = await redis.get(key(token));
      if (raw === null) return null;
      const grant = JSON.parse(raw) as Partial<UploadGrant>;
      return grant.target === target && typeof grant.keyHash === 'string' ? grant.keyHash : null;
    },
    async drop(token) {
      // Best effort: a grant left behind still expires, and opens only its finished session.
      await redis.del(key(token)).catch(() => 0);
    },
  };
}

/** Whether a query pair names the grant, however spelled (percent-encoded, any case): such a pair is never forwarded. */
function namesGrant(pair: string): boolean {
  return queryParamName(pair).toLowerCase() === GRANT_PARAM;
}

/**
 * The query without any grant parameter ('' or '?...'), and the grant's value when there was exactly one, spelled
 * as arouter writes it (two, or another spelling, are no grant: the request then needs a key).
 */
export function splitGrant(search: string): { search: string; token: string | null } {
  if (!search.includes('%') && !search.toLowerCase().includes(GRANT_PARAM)) return { search, token: null };
  const found: string[] = [];
  const kept = search
    .slice(1)
    .split('&')
    .filter((pair) => {
      if (!namesGrant(pair)) return true;
      found.push(pair);
      return false;
    });
  const rest = kept.join('&');
  const only = found.length === 1 ? (found[0] as string) : '';
  return { search: rest ? `?${rest}` : '', token: only.startsWith(`${GRANT_PARAM}=`) ? only.slice(GRANT_PARAM.length + 1) : null };
}

/** `url` with the grant appended to its query (the URL has no fragment: see ProviderSpec.uploadSessions). */
export function withGrant(url: string, token: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${GRANT_PARAM}=${token}`;
}

/** A handed-out URL's path and query that may carry a grant: the provider's upload session, with no credential in it. */
export function grantable(pathAndQuery: string, session: { url: RegExp }): boolean {
  if (!session.url.test(pathAndQuery)) return false;
  const q = pathAndQuery.indexOf('?');
  return q < 0 || !pathAndQuery.slice(q + 1).split('&').some((pair) => namesGrant(pair) || /^key=/i.test(pair));
}
