// Docker can't run here, so the deployment files are checked by reading them: docker-compose.yml is parsed with
// Bun's YAML parser (anchors and `<<` merge keys resolved) and checked against the settings contract.
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'bun:test';
import { YAML } from 'bun';
import { envName, PROVIDERS } from '../../src/providers/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

type Env = Record<string, string | number | boolean | null>;
interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Env | string[];
  volumes?: (string | { target?: string })[];
  deploy?: { replicas?: number };
  stop_grace_period?: string;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
}
interface Compose {
  services: Record<string, Service>;
  configs?: Record<string, { content?: string }>;
}

const compose = YAML.parse(await Bun.file(`${ROOT}docker-compose.yml`).text()) as Compose;
const dockerfile = await Bun.file(`${ROOT}Dockerfile`).text();

const SLUGS = ['OPENAI', 'ANTHROPIC', 'GOOGLE', 'DEEPSEEK', 'XAI', 'KIMI', 'MINIMAX', 'MISTRAL', 'GROQ', 'COHERE', 'NVIDIA', 'DASHSCOPE'];
const CONTRACT_SETTINGS = [
  'PORT', 'HOST', 'REDIS_URL',
  'CLICKHOUSE_URL', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD', 'CLICKHOUSE_DB',
  'AROUTER_ADMIN_TOKEN',
  'AROUTER_MAX_BODY_BYTES',
  'AROUTER_CONNECT_TIMEOUT_MS', 'AROUTER_FIRST_BYTE_TIMEOUT_MS', 'AROUTER_IDLE_TIMEOUT_MS',
  'AROUTER_DRAIN_TIMEOUT_MS',
  'AROUTER_OUTBOX_DIR',
  ...SLUGS.map((s) => `${s}_API_KEY`),
];

/** A service's environment as a name → value map, whether it is written as a map or as a list of NAME=value. */
function envOf(s: Service): Map<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env)) {
    return new Map(env.map((e) => {
      const i = e.indexOf('=');
      return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
    }));
  }
  return new Map(Object.entries(env).map(([k, v]) => [k, v == null ? '' : String(v)]));
}

/** The default in a `${NAME:-default}` value, or the value itself when it is a literal. */
function defaultOf(value: string): string {
  const m = /^\$\{[A-Z0-9_]+:?-(.*)\}$/.exec(value);
  return m ? m[1]! : value;
}

/** Compose durations like 45s, 1m30s, 90 (seconds) in milliseconds. */
function durationMs(d: string | undefined): number {
  if (!d) return 0;
  if (/^\d+$/.test(d)) return Number(d) * 1000;
  let ms = 0;
  for (const [, n, unit] of d.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    ms += Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
  }
  return ms;
}

function commandOf(s: Service): string {
  return Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? '');
}

