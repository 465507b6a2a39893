// The proxy's metrics, fed from each finished request's snippet.
import type { ProxyObserver } from '../proxy/forward.ts';
import type { UsageSnippet } from '../usage/snippet.ts';
import { Counter, Gauge, Histogram, Registry, renderLabels } from './metrics.ts';

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export interface QueueStats {
  outboxBytes: number;
  outboxFiles: number;
  queued: number;
  journalSkipped: number;
  journalRecovered: number;
  droppedOutboxFull: number;
  droppedIoError: number;
}

export class ProxyMetrics implements ProxyObserver {
  readonly registry = new Registry();
  private readonly requests = this.registry.register(new Counter('arouter_requests_total', 'Proxied requests by provider, status and outcome.'));
  private readonly latency = this.registry.register(new Histogram('arouter_request_duration_seconds', 'Time from request start to response end.', LATENCY_BUCKETS_S));
  private readonly ttfb = this.registry.register(new Histogram('arouter_upstream_ttfb_seconds', 'Time to the provider response headers.', LATENCY_BUCKETS_S));
  private readonly upstreamErrors = this.registry.register(new Counter('arouter_upstream_errors_total', 'Upstream failures by provider and kind (connect, reset, timeouts).'));
  private readonly bytes = this.registry.register(new Counter('arouter_bytes_total', 'Body bytes by provider and direction.'));
  private readonly openStreams = this.registry.register(new Gauge('arouter_open_streams', 'Streaming responses in flight.'));
  private readonly refusals = this.registry.register(
    new Counter('arouter_refused_total', 'Requests arouter answered itself before reaching a provider (key refused, over a limit, stored objects, bad path), by provider and error type.'),
  );

  constructor(queueStats?: () => QueueStats, queue?: QueueSampler, revocationFeedUp?: () => boolean) {
    if (revocationFeedUp) {
      this.registry.register(
        new Gauge('arouter_revocation_feed_up', '1 while the key-revocation subscription is confirmed and unbroken; 0 while it is down.', () => (revocationFeedUp() ? 1 : 0)),
      );
    }
    if (queueStats) {
      this.registry.register(new Gauge('arouter_outbox_bytes', 'Bytes of usage batches spooled to the local outbox.', () => queueStats().outboxBytes));
      this.registry.register(new Gauge('arouter_outbox_files', 'Usage batches waiting in the local outbox.', () => queueStats().outboxFiles));
      this.registry.register(new Gauge('arouter_usage_buffered', 'Usage snippets buffered in memory, not yet sent.', () => queueStats().queued));
      this.registry.register(
        new Gauge('arouter_usage_journal_skipped', 'Usage snippets the crash journal could not hold (too large, or its ring full): a SIGKILL would lose them.', () => queueStats().journalSkipped),
      );
      this.registry.register(
        new Gauge('arouter_usage_dropped_outbox_full', 'Usage snippets lost because Redis could not take them and the outbox was full.', () => queueStats().droppedOutboxFull),
      );
      this.registry.register(
        new Gauge('arouter_usage_dropped_io_error', 'Usage snippets lost because Redis could not take them and writing them to the outbox failed.', () => queueStats().droppedIoError),
      );
      this.registry.register(
        new Gauge('arouter_usage_journal_recovered', "Usage snippets recovered from dead processes' crash journals into the outbox.", () => queueStats().journalRecovered),
      );
    }
    if (queue) {
      this.registry.register(new Gauge('arouter_usage_queue_depth', 'Usage jobs waiting in the queue (last sample).', queue.depth));
      this.registry.register(new Gauge('arouter_usage_worker_lag_seconds', 'Age of the oldest waiting usage job (last sample).', queue.lagSeconds));
      this.registry.register(
        new Gauge('arouter_usage_failed_jobs', "Usage jobs in the queue's failed set, whose usage is not written until retried (last sample).", queue.failed),
      );
    }
  }

