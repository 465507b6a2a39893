// First-report claims in a real Redis: one winner among racing claimants, kept for its TTL, per provider and object.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { Redis } from 'ioredis';
import type { UsageSnippet } from '../../src/usage/snippet.ts';
import { redisClaims, type ClaimFirst } from '../../workers/claims.ts';
import { TEST_REDIS_URL, uniqueName } from '../helpers/env.ts';
import { snippet } from '../unit/usage-wire.ts';

let redis: Redis;
let prefix: string;
let claim: ClaimFirst;

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
  prefix = uniqueName('claims');
  claim = redisClaims(redis, prefix);
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const read = (requestId: string, over: Partial<UsageSnippet> = {}): UsageSnippet => ({
  ...snippet({ format: 'openai-batch-output', capture: { kind: 'none' } }),
  provider: 'openai',
  requestId,
  accountId: `acct-${requestId}`,
  keyId: `key-${requestId}`,
  ts: Number(requestId.replace(/\D/g, '')) || 1,
  ...over,
});

test('twenty reads racing for the same results: every one gets the same first identity', async () => {
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(read(`r${i + 1}`), 'results:/v1/files/f-race/content', 60)));
  const winners = new Set(ids.map((id) => JSON.stringify(id)));
  expect(winners.size).toBe(1);
  const [first] = ids;
  expect(first!.accountId).toBe(`acct-${first!.requestId}`);
  // The winner claiming again (a retried job) gets itself back.
  expect(await claim(read(first!.requestId), 'results:/v1/files/f-race/content', 60)).toEqual(first!);
  const keys = await redis.keys(`${prefix}:first-report:*`);
  expect(keys).toHaveLength(1);
  const ttl = await redis.ttl(keys[0]!);
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(60);
});

test('another object or another provider is another claim; an unreadable stored value yields the own identity', async () => {
  const a = await claim(read('r101'), 'response:resp_1', 60);
  expect((await claim(read('r102'), 'response:resp_2', 60)).requestId).toBe('r102');
  expect((await claim(read('r103', { provider: 'xai' }), 'response:resp_1', 60)).requestId).toBe('r103');
  expect((await claim(read('r104'), 'response:resp_1', 60)).requestId).toBe(a.requestId);
  for (const key of await redis.keys(`${prefix}:first-report:*`)) await redis.set(key, 'not json');
  expect((await claim(read('r105'), 'response:resp_1', 60)).requestId).toBe('r105');
});
