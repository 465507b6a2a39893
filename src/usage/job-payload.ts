// The BullMQ job payload of one batch of usage snippets: zstd-compressed JSON, base64-encoded in the job's data.
import type { UsageSnippet } from './snippet.ts';

/**
 * Snippets of one batch differ in a few ids and counts, so they compress about tenfold. Redis then stores, copies
 * into its Lua scripts and hands to the worker a tenth of the bytes: its CPU per snippet falls about fourfold and a
 * backlog (a worker outage) takes a tenth of the memory.
 */
export interface CompressedUsageJob {
  /** base64 of zstd(JSON array of snippets). */
  zstd: string;
  /** Snippets inside, for operators reading the queue. */
  count: number;
}

/** The uncompressed form: older producers, snippets split off by the worker, and the fallback below. */
export interface PlainUsageJob {
  snippets: UsageSnippet[];
}

export type UsageJobData = CompressedUsageJob | PlainUsageJob;

/** The most snippets one job may carry (the producer's batchMax cannot exceed it): more is not a job arouter sent. */
export const MAX_SNIPPETS_PER_JOB = 100_000;

/** zstd level 1: the fastest, and already close to the best ratio for these repetitive batches. */
const LEVEL = 1;

/**
 * The snippets as a JSON array, the bytes JSON.stringify would write; from `json`, each snippet's text, when the
 * producer has it already, so no snippet is encoded twice.
 */
export function snippetsJson(snippets: readonly UsageSnippet[], json?: readonly string[]): string {
  return json && json.length === snippets.length ? `[${json.join(',')}]` : JSON.stringify(snippets);
}

export function encodeUsageJob(snippets: UsageSnippet[], json?: readonly string[]): UsageJobData {
  try {
    const packed = Bun.zstdCompressSync(snippetsJson(snippets, json), { level: LEVEL });
    return { zstd: Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength).toString('base64'), count: snippets.length };
  } catch {
    // Compression cannot fail on valid input, but if it ever does the batch still goes out, uncompressed.
    return { snippets };
  }
}

/** The snippets of a job's data, unchecked (the worker validates each one), or an error naming what is wrong. */
export function decodeUsageJob(data: unknown): { ok: true; snippets: unknown[] } | { ok: false; error: string } {
  if (typeof data !== 'object' || data === null) return { ok: false, error: 'usage job data must be an object' };
  const d = data as { snippets?: unknown; zstd?: unknown };
  if (Array.isArray(d.snippets)) return counted(d.snippets);
  if (typeof d.zstd !== 'string') return { ok: false, error: 'usage job data must be { zstd: string } or { snippets: UsageSnippet[] }' };
  let text: string;
  try {
    const raw = Bun.zstdDecompressSync(Buffer.from(d.zstd, 'base64'));
    text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  } catch {
    return { ok: false, error: 'usage job payload is not valid zstd' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, error: 'usage job payload is not valid JSON' };
  }
  return Array.isArray(parsed) ? counted(parsed) : { ok: false, error: 'usage job payload must be a JSON array of snippets' };
}

function counted(snippets: unknown[]): { ok: true; snippets: unknown[] } | { ok: false; error: string } {
  if (snippets.length > MAX_SNIPPETS_PER_JOB) return { ok: false, error: `usage job holds ${snippets.length} snippets, over the limit of ${MAX_SNIPPETS_PER_JOB}` };
  return { ok: true, snippets };
}
