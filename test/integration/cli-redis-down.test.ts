// The CLI against a Redis that is not there: a clear error naming the setting (never its password), not a hang.
import { expect, test } from 'bun:test';
import { runCli } from '../../src/cli.ts';
import { freePort } from '../helpers/usage-db.ts';

test('every command group ends at once with an error naming REDIS_URL, its password left out', async () => {
  const port = freePort();
  const env = { REDIS_URL: `redis://:pw-SECRET-123456@127.0.0.1:${port}` };
  for (const args of [['usage', 'failed'], ['usage', 'retry', '--all'], ['keys', 'list', '--account', 'acme'], ['objects', 'owner', '--provider', 'openai', 'file-1']]) {
    const out: string[] = [];
    // A BullMQ queue used to wait for Redis without end here; the test's own timeout would end it.
    expect(await runCli(args, (s) => void out.push(s), env)).toBe(1);
    expect(out).toEqual([`error: Redis did not answer at REDIS_URL (redis://127.0.0.1:${port}): ECONNREFUSED`]);
  }
});
