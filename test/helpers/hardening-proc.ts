// Child processes for the hardening tests: the real proxy (`src/server.ts`) and purpose-made mocks, each in its own event loop.
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { envName, PROVIDERS } from '../../src/providers/index.ts';
import { TEST_REDIS_URL, uniqueName, waitFor } from './env.ts';
import { ADMIN_TOKEN, PROVIDER_SECRET } from './proxy-harness.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Child {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>;
  pid: number;
  /** Every stdout and stderr line so far. */
  lines: string[];
  waitForLine(pred: (line: string) => boolean, timeoutMs?: number, what?: string): Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnChild(cmd: string[], env: Record<string, string>): Child {
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  const lines: string[] = [];
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of s) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
    if (buf) lines.push(buf);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  return {
    proc,
    pid: proc.pid,
    lines,
    waitForLine: (pred, timeoutMs = 10_000, what = 'a log line') => waitFor(() => lines.find(pred), timeoutMs, what),
    exited: proc.exited,
    kill: (signal = 'SIGKILL') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
}

/** Resident set size of a process in KiB, from /proc/<pid>/status (VmRSS). */
export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

export type LogRecord = Record<string, unknown> & { msg?: string };

export function parseLogLines(lines: readonly string[]): LogRecord[] {
  const out: LogRecord[] = [];
  for (const l of lines) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as LogRecord);
    } catch {
      // A line that is not JSON is reported by the log-format test, not here.
    }
  }
  return out;
}

export interface ProxyProcess extends Child {
  port: number;
  url: string;
  key: string;
  keyId: string;
  outboxDir: string;
  queue: string;
  logs(): LogRecord[];
  /** SIGKILL if still running, remove the outbox. */
  stop(): Promise<void>;
}

export interface ProxyProcessOptions {
  upstream: string;
  env?: Record<string, string>;
}

