// The CLI against a Redis that is not there: a clear error naming the setting (never its password), not a hang.
import { expect, test } from 'bun:test';
import { runCli } from '../../src/cli.ts';
import { startPrivateRedis } from '../helpers/hardening-proc.ts';
import { freePort } from '../helpers/usage-db.ts';

test('every command group ends at once with an error naming REDIS_URL, its password left out', async () => {
  const port = freePort();
  const env = { REDIS_URL: `redis://:pw-SECRET-123456@127.0.0.1:${port}` };
  for (const args of [['usage', 'failed'], ['usage', 'retry', '--all'], ['keys', 'list', '--account', 'acme'], ['keys', 'revoke', 'key_1']]) {
    const out: string[] = [];
    // A BullMQ queue used to wait for Redis without end here; the test's own timeout would end it.
    expect(await runCli(args, (s) => void out.push(s), env)).toBe(1);
    expect(out).toEqual([`error: Redis did not answer at REDIS_URL (redis://127.0.0.1:${port}): ECONNREFUSED`]);
  }
  const owners: string[] = [];
  expect(await runCli(['objects', 'owner', '--provider', 'openai', 'file-1'], (s) => void owners.push(s), env)).toBe(1);
  expect(owners).toEqual(['error: The record of which account made which stored object is unreachable; retry shortly.']);
  // A command that is not one, or lacks what it needs, says so first, as with Redis up.
  const out: string[] = [];
  expect(await runCli(['keys', 'bogus'], (s) => void out.push(s), env)).toBe(2);
  expect(await runCli(['keys', 'create'], (s) => void out.push(s), env)).toBe(1);
  expect(out[0]).toStartWith('usage:');
  expect(out[1]).toStartWith('error: --account is required');
});

test("a Redis that refuses the login: its own reason (NOAUTH, WRONGPASS), the password never shown", async () => {
  const redis = await startPrivateRedis(undefined, ['--requirepass', 'right-pass-123456']);
  try {
    const at = redis.url.replace('redis://', '');
    const said = async (url: string, args: string[]) => {
      const out: string[] = [];
      expect(await runCli(args, (s) => void out.push(s), { REDIS_URL: url })).toBe(1);
      return out;
    };
    for (const args of [['usage', 'failed'], ['keys', 'list', '--account', 'acme']]) {
      expect(await said(redis.url, args)).toEqual([`error: Redis at REDIS_URL (${redis.url}) refused: NOAUTH Authentication required.`]);
      const wrong = await said(`redis://:wrong-SECRET-pass@${at}`, args);
      expect(wrong).toEqual([`error: Redis at REDIS_URL (${redis.url}) refused: WRONGPASS invalid username-password pair or user is disabled.`]);
    }
  } finally {
    redis.child.kill();
    await redis.child.exited;
  }
});
