// Wires real dependencies (Redis, key cache, usage producer, forwarder, metrics) into the app, and drains them on shutdown.
import { createClient } from '@clickhouse/client';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { withCors } from './api/cors.ts';
import { unifiedRoutes } from './api/unified.ts';
import { usageRoutes } from './api/usage-routes.ts';
import { loadPriceTable } from './usage/prices.ts';
import { createApp, createProxyRoute, newRequestId, type App } from './app.ts';
import type { Settings } from './config.ts';
import { Authenticator } from './keys/auth.ts';
import { KeyCache } from './keys/cache.ts';
import { watchRevocations } from './keys/revocation-feed.ts';
import { KeyStore } from './keys/store.ts';
import type { LogFields, Logger } from './log.ts';
import { Gauge } from './api/metrics.ts';
import { ProxyMetrics, sampleQueue } from './api/proxy-metrics.ts';
import { logAccess } from './proxy/access-log.ts';
import { namedObjectCheck } from './proxy/named-objects.ts';
import { redisOwnership } from './proxy/owned-objects.ts';
import { redisUploadGrants } from './keys/upload-grants.ts';
import { refusalRecorder } from './proxy/refusals.ts';
import { createConnectProbe } from './proxy/connect-probe.ts';
import { type Cuttable, Forwarder, type ProxyObserver, type UsageSink } from './proxy/forward.ts';
import { createUsageProducer } from './usage/producer.ts';
import type { UsageSnippet } from './usage/snippet.ts';

/**
 * Bun's idle timeout on client connections, in seconds (server.ts passes it to Bun.serve). It bounds idle keep-alive
 * connections, a follow-up request's headers and a request body that trickles in; a proxied request lifts it once
 * its body is in and restores it when the exchange ends. (Bun bounds the first request's headers itself, at ~10 s.)
 */
export const CLIENT_IDLE_TIMEOUT_S = 30;

/** How often the usage queue's depth and oldest job are sampled for /metrics. */
const QUEUE_SAMPLE_MS = 5_000;
/** The revocation subscription is asked every second and taken for silent after two without an answer. */
const REVOCATION_BEAT_MS = 1_000;
const REVOCATION_SILENT_MS = 2_000;

export interface Runtime {
  app: App;
  /** The server's handler: provider routes straight to the proxy, everything else through the app. */
  fetch(req: Request): Response | Promise<Response>;
  forwarder: Forwarder;
  /** Flag readiness down, wait for in-flight requests up to the deadline, cut the rest, flush usage, close. */
  drain(deadlineMs: number): Promise<{ cut: number }>;
  setServer(s: { timeout(req: Request, seconds: number): void }): void;
}

