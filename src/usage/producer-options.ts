// Usage producer settings: types, defaults and the one-time validation the factory runs.
import { mkdirSync } from 'node:fs';
import { MAX_SNIPPETS_PER_JOB } from './job-payload.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | null | undefined>;
/** Structured logger, the same shape as the proxy's. Fields never carry secrets (the Redis URL is reduced to host:port). */
export type UsageLogger = (level: LogLevel, msg: string, fields?: LogFields) => void;

/** How many finished jobs Redis keeps; both limits apply, so the sets cannot grow without bound. */
export interface KeepPolicy {
  count: number;
  ageSeconds: number;
}

export interface UsageJobOptions {
  /** Tries per job; a worker that throws (ClickHouse down, say) gets the job again after a backoff. */
  attempts: number;
  /** First retry delay; doubles each attempt. */
  backoffDelayMs: number;
  keepCompleted: KeepPolicy;
  keepFailed: KeepPolicy;
}

export interface UsageProducerOptions {
  /** redis:// or rediss:// URL. */
  redisUrl: string;
  /** Directory of this process's outbox; created if missing. One per pod. */
  outboxDir: string;
  /** Default: env AROUTER_USAGE_QUEUE, else `arouter-usage`. */
  queueName?: string;
  /** Snippets per job. Default 1024. */
  batchMax?: number;
  /** Longest a snippet waits in memory before its batch is sent. Default 100 ms. */
  batchIntervalMs?: number;
  /** Bytes the outbox may hold before new batches are dropped (and counted). Default 1 GiB. */
  outboxMaxBytes?: number;
  /** fsync each outbox file and the directory. Default false: see the durability notes in producer.ts. */
  outboxFsync?: boolean;
  /** A Redis call not answered within this is treated as failed and its batch spooled. Default 1000 ms. */
  sendTimeoutMs?: number;
  /** Redis probe / outbox drain retry delay, doubling from min to max while Redis stays away. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Outbox files sent per addBulk while draining. Default 32. */
  drainChunk?: number;
  /** A claim on an outbox file older than this is presumed orphaned by a dead process and re-claimed. Default 60 s. */
  staleClaimMs?: number;
  /** Size of the crash journal in the outbox directory (see journal.ts); 0 turns it off. Default 8 MiB. */
  journalBytes?: number;
  /** A journal whose heartbeat stays still this long is a dead process's, recovered into the outbox. Default 10 s, at least 3 s. */
  journalStaleMs?: number;
  logger?: UsageLogger;
  jobOptions?: Partial<Omit<UsageJobOptions, 'keepCompleted' | 'keepFailed'>> & {
    keepCompleted?: Partial<KeepPolicy>;
    keepFailed?: Partial<KeepPolicy>;
  };
}

export interface ResolvedProducerOptions {
  redisUrl: string;
  /** host:port/db, safe to log. */
  redisTarget: string;
  outboxDir: string;
  queueName: string;
  batchMax: number;
  batchIntervalMs: number;
  outboxMaxBytes: number;
  outboxFsync: boolean;
  sendTimeoutMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  drainChunk: number;
  staleClaimMs: number;
  journalBytes: number;
  journalStaleMs: number;
  logger: UsageLogger;
  jobOptions: UsageJobOptions;
}

export const DEFAULT_USAGE_QUEUE = 'arouter-usage';
export const USAGE_JOB_NAME = 'usage';
/**
 * Each job costs the worker and Redis a fixed amount (BullMQ's moves, locks and events) whatever it carries: at
 * arouter's max rate, 1,024-snippet jobs took the worker from 25 to 16 µs and Redis from 7 to 3 µs of CPU per request
 * against 256-snippet ones (bench/README.md). A busy pod cuts a batch on size, a quiet one after the interval.
 */
export const DEFAULT_BATCH_MAX = 1024;
export const DEFAULT_BATCH_INTERVAL_MS = 100;
const GiB = 1024 ** 3;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** JSON lines on stderr, debug suppressed; the proxy normally passes its own logger. */
export const defaultUsageLogger: UsageLogger = (level, msg, fields) => {
  if (LEVELS[level] < LEVELS.info) return;
  console.error(JSON.stringify({ level, time: new Date().toISOString(), component: 'usage-producer', msg, ...fields }));
};

function fail(name: string, why: string): never {
  throw new TypeError(`usage producer: option ${name} ${why}`);
}

function int(name: string, v: number | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(name, `must be an integer in [${min}, ${max}], got ${String(v)}`);
  return v;
}

function keep(name: string, v: Partial<KeepPolicy> | undefined, def: KeepPolicy): KeepPolicy {
  return {
    count: int(`${name}.count`, v?.count, def.count, 1, 10_000_000),
    ageSeconds: int(`${name}.ageSeconds`, v?.ageSeconds, def.ageSeconds, 1, 90 * 86_400),
  };
}