  /** Rendered label sets per provider/status/outcome: a few dozen at most, and rendering them per request showed in profiles. */
  private readonly series = new Map<string, { request: string; latency: string; provider: string; bytesIn: string; bytesOut: string; error: string }>();

  finished(s: UsageSnippet): void {
    const id = `${s.provider}\u0000${s.status}\u0000${s.outcome}`;
    let k = this.series.get(id);
    if (!k) {
      const status = String(s.status);
      k = {
        request: renderLabels({ provider: s.provider, status, outcome: s.outcome }),
        latency: renderLabels({ provider: s.provider, status }),
        provider: renderLabels({ provider: s.provider }),
        bytesIn: renderLabels({ provider: s.provider, direction: 'in' }),
        bytesOut: renderLabels({ provider: s.provider, direction: 'out' }),
        error: renderLabels({ provider: s.provider, kind: s.outcome }),
      };
      if (this.series.size < 10_000) this.series.set(id, k);
    }
    this.requests.incRendered(k.request);
    this.latency.observeRendered(k.latency, s.latencyMs / 1000);
    if (s.ttfbMs !== undefined) this.ttfb.observeRendered(k.provider, s.ttfbMs / 1000);
    if (s.outcome !== 'complete' && s.outcome !== 'client_abort' && s.outcome !== 'rejected') this.upstreamErrors.incRendered(k.error);
    this.bytes.incRendered(k.bytesIn, s.bytesIn);
    this.bytes.incRendered(k.bytesOut, s.bytesOut);
  }
  /** `provider` is a known slug or '' (an unknown one is the client's text: not a label). */
  refused(provider: string, code: string): void {
    this.refusals.inc({ provider: provider || 'unknown', type: code });
  }
  streamOpened(provider: string): void {
    this.openStreams.addRendered(this.providerLabel(provider), 1);
  }
  streamClosed(provider: string): void {
    this.openStreams.addRendered(this.providerLabel(provider), -1);
  }

  /** One entry per provider slug (a fixed registry), so the cache stays as small as the registry. */
  private readonly providerLabels = new Map<string, string>();
  private providerLabel(provider: string): string {
    let k = this.providerLabels.get(provider);
    if (k === undefined) {
      k = renderLabels({ provider });
      this.providerLabels.set(provider, k);
    }
    return k;
  }
  render(): string {
    return this.registry.render();
  }
}

/** The BullMQ Queue calls the sampler needs. */
export interface WaitingQueue {
  getWaitingCount(): Promise<number>;
  getFailedCount(): Promise<number>;
  getJobs(types: 'wait', start: number, end: number, asc: boolean): Promise<ReadonlyArray<{ timestamp: number } | undefined>>;
}

export interface QueueSampler {
  depth(): number;
  lagSeconds(): number;
  failed(): number;
  stop(): void;
}

/**
 * Samples the usage queue every `everyMs`, off the request path: how many jobs wait, and how old the oldest is
 * (how far the workers are behind), and how many failed. All read NaN until the first sample, and while Redis does not answer.
 */
export function sampleQueue(q: WaitingQueue, everyMs: number): QueueSampler {
  let depth = Number.NaN;
  let lag = Number.NaN;
  let failed = Number.NaN;
  let busy = false;
  const sample = async () => {
    if (busy) return;
    busy = true;
    try {
      const [n, oldest, f] = await Promise.all([q.getWaitingCount(), q.getJobs('wait', 0, 0, true), q.getFailedCount()]);
      depth = n;
      failed = f;
      const ts = oldest[0]?.timestamp;
      lag = ts ? Math.max(0, (Date.now() - ts) / 1000) : 0;
    } catch {
      depth = Number.NaN;
      lag = Number.NaN;
      failed = Number.NaN;
    } finally {
      busy = false;
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), everyMs);
  timer.unref();
  return { depth: () => depth, lagSeconds: () => lag, failed: () => failed, stop: () => clearInterval(timer) };
}
