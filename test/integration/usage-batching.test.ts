// AROUTER_USAGE_BATCH_MAX / AROUTER_USAGE_BATCH_MS reach the producer: a batch is cut on size, one job per batch.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { TEST_REDIS_URL, waitFor } from '../helpers/env.ts';
import { jobSnippets, queuedJobs } from '../helpers/jobs.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';
import { startPipeline, type Pipeline } from '../helpers/pipeline.ts';
import { providerCases } from '../helpers/provider-cases.ts';

let mock: MockUpstream;
let pipe: Pipeline;

beforeAll(async () => {
  mock = await startMockUpstream();
  // An interval far beyond the test's deadline: rows can only arrive if batches are cut on size.
  pipe = await startPipeline(mock.url, { AROUTER_USAGE_BATCH_MAX: '2', AROUTER_USAGE_BATCH_MS: '60000' });
});
afterAll(async () => {
  await pipe.close();
  mock.stop();
});

test('four answers under a batch size of 2 become two jobs of two snippets, and four rows', async () => {
  const c = providerCases().find((x) => !x.reply.gzip)!;
  mock.on(c.path, { body: c.reply.body, headers: { 'content-type': c.reply.contentType } });
  const key = await pipe.createKey('acct-batching');
  for (let i = 0; i < 4; i++) {
    const res = await pipe.runtime.app.handle(
      new Request(`http://arouter.test/${c.slug}${c.path}${c.search ?? ''}`, {
        method: c.method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        ...(c.body ? { body: c.body } : {}),
      }),
    );
    await res.arrayBuffer();
    expect(res.status).toBe(200);
  }
  const rows = await waitFor(async () => {
    const r = await pipe.rows("account_id = 'acct-batching'");
    return r.length >= 4 ? r : null;
  }, 20_000, 'four rows in ClickHouse');
  expect(rows.length).toBe(4);

  const jobs = await queuedJobs(TEST_REDIS_URL, pipe.env.AROUTER_USAGE_QUEUE!);
  expect(jobs.map((j) => jobSnippets(j.data).length)).toEqual([2, 2]);
});