function redisTarget(raw: string): string {
  // A Unix socket path; ioredis reads options, a password among them, from a query after it: never logged.
  if (raw.startsWith('/')) return raw.split('?')[0] as string;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    fail('redisUrl', 'is not a URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') fail('redisUrl', `must use redis: or rediss:, got ${u.protocol}`);
  // Only host, port and db: the URL may carry a password.
  return `${u.hostname}:${u.port || '6379'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
}

export const DEFAULT_JOURNAL_BYTES = 8 * 1024 * 1024;
/** How often a live producer beats its crash journal's heartbeat. */
export const JOURNAL_BEAT_MS = 1_000;
/** The shortest `journalStaleMs`: a live writer keeps several heartbeats of slack. */
export const JOURNAL_STALE_MIN_MS = 3 * JOURNAL_BEAT_MS;

/** An error's message, for a log line. */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The smallest crash journal: a line may take an eighth of the ring, and a snippet's line is a few KiB at most. */
export const JOURNAL_MIN_BYTES = 64 * 1024;

/** 0 (off), or 64 KiB to 1 GiB: the ring's offsets and a line's size are bounded by it. */
function journalBytes(v: number | undefined): number {
  const n = int('journalBytes', v, DEFAULT_JOURNAL_BYTES, 0, GiB);
  if (n !== 0 && n < JOURNAL_MIN_BYTES) fail('journalBytes', `must be 0 (off) or at least ${JOURNAL_MIN_BYTES}, got ${n}`);
  return n;
}

/** Validate once, fill defaults, and make sure the outbox directory exists and is usable. Throws TypeError on bad input. */
export function resolveProducerOptions(o: UsageProducerOptions, env: Record<string, string | undefined> = process.env): ResolvedProducerOptions {
  if (typeof o !== 'object' || o === null) fail('object', 'is required');
  if (typeof o.redisUrl !== 'string' || o.redisUrl === '') fail('redisUrl', 'is required');
  if (typeof o.outboxDir !== 'string' || o.outboxDir === '') fail('outboxDir', 'is required');
  const queueName = o.queueName ?? env.AROUTER_USAGE_QUEUE ?? DEFAULT_USAGE_QUEUE;
  if (typeof queueName !== 'string' || queueName === '' || queueName.includes(':')) fail('queueName', 'must be a non-empty string without ":"');
  if (o.logger !== undefined && typeof o.logger !== 'function') fail('logger', 'must be a function');
  if (o.outboxFsync !== undefined && typeof o.outboxFsync !== 'boolean') fail('outboxFsync', 'must be a boolean');

  const retryMinMs = int('retryMinMs', o.retryMinMs, 250, 1, 600_000);
  const retryMaxMs = int('retryMaxMs', o.retryMaxMs, 10_000, retryMinMs, 600_000);
  const j = o.jobOptions ?? {};
  const resolved: ResolvedProducerOptions = {
    redisUrl: o.redisUrl,
    redisTarget: redisTarget(o.redisUrl),
    outboxDir: o.outboxDir,
    queueName,
    batchMax: int('batchMax', o.batchMax, DEFAULT_BATCH_MAX, 1, MAX_SNIPPETS_PER_JOB),
    batchIntervalMs: int('batchIntervalMs', o.batchIntervalMs, DEFAULT_BATCH_INTERVAL_MS, 1, 60_000),
    outboxMaxBytes: int('outboxMaxBytes', o.outboxMaxBytes, GiB, 1024, Number.MAX_SAFE_INTEGER),
    outboxFsync: o.outboxFsync ?? false,
    sendTimeoutMs: int('sendTimeoutMs', o.sendTimeoutMs, 1000, 10, 60_000),
    retryMinMs,
    retryMaxMs,
    drainChunk: int('drainChunk', o.drainChunk, 32, 1, 10_000),
    staleClaimMs: int('staleClaimMs', o.staleClaimMs, 60_000, 1, 86_400_000),
    journalBytes: journalBytes(o.journalBytes),
    journalStaleMs: int('journalStaleMs', o.journalStaleMs, 10_000, JOURNAL_STALE_MIN_MS, 3_600_000),
    logger: o.logger ?? defaultUsageLogger,
    jobOptions: {
      attempts: int('jobOptions.attempts', j.attempts, 10, 1, 1000),
      backoffDelayMs: int('jobOptions.backoffDelayMs', j.backoffDelayMs, 2000, 1, 3_600_000),
      keepCompleted: keep('jobOptions.keepCompleted', j.keepCompleted, { count: 1000, ageSeconds: 3600 }),
      keepFailed: keep('jobOptions.keepFailed', j.keepFailed, { count: 10_000, ageSeconds: 7 * 86_400 }),
    },
  };
  try {
    mkdirSync(resolved.outboxDir, { recursive: true });
  } catch (e) {
    fail('outboxDir', `cannot be created: ${(e as Error).message}`);
  }
  return resolved;
}