/** Starts `bun run src/server.ts` on port 0, reads its port from the `arouter listening` line, and creates a key. */
export async function startProxyProcess(o: ProxyProcessOptions): Promise<ProxyProcess> {
  const outboxDir = mkdtempSync(join(tmpdir(), 'arouter-hardening-outbox-'));
  const queue = uniqueName('hq');
  const env: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: TEST_REDIS_URL,
    AROUTER_ADMIN_TOKEN: ADMIN_TOKEN,
    AROUTER_KEY_PREFIX: uniqueName('hk'),
    AROUTER_USAGE_QUEUE: queue,
    AROUTER_OUTBOX_DIR: outboxDir,
    AROUTER_LOG_LEVEL: 'info',
  };
  for (const p of PROVIDERS) {
    env[`${envName(p.slug)}_API_KEY`] = PROVIDER_SECRET(p.slug);
    env[`AROUTER_UPSTREAM_${envName(p.slug)}`] = o.upstream;
  }
  Object.assign(env, o.env);
  const child = spawnChild(['bun', 'run', 'src/server.ts'], env);
  const listening = await child.waitForLine((l) => l.includes('"arouter listening"'), 15_000, 'the proxy to listen').catch((e: unknown) => {
    child.kill();
    throw new Error(`${String(e)}\n${child.lines.join('\n')}`);
  });
  const port = Number((JSON.parse(listening) as { port: unknown }).port);
  const url = `http://127.0.0.1:${port}`;
  const res = await fetch(`${url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ account: uniqueName('acct'), name: 'hardening' }),
  });
  if (res.status !== 201) {
    child.kill();
    throw new Error(`creating a key failed: ${res.status} ${await res.text()}`);
  }
  const created = (await res.json()) as { id: string; key: string };
  return {
    ...child,
    port,
    url,
    key: created.key,
    keyId: created.id,
    outboxDir,
    queue,
    logs: () => parseLogLines(child.lines),
    async stop() {
      child.kill('SIGKILL');
      await child.exited;
      rmSync(outboxDir, { recursive: true, force: true });
      await dropRedisState(queue, env.AROUTER_KEY_PREFIX ?? '', env.REDIS_URL ?? TEST_REDIS_URL);
    },
  };
}

/** Removes a test proxy's usage queue (nothing consumes it) and keys from Redis; quietly gives up on a Redis that is gone. */
async function dropRedisState(queueName: string, keyPrefix: string, redisUrl: string): Promise<void> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 1_000, retryStrategy: () => null });
  connection.on('error', () => {});
  const q = new Queue(queueName, { connection });
  q.on('error', () => {});
  const bounded = <T>(p: Promise<T>) => Promise.race([p, new Promise<void>((resolve) => setTimeout(resolve, 3_000))]);
  await bounded(q.obliterate({ force: true })).catch(() => {});
  await bounded(q.close()).catch(() => {});
  if (keyPrefix) {
    const dropKeys = async () => {
      let cursor = '0';
      do {
        const [next, keys] = await connection.scan(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', 500);
        if (keys.length) await connection.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    };
    await bounded(dropKeys()).catch(() => {});
  }
  connection.disconnect();
}

export interface MockProcess extends Child {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts test/helpers/hardening-mock.ts in its own process (its own event loop) and reads its port. */
export async function startMockProcess(): Promise<MockProcess> {
  const child = spawnChild(['bun', 'run', 'test/helpers/hardening-mock.ts'], {});
  const line = await child.waitForLine((l) => l.startsWith('{"mock_port"'), 10_000, 'the mock to listen');
  const port = Number((JSON.parse(line) as { mock_port: unknown }).mock_port);
  return {
    ...child,
    port,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGKILL');
      await child.exited;
    },
  };
}

export interface Blackhole {
  url: string;
  port: number;
  /** Connections that filled the accept queue. */
  filled: number;
  stop(): Promise<void>;
}

/**
 * Fills the accept queue of a listener whose process is stopped (SIGSTOP), so it never accepts: Linux then drops
 * further SYNs to the port and a connect to it hangs. This is how "the provider never connects" is tested without
 * iptables and without a packet leaving the machine. Bun listens with a backlog of 511, so about 512 handshakes fit.
 */
export async function fillBacklog(port: number): Promise<{ filled: number; release(): void }> {
  const fillers: Socket[] = [];
  const tryConnect = () =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      fillers.push(s);
      const t = setTimeout(() => resolve(false), 300);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(true);
      });
      s.once('error', () => {
        clearTimeout(t);
        resolve(false);
      });
    });
  let filled = 0;
  while (filled < 4096 && (await tryConnect())) filled++;
  return { filled, release: () => fillers.forEach((s) => s.destroy()) };
}

/** A loopback port where TCP connects hang: a listener in a stopped process, its accept queue full. */
export async function startBlackhole(): Promise<Blackhole> {
  const child = spawnChild(['bun', 'run', 'test/helpers/hardening-blackhole.ts'], {});
  const line = await child.waitForLine((l) => l.startsWith('{"blackhole_port"'), 10_000, 'the blackhole to listen');
  const port = Number((JSON.parse(line) as { blackhole_port: unknown }).blackhole_port);
  child.kill('SIGSTOP');
  const { filled, release } = await fillBacklog(port);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    filled,
    async stop() {
      release();
      child.kill('SIGKILL');
      await child.exited;
    },
  };
}

/** A loopback port nothing listens on (connects are refused at once). */
export async function closedPort(): Promise<number> {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/**
 * A throwaway redis-server on a free loopback port, for tests that stop or kill it; never the shared one. Pass the
 * port of one the test stopped to bring it back at the same address.
 */
export async function startPrivateRedis(onPort?: number, extraArgs: readonly string[] = []): Promise<{ child: Child; url: string }> {
  const port = onPort ?? (await closedPort());
  const child = spawnChild(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], {});
  await child.waitForLine((l) => l.includes('Ready to accept connections'), 10_000, 'redis-server to start');
  return { child, url: `redis://127.0.0.1:${port}` };
}