describe('docker-compose.yml', () => {
  test('has redis, clickhouse, proxy and worker services', () => {
    for (const name of ['redis', 'clickhouse', 'proxy', 'worker']) expect(compose.services[name]).toBeDefined();
  });

  test('redis is the official image with AOF on', () => {
    const redis = compose.services.redis!;
    expect(redis.image).toMatch(/^(library\/)?redis(:|$)/);
    expect(commandOf(redis)).toMatch(/--appendonly yes/);
    expect(redis.volumes?.length ?? 0).toBeGreaterThan(0);
  });

  test('clickhouse is the official clickhouse/clickhouse-server image, with a healthcheck', () => {
    const ch = compose.services.clickhouse!;
    expect(ch.image).toMatch(/^clickhouse\/clickhouse-server(:|$)/);
    expect(ch.healthcheck?.test).toBeDefined();
    expect(ch.healthcheck?.disable).not.toBe(true);
  });

  test('the proxy is built from the Dockerfile and runs more than one replica', () => {
    const proxy = compose.services.proxy!;
    expect(proxy.build).toBeDefined();
    expect(proxy.deploy?.replicas ?? 1).toBeGreaterThan(1);
    expect(commandOf(proxy)).toMatch(/src\/server\.ts/);
  });

  test('every contract setting is passed to the proxy, with the contract default where it has one', () => {
    const env = envOf(compose.services.proxy!);
    const missing = CONTRACT_SETTINGS.filter((name) => !env.has(name));
    expect(missing).toEqual([]);
    const defaults: Record<string, string> = {
      PORT: '8080',
      HOST: '0.0.0.0',
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_DB: 'arouter',
      AROUTER_MAX_BODY_BYTES: '536870912',
      AROUTER_CONNECT_TIMEOUT_MS: '10000',
      AROUTER_FIRST_BYTE_TIMEOUT_MS: '600000',
      AROUTER_IDLE_TIMEOUT_MS: '300000',
      AROUTER_DRAIN_TIMEOUT_MS: '30000',
    };
    for (const [name, def] of Object.entries(defaults)) expect(`${name}=${defaultOf(env.get(name)!)}`).toBe(`${name}=${def}`);
    // Secrets come from the operator's environment only: never a literal in the file.
    for (const name of ['AROUTER_ADMIN_TOKEN', 'CLICKHOUSE_PASSWORD', ...SLUGS.map((s) => `${s}_API_KEY`)]) {
      expect(`${name}=${env.get(name)}`).toBe(`${name}=\${${name}:-}`);
    }
  });

  test("every setting in the README's configuration table reaches the proxy or the worker", async () => {
    const readme = await Bun.file(`${ROOT}README.md`).text();
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Architecture'));
    const names = [...table.matchAll(/^\| `([A-Z0-9_]+)`(?: \/ `([A-Z0-9_]+)`)? \|/gm)].flatMap((m) => [m[1]!, m[2]].filter((n): n is string => !!n));
    expect(names.length).toBeGreaterThan(15);
    const passed = new Set([...envOf(compose.services.proxy!).keys(), ...envOf(compose.services.worker!).keys()]);
    // The launchers' allocator and fetch settings are baked into the image (Dockerfile ENV) instead.
    const inImage = new Set([...dockerfile.matchAll(/^ENV ([A-Z0-9_]+)=/gm)].map((m) => m[1]!));
    expect(names.filter((n) => !passed.has(n) && !inImage.has(n))).toEqual([]);
  });

  test('a credential setting exists for every provider in src/providers', () => {
    const env = envOf(compose.services.proxy!);
    const names = PROVIDERS.map((p) => `${envName(p.slug)}_API_KEY`);
    expect(names.filter((n) => !env.has(n))).toEqual([]);
  });

  test('the proxy outbox directory is on a volume', () => {
    const proxy = compose.services.proxy!;
    const dir = envOf(proxy).get('AROUTER_OUTBOX_DIR')!;
    const targets = (proxy.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':').length > 1 ? v.split(':')[1] : v : v.target));
    expect(targets).toContain(dir);
  });

  test('stop_grace_period outlasts the drain timeout', () => {
    const drainMs = Number(defaultOf(envOf(compose.services.proxy!).get('AROUTER_DRAIN_TIMEOUT_MS')!));
    expect(durationMs(compose.services.proxy!.stop_grace_period)).toBeGreaterThan(drainMs);
    expect(durationMs(compose.services.worker!.stop_grace_period)).toBeGreaterThan(drainMs);
  });

  test('the worker runs the same image with workers/main.ts, two replicas', () => {
    const { proxy, worker } = compose.services;
    expect(worker!.image).toBe(proxy!.image!);
    expect(commandOf(worker!)).toMatch(/workers\/main\.ts/);
    expect(worker!.deploy?.replicas).toBe(2);
    const env = envOf(worker!);
    for (const name of ['REDIS_URL', 'CLICKHOUSE_URL', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD', 'CLICKHOUSE_DB']) expect(env.has(name)).toBe(true);
  });
});

describe('load balancer', () => {
  test("passes the client's Host and scheme, which the URLs arouter hands out are built from", () => {
    // `$$` is Compose's escape for a literal `$`.
    const nginx = (compose.configs?.['lb-nginx']?.content ?? '').replaceAll('$$', '$');
    expect(nginx).toMatch(/proxy_set_header Host \$http_host;/);
    // A scheme reported by a TLS terminator in front is kept; only its absence falls back to nginx's own.
    expect(nginx).toMatch(/proxy_set_header X-Forwarded-Proto \$client_scheme;/);
    expect(nginx).toMatch(/map \$http_x_forwarded_proto \$client_scheme \{\s+default \$http_x_forwarded_proto;\s+'' \$scheme;\s+\}/);
  });
});

describe('Dockerfile', () => {
  test('is based on the official oven/bun image', () => {
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gim)].map((m) => m[1]!);
    expect(froms.length).toBeGreaterThan(0);
    for (const from of froms) expect(from).toMatch(/^oven\/bun(:|$)/);
  });

  test('installs from the committed lockfile and runs the proxy by default', () => {
    expect(dockerfile).toMatch(/bun install --frozen-lockfile/);
    expect(dockerfile).toMatch(/CMD \["bun", "run", "src\/server\.ts"\]/);
  });
});
