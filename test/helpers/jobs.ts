// The snippets inside a usage job's data, whichever form the producer sent (see src/usage/job-payload.ts).
import { decodeUsageJob } from '../../src/usage/job-payload.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';

export function jobSnippets(data: unknown): UsageSnippet[] {
  const d = decodeUsageJob(data);
  if (!d.ok) throw new Error(d.error);
  return d.snippets as UsageSnippet[];
}