export async function createRuntime(settings: Settings, log: Logger): Promise<Runtime> {
  const env = settings.env;
  const redis = new Redis(env.REDIS_URL, {
    // Fail fast while disconnected so a Redis outage never stalls a request; reconnects go on in the background.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    // A frozen Redis must fail a command in bounded time, so the key cache can fall back to what it knows.
    commandTimeout: 1_000,
    retryStrategy: (n) => Math.min(200 * n, 2_000),
  });
  redis.on('error', () => {});
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 3_000);
    redis.once('ready', () => {
      clearTimeout(t);
      resolve();
    });
  });

  const keys = new KeyStore(redis, env.AROUTER_KEY_PREFIX);
  const cache = new KeyCache(keys, {
    refreshAfterMs: env.AROUTER_KEY_CACHE_MS,
    maxAgeMs: Math.max(env.AROUTER_KEY_CACHE_MS * 2, 4_000),
    outageGraceMs: 300_000,
    maxEntries: 100_000,
  });
  const subscriber = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
  subscriber.on('error', () => {});
  const revocations = watchRevocations(subscriber, cache, { channel: keys.revocationChannel, beatMs: REVOCATION_BEAT_MS, silentMs: REVOCATION_SILENT_MS, log });

  const producer = createUsageProducer({
    redisUrl: env.REDIS_URL,
    queueName: env.AROUTER_USAGE_QUEUE,
    outboxDir: env.AROUTER_OUTBOX_DIR,
    batchMax: env.AROUTER_USAGE_BATCH_MAX,
    batchIntervalMs: env.AROUTER_USAGE_BATCH_MS,
    journalBytes: env.AROUTER_USAGE_JOURNAL_BYTES,
    journalStaleMs: env.AROUTER_USAGE_JOURNAL_STALE_MS,
    logger: (level, msg, fields) => log(level, msg, fields as LogFields),
  });
  const usageQueue = new Queue(env.AROUTER_USAGE_QUEUE, { connection: redis });
  usageQueue.on('error', () => {});
  const queueSampler = sampleQueue(usageQueue, QUEUE_SAMPLE_MS);
  const metrics = new ProxyMetrics(() => producer.stats(), queueSampler, () => cache.revocationFeedUp);
  const observer: ProxyObserver = {
    finished: (s) => {
      metrics.finished(s);
      logAccess(log, s);
    },
    streamOpened: (p) => metrics.streamOpened(p),
    streamClosed: (p) => metrics.streamClosed(p),
  };
  let server: { timeout(req: Request, seconds: number): void } | null = null;
  const sink: UsageSink = { push: (s: UsageSnippet) => producer.push(s) };
  const grants = redisUploadGrants(redis, env.AROUTER_KEY_PREFIX);
  const forwarder = new Forwarder({
    upstreams: settings.upstreams,
    providerKeys: settings.providerKeys,
    maxBodyBytes: env.AROUTER_MAX_BODY_BYTES,
    firstByteTimeoutMs: env.AROUTER_FIRST_BYTE_TIMEOUT_MS,
    idleTimeoutMs: env.AROUTER_IDLE_TIMEOUT_MS,
    connectProbe: createConnectProbe(env.AROUTER_CONNECT_TIMEOUT_MS),
    sink,
    observer,
    log,
    uploadGrants: grants,
    clientTimeout: {
      lift: (req) => server?.timeout(req, 0),
      restore: (req) => server?.timeout(req, CLIENT_IDLE_TIMEOUT_S),
    },
  });
  const auth = new Authenticator(cache, env.AROUTER_KEY_RPM);

  const ch = createClient({ url: env.CLICKHOUSE_URL, username: env.CLICKHOUSE_USER, password: env.CLICKHOUSE_PASSWORD, request_timeout: 10_000 });
  const prices = loadPriceTable();
  let draining = false;
  // One proxy entry serves both ways in: the server's fetch ahead of the app, and the app's own onRequest.
  // One recorder for every route that refuses before a provider call: the log line and the metric.
  const refused = refusalRecorder(log, (provider, err) => metrics.refused(provider, err.code));
  const owned = {
    ownership: redisOwnership(redis, env.AROUTER_KEY_PREFIX),
    // What an operator needs to record them with `bun run src/cli.ts objects assign` once Redis is back.
    onUnrecorded: (requestId: string, provider: string, ids: readonly string[], accountId: string) =>
      log('error', 'stored objects made but not recorded as their account\'s (Redis unreachable); record them with: objects assign', {
        request_id: requestId,
        provider,
        account_id: accountId,
        ids: ids.join(' ').slice(0, 500),
      }),
    onUnreadableId: (requestId: string, provider: string, accountId: string) =>
      log('error', "a stored object was made but its id could not be read from the answer, so it is not the account's", { request_id: requestId, provider, account_id: accountId }),
  };
  const named = namedObjectCheck(owned.ownership);
  const route = createProxyRoute({ forwarder, auth, log, refused, owned, named, grants });
  const app = createApp({
    proxyRoute: route,
    forwarder,
    auth,
    keys,
    log,
    refused,
    adminToken: env.AROUTER_ADMIN_TOKEN,
    metrics: () => metrics.render(),
    plugins: [
      usageRoutes({ ch, db: env.CLICKHOUSE_DB, auth, adminToken: env.AROUTER_ADMIN_TOKEN, log, newRequestId }),
      unifiedRoutes({
        forwarder,
        auth,
        providerKeys: settings.providerKeys,
        maxBodyBytes: env.AROUTER_MAX_BODY_BYTES,
        newRequestId,
        knownModels: () => prices.list(),
        refused,
        named,
      }),
    ],
    ready: async () => {
      const redisOk = redis.status === 'ready';
      const outboxOk = producer.stats().outboxWritable;
      return { ok: !draining && (redisOk || outboxOk), detail: { draining, redis: redisOk, outbox_writable: outboxOk } };
    },
  });

  // Requests whose handler has not answered yet. The forwarder's in-flight set only holds an exchange once its body has
  // been read, so a drain that watched that set alone would exit under a client still uploading, a key lookup waiting
  // on Redis, or an admin or usage call.
  const handling = new Set<Request>();
  metrics.registry.register(new Gauge('arouter_requests_in_progress', 'Requests whose handler has not answered yet; a drain waits for them and for open streams.', () => handling.size));

  const dispatch = (req: Request): Response | Promise<Response> => {
    let handled = req;
    let res = route(req);
    if (res === undefined) {
      // The app's handlers (the unified endpoint among them) see the routable request, and forward that one.
      handled = routable(req);
      res = app.handle(handled);
    }
    if (res instanceof Promise) {
      handling.add(handled);
      const settled = () => void handling.delete(handled);
      res.then(settled, settled);
    }
    return res;
  };

  return {
    app,
    fetch: withCors(dispatch, { origins: env.AROUTER_CORS_ORIGINS, newRequestId, refused: (req, id, err) => refused(req, id, err, {}) }),
    forwarder,
    setServer: (s) => (server = s),
    async drain(deadlineMs) {
      draining = true;
      const deadline = Date.now() + deadlineMs;
      while ((forwarder.inflight.size > 0 || handling.size > 0) && Date.now() < deadline) await Bun.sleep(25);
      const cut = cutCount(forwarder.inflight, handling);
      for (const x of forwarder.inflight) x.abort('shutdown');
      // Give cut streams a moment to record their snippets before the final flush.
      const settle = Date.now() + 1_000;
      while (forwarder.inflight.size > 0 && Date.now() < settle) await Bun.sleep(10);
      queueSampler.stop();
      await producer.close();
      await usageQueue.close().catch(() => {});
      revocations.stop();
      subscriber.disconnect();
      redis.disconnect();
      await ch.close();
      return { cut };
    },
  };
}

/**
 * Requests a drain gives up on: exchanges still relaying or waiting for the provider, and requests whose handler has
 * not answered (a body still arriving, a key lookup). An exchange waiting for its answer is in both: counted once.
 */
function cutCount(inflight: ReadonlySet<Cuttable>, handling: ReadonlySet<Request>): number {
  const forwarded = new Set<Request>();
  for (const x of inflight) forwarded.add(x.req);
  let n = inflight.size;
  for (const req of handling) if (!forwarded.has(req)) n++;
  return n;
}

/**
 * Elysia 1.4 looks for the path from the URL's 11th character on, so with a Host of three characters or fewer and no
 * port ("http://gw/healthz", a short service name on port 80) arouter's own routes would answer 404. Such a request
 * is handed over under a fixed origin; only the path and query matter to these routes.
 */
function routable(req: Request): Request {
  const url = req.url;
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  return slash < 0 || slash >= 11 ? req : new Request(`http://arouter.internal${url.slice(slash)}`, req);
}
