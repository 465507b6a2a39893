// The usage queue's failed set, for operators: what failed and why, and putting jobs back once the cause is fixed.
import type { Queue } from 'bullmq';

export interface FailedUsageJob {
  id: string;
  reason: string;
  /** Snippets the job carries (from its payload's count, without decoding it). */
  snippets: number | null;
  failedAt: string | null;
}

export interface FailedUsageJobs {
  failed: number;
  jobs: FailedUsageJob[];
}

/** The failed count and the newest `limit` failed jobs. */
export async function listFailed(queue: Queue, limit: number): Promise<FailedUsageJobs> {
  const [failed, jobs] = await Promise.all([queue.getFailedCount(), limit > 0 ? queue.getFailed(0, limit - 1) : []]);
  return {
    failed,
    jobs: jobs.map((j) => ({
      id: j.id ?? '',
      reason: j.failedReason ?? '',
      snippets: countOf(j.data),
      failedAt: j.finishedOn ? new Date(j.finishedOn).toISOString() : null,
    })),
  };
}

export interface RetryResult {
  retried: string[];
  /** Ids that are not in the failed set (never existed, removed by age, or already retried). */
  notFailed: string[];
}

/**
 * Moves failed jobs back to the wait list with fresh attempts and no stalls counted. A retried batch cannot count twice: its rows collapse by
 * request id, like any replay. Without ids, every failed job is retried.
 */
export async function retryFailed(queue: Queue, ids: readonly string[] | 'all'): Promise<RetryResult> {
  const out: RetryResult = { retried: [], notFailed: [] };
  const wanted = ids === 'all' ? await allFailedIds(queue) : ids;
  for (const id of wanted) {
    const job = await queue.getJob(id);
    if (!job || (await job.getState()) !== 'failed') {
      out.notFailed.push(id);
      continue;
    }
    // BullMQ's retry keeps the stall count ("stc"): a job failed for stalling too often would fail again at its next
    // stall. The job sits in the failed set, where no worker touches it, until the retry below moves it.
    await (await queue.getBackend().client).hdel(queue.toKey(id), 'stc');
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    out.retried.push(id);
  }
  return out;
}

/** Paged, so a large failed set is not read in one reply. */
async function allFailedIds(queue: Queue): Promise<string[]> {
  const ids: string[] = [];
  const page = 500;
  for (let start = 0; ; start += page) {
    const jobs = await queue.getFailed(start, start + page - 1);
    for (const j of jobs) if (j.id) ids.push(j.id);
    if (jobs.length < page) return ids;
  }
}

function countOf(data: unknown): number | null {
  if (typeof data !== 'object' || data === null) return null;
  const d = data as { count?: unknown; snippets?: unknown };
  if (Array.isArray(d.snippets)) return d.snippets.length;
  return typeof d.count === 'number' && Number.isInteger(d.count) && d.count >= 0 ? d.count : null;
}
