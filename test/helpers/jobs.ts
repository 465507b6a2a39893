// Usage jobs as tests read them: every job a queue holds, and the snippets inside one (src/usage/job-payload.ts).
import { Queue, type Job } from 'bullmq';
import { decodeUsageJob, type UsageJobData } from '../../src/usage/job-payload.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';

/** Every job in the queue, whatever its state, read over a connection of its own. */
export async function queuedJobs(redisUrl: string, queueName: string): Promise<Job<UsageJobData>[]> {
  const q = new Queue<UsageJobData>(queueName, { connection: { url: redisUrl } });
  try {
    return await q.getJobs(['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed']);
  } finally {
    await q.close();
  }
}

export function jobSnippets(data: unknown): UsageSnippet[] {
  const d = decodeUsageJob(data);
  if (!d.ok) throw new Error(d.error);
  return d.snippets as UsageSnippet[];
}
