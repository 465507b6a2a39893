// All settings, read from the environment and validated once (TypeBox).
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseCorsOrigins } from './api/cors.ts';
import { notWholeNumbers, TIMER_MAX_MS } from './env-integers.ts';
import { envName, PROVIDERS } from './providers/index.ts';
import { serviceUrlsProblem } from './service-url.ts';
import { MAX_SNIPPETS_PER_JOB } from './usage/job-payload.ts';
import { DEFAULT_BATCH_INTERVAL_MS, DEFAULT_BATCH_MAX, DEFAULT_JOURNAL_BYTES, JOURNAL_MIN_BYTES, JOURNAL_STALE_MIN_MS } from './usage/producer-options.ts';

// Timer-sized by default: every duration here ends up in a setTimeout.
const Int = (def: number, min = 0, max = TIMER_MAX_MS) => Type.Integer({ default: def, minimum: min, maximum: max });

const SettingsSchema = Type.Object({
  PORT: Type.Integer({ default: 8080, minimum: 0, maximum: 65_535 }),
  HOST: Type.String({ default: '0.0.0.0', minLength: 1 }),
  REDIS_URL: Type.String({ default: 'redis://127.0.0.1:6379' }),
  CLICKHOUSE_URL: Type.String({ default: 'http://127.0.0.1:8123' }),
  CLICKHOUSE_USER: Type.String({ default: 'default' }),
  CLICKHOUSE_PASSWORD: Type.String({ default: '' }),
  // The worker's own limit (workers/settings.ts), so a name one process takes the other does too.
  CLICKHOUSE_DB: Type.String({ default: 'arouter', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' }),
  // No whitespace: a token read from a file with its trailing newline could never be sent back in a header.
  AROUTER_ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 16, pattern: '^\\S+$' })),
  AROUTER_MAX_BODY_BYTES: Int(536_870_912, 1, Number.MAX_SAFE_INTEGER),
  AROUTER_CONNECT_TIMEOUT_MS: Int(10_000, 1),
  AROUTER_FIRST_BYTE_TIMEOUT_MS: Int(600_000, 1),
  AROUTER_IDLE_TIMEOUT_MS: Int(300_000, 1),
  AROUTER_DRAIN_TIMEOUT_MS: Int(30_000, 0),
  // BullMQ uses ':' in its Redis key names, so a queue name may not contain one (the worker checks the same).
  AROUTER_USAGE_QUEUE: Type.String({ default: 'arouter-usage', minLength: 1, pattern: '^[^:]+$' }),
  /** Snippets per usage job, and the longest one waits in memory before its batch goes to Redis. */
  AROUTER_USAGE_BATCH_MAX: Type.Integer({ default: DEFAULT_BATCH_MAX, minimum: 1, maximum: MAX_SNIPPETS_PER_JOB }),
  AROUTER_USAGE_BATCH_MS: Type.Integer({ default: DEFAULT_BATCH_INTERVAL_MS, minimum: 1, maximum: 60_000 }),
  AROUTER_OUTBOX_DIR: Type.String({ default: '.arouter/outbox' }),
  /** The crash journal beside the outbox (0: off), and how long a dead process's journal waits before it is recovered. */
  AROUTER_USAGE_JOURNAL_BYTES: Type.Integer({ default: DEFAULT_JOURNAL_BYTES, minimum: 0, maximum: 1024 ** 3 }),
  AROUTER_USAGE_JOURNAL_STALE_MS: Int(10_000, JOURNAL_STALE_MIN_MS, 3_600_000),
  AROUTER_KEY_PREFIX: Type.String({ default: 'arouter' }),
  /** How long a pod trusts a cached key lookup before re-checking it in the background. */
  AROUTER_KEY_CACHE_MS: Int(2_000, 100),
  /** Requests per minute per key; 0 = no limit. */
  AROUTER_KEY_RPM: Int(0, 0),
  /** Origins whose pages may call arouter from a browser (`*` or a comma-separated list); empty: none (CORS off). */
  AROUTER_CORS_ORIGINS: Type.String({ default: '' }),
  AROUTER_LOG_LEVEL: Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error'), Type.Literal('silent')], { default: 'info' }),
});

export type EnvSettings = Static<typeof SettingsSchema>;

export interface Settings {
  env: EnvSettings;
  /** Operator credentials by slug (only configured ones). */
  providerKeys: ReadonlyMap<string, string>;
  /** Upstream base URL by slug (override or the provider's real base), no trailing slash. */
  upstreams: ReadonlyMap<string, string>;
}

export class ConfigError extends Error {
  readonly code = 'invalid_config';
}

/** Read settings from an env map; throws ConfigError naming the variable (never its value). */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(SettingsSchema.properties)) {
    const v = env[key];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  // Convert reads "30e3" as 30 and "1.5" as 1: integers must be digits only.
  const names = notWholeNumbers(SettingsSchema, raw).map((k) => `${k}: must be a whole number, digits only`);
  const converted = Value.Default(SettingsSchema, Value.Convert(SettingsSchema, raw));
  names.push(...[...Value.Errors(SettingsSchema, converted)].map((e) => `${e.path.slice(1)}: ${e.message}`));
  const journal = (converted as { AROUTER_USAGE_JOURNAL_BYTES?: unknown }).AROUTER_USAGE_JOURNAL_BYTES;
  if (typeof journal === 'number' && journal > 0 && journal < JOURNAL_MIN_BYTES) names.push(`AROUTER_USAGE_JOURNAL_BYTES: must be 0 (off) or at least ${JOURNAL_MIN_BYTES}`);
  if (names.length > 0) throw new ConfigError(`invalid settings: ${names.join('; ')}`);
  const parsed = converted as EnvSettings;
  try {
    parseCorsOrigins(parsed.AROUTER_CORS_ORIGINS);
  } catch (e) {
    throw new ConfigError(`invalid settings: ${e instanceof Error ? e.message : String(e)}`);
  }
  const urlProblem = serviceUrlsProblem(parsed.REDIS_URL, parsed.CLICKHOUSE_URL);
  if (urlProblem) throw new ConfigError(`invalid settings: ${urlProblem}`);
  const providerKeys = new Map<string, string>();
  const upstreams = new Map<string, string>();
  for (const p of PROVIDERS) {
    const name = envName(p.slug);
    // Trimmed as the HTTP header that carries it will be (a secret file read with its newline), so what is masked in
    // answers is exactly what the provider got; anything else unprintable could never be sent, and is refused by name.
    const key = env[`${name}_API_KEY`]?.trim();
    if (key && !/^[\x21-\x7e]+$/.test(key)) throw new ConfigError(`invalid settings: ${name}_API_KEY must be printable ASCII with no spaces inside`);
    if (key) providerKeys.set(p.slug, key);
    const override = env[`AROUTER_UPSTREAM_${name}`];
    const base = (override || p.baseUrl).replace(/\/+$/, '');
    if (!/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(base)) throw new ConfigError(`invalid settings: AROUTER_UPSTREAM_${name} must be an http(s) base URL`);
    upstreams.set(p.slug, base);
  }
  return { env: parsed, providerKeys, upstreams };
}
