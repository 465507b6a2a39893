// Builds the real app over a real Redis key store, with snippets collected in memory and every provider pointed at a mock.
import Redis from 'ioredis';
import { createApp, type App } from '../../src/app.ts';
import { loadSettings } from '../../src/config.ts';
import { Authenticator } from '../../src/keys/auth.ts';
import { KeyCache } from '../../src/keys/cache.ts';
import { KeyStore } from '../../src/keys/store.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { envName, PROVIDERS } from '../../src/providers/index.ts';
import { createConnectProbe } from '../../src/proxy/connect-probe.ts';
import { Forwarder } from '../../src/proxy/forward.ts';
import { redisUploadGrants } from '../../src/keys/upload-grants.ts';
import { redisOwnership } from '../../src/proxy/owned-objects.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';
import { TEST_REDIS_URL, uniqueName } from './env.ts';

export const PROVIDER_SECRET = (slug: string) => `sk-provider-${slug}-SENTINEL-0123456789abcdef`;
export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';

export interface TestProxy {
  app: App;
  keys: KeyStore;
  redis: Redis;
  snippets: UsageSnippet[];
  logLines: string[];
  forwarder: Forwarder;
  createKey(account?: string): Promise<{ id: string; key: string; account: string }>;
  close(): Promise<void>;
}

export interface TestProxyOptions {
  upstream: string;
  /** Extra env (timeouts, limits, provider keys removed with ''). */
  env?: Record<string, string>;
  keyCacheMs?: number;
  /** Share keys between harnesses (two "pods"). */
  keyPrefix?: string;
}

export async function createTestProxy(o: TestProxyOptions): Promise<TestProxy> {
  const env: Record<string, string> = { AROUTER_ADMIN_TOKEN: ADMIN_TOKEN };
  for (const p of PROVIDERS) {
    env[`${envName(p.slug)}_API_KEY`] = PROVIDER_SECRET(p.slug);
    env[`AROUTER_UPSTREAM_${envName(p.slug)}`] = o.upstream;
  }
  Object.assign(env, o.env);
  for (const [k, v] of Object.entries(env)) if (v === '') delete env[k];
  const settings = loadSettings(env);
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  const keys = new KeyStore(redis, o.keyPrefix ?? uniqueName('t'));
  const cacheMs = o.keyCacheMs ?? 2_000;
  const cache = new KeyCache(keys, { refreshAfterMs: cacheMs, maxAgeMs: cacheMs * 2, outageGraceMs: 60_000, maxEntries: 1000 });
  // Revocations reach every pod through pub/sub, as in the runtime.
  const subscriber = redis.duplicate();
  subscriber.on('message', (_c: string, hash: string) => cache.invalidate(hash));
  await subscriber.subscribe(keys.revocationChannel);
  const logLines: string[] = [];
  const log: Logger = createLogger('debug', (l) => void logLines.push(l));
  const snippets: UsageSnippet[] = [];
  const grants = redisUploadGrants(redis, keys.prefix);
  const forwarder = new Forwarder({
    upstreams: settings.upstreams,
    providerKeys: settings.providerKeys,
    maxBodyBytes: settings.env.AROUTER_MAX_BODY_BYTES,
    firstByteTimeoutMs: settings.env.AROUTER_FIRST_BYTE_TIMEOUT_MS,
    idleTimeoutMs: settings.env.AROUTER_IDLE_TIMEOUT_MS,
    connectProbe: createConnectProbe(settings.env.AROUTER_CONNECT_TIMEOUT_MS),
    sink: { push: (s) => void snippets.push(s) },
    observer: { finished() {}, streamOpened() {}, streamClosed() {} },
    log,
    uploadGrants: grants,
  });
  const app = createApp({
    forwarder,
    auth: new Authenticator(cache, 0),
    keys,
    log,
    adminToken: ADMIN_TOKEN,
    metrics: () => '',
    ready: async () => ({ ok: true, detail: {} }),
    owned: { ownership: redisOwnership(redis, keys.prefix) },
    grants,
  });
  return {
    app,
    keys,
    redis,
    snippets,
    logLines,
    forwarder,
    createKey: (account = uniqueName('acct')) => keys.create(account, { name: 'test' }),
    async close() {
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}
