// First report wins: usage that several requests can carry (a batch's results read twice, a background response
// created streamed and read back) is claimed in Redis by the first of them, and the others learn who that was.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { UsageSnippet } from '../src/usage/snippet.ts';

/** Who first reported some usage: its request id, start time, account and key. */
export interface ReadIdentity {
  requestId: string;
  ts: number;
  accountId: string;
  keyId: string;
}

/**
 * The identity of the first snippet that claimed `what` at the snippet's provider (its own if it is the first),
 * remembered for `ttlS` seconds. Keyed by provider, not account: every key reaches the same provider objects through
 * the operator's credential, so a batch read by two accounts is still counted once, for the first reader.
 */
export type ClaimFirst = (s: UsageSnippet, what: string, ttlS: number) => Promise<ReadIdentity>;

/**
 * SET NX of the snippet's own identity; a later claimant on any worker gets the stored one back. A job retried after
 * a crash claims again and gets its own identity back, so its rows are the same as the first time.
 */
export function redisClaims(redis: Redis, prefix: string): ClaimFirst {
  return async (s, what, ttlS) => {
    const own: ReadIdentity = { requestId: s.requestId, ts: s.ts, accountId: s.accountId, keyId: s.keyId };
    const digest = createHash('sha256').update(`${s.provider}\0${what}`).digest('hex');
    const key = `${prefix}:first-report:${digest}`;
    if ((await redis.set(key, JSON.stringify(own), 'EX', ttlS, 'NX')) === 'OK') return own;
    return identityOf(await redis.get(key)) ?? own;
  };
}

function identityOf(raw: string | null): ReadIdentity | null {
  try {
    const v = JSON.parse(raw ?? '') as Partial<ReadIdentity>;
    const ok = typeof v.requestId === 'string' && v.requestId !== '' && typeof v.ts === 'number' && typeof v.accountId === 'string' && typeof v.keyId === 'string';
    return ok ? { requestId: v.requestId!, ts: v.ts!, accountId: v.accountId!, keyId: v.keyId! } : null;
  } catch {
    return null;
  }
}
