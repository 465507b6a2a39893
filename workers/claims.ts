// First report wins: usage that several requests can carry (a batch's results read twice, a background response
// created streamed and read back) is claimed in Redis by the first of them, and the others learn who that was.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { UsageSnippet } from '../src/usage/snippet.ts';

/** The request id and start time of the first snippet to report some usage. */
export interface ReadIdentity {
  requestId: string;
  ts: number;
}

/** The identity of the first snippet that claimed `key` for the snippet's account and provider (its own if first). */
export type ClaimFirst = (s: UsageSnippet, key: string) => Promise<ReadIdentity>;

/** Longer than anything stays readable: batch results (Anthropic: 29 days; OpenAI: until the file is deleted). */
const CLAIM_TTL_S = 400 * 24 * 3600;

/**
 * The first snippet to claim a key (SET NX) stores its own id and start time; every later one for the same account,
 * provider and key, on any worker, gets that identity back. A job retried after a crash claims again and gets its
 * own identity back, so its rows are the same as the first time.
 */
export function redisClaims(redis: Redis, prefix: string): ClaimFirst {
  return async (s, what) => {
    const own: ReadIdentity = { requestId: s.requestId, ts: s.ts };
    const digest = createHash('sha256').update(`${s.accountId}\0${s.provider}\0${what}`).digest('hex');
    const key = `${prefix}:first-report:${digest}`;
    if ((await redis.set(key, JSON.stringify(own), 'EX', CLAIM_TTL_S, 'NX')) === 'OK') return own;
    return identityOf(await redis.get(key)) ?? own;
  };
}

function identityOf(raw: string | null): ReadIdentity | null {
  try {
    const v = JSON.parse(raw ?? '') as Partial<ReadIdentity>;
    return typeof v.requestId === 'string' && v.requestId !== '' && typeof v.ts === 'number' ? { requestId: v.requestId, ts: v.ts } : null;
  } catch {
    return null;
  }
}

