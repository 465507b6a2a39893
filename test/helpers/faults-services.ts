// A private Redis + ClickHouse pair for fault tests and the chaos bench: started by scripts/services.sh, then killed, frozen and restarted by pid.
import { fileURLToPath } from 'node:url';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './env.ts';
import { freePort } from './usage-db.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/services.sh');

export type ServiceName = 'redis' | 'clickhouse';

export interface PrivateServices {
  readonly dir: string;
  readonly redisPort: number;
  readonly chHttpPort: number;
  readonly redisUrl: string;
  readonly clickhouseUrl: string;
  /** The live process of a service, if it is running. */
  pid(name: ServiceName): number | undefined;
  /** Start (or restart, on the same data directory) one service or both; resolves once it answers. */
  start(name?: ServiceName): Promise<void>;
  /** SIGKILL, then wait until the process is gone (its port is then free for a restart). */
  kill(name: ServiceName): Promise<void>;
  /** SIGSTOP: the port still accepts connections but nothing answers. */
  freeze(name: ServiceName): void;
  thaw(name: ServiceName): void;
  /** Kill both and remove the data directory. Safe to call twice. */
  stop(): Promise<void>;
}

const live = new Set<PrivateServices>();
let exitHookInstalled = false;

/** A daemon outlives its parent, so a test run that ends any way at all must still take ours down. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      for (const name of ['redis', 'clickhouse'] as const) signal(s, name, 'SIGCONT', 'SIGKILL');
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
  // A run stopped by test.sh (its time limit, Ctrl-C) ends by a signal, which runs no exit hook: exit on it instead, so
  // the servers (in sessions of their own) do not outlive the run.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
}

function signal(s: PrivateServices, name: ServiceName, ...signals: NodeJS.Signals[]): void {
  const pid = s.pid(name);
  if (pid === undefined) return;
  for (const sig of signals) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** State letter from /proc/<pid>/stat; undefined when there is no such process. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Gone or a zombie (nothing here reaps orphaned daemons, so a killed one can linger as Z). */
function isDead(pid: number): boolean {
  const st = procState(pid);
  return st === undefined || st === 'Z' || st === 'X';
}

function distinctFreePorts(n: number): number[] {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(freePort());
  return [...ports];
}

export async function startPrivateServices(): Promise<PrivateServices> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'arouter-faults-'));
  const [redisPort, chHttpPort, chTcpPort] = distinctFreePorts(3) as [number, number, number];
  const env = {
    ...process.env,
    AROUTER_REDIS_PORT: String(redisPort),
    AROUTER_CH_HTTP_PORT: String(chHttpPort),
    AROUTER_CH_TCP_PORT: String(chTcpPort),
    AROUTER_SERVICES_DIR: dir,
  };
  // The pid must be ours before we signal it: a pid file can outlive its process and the number be reused.
  const owns = (name: ServiceName, pid: number): boolean => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return name === 'redis' ? cmd.includes(`:${redisPort}`) : cmd.includes(dir);
    } catch {
      return false;
    }
  };
  const pid = (name: ServiceName): number | undefined => {
    const file = join(dir, `${name}.pid`);
    if (!existsSync(file)) return undefined;
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 && !isDead(n) && owns(name, n) ? n : undefined;
  };
  const run = async (args: string[]): Promise<void> => {
    // Async on purpose: a synchronous spawn would freeze an in-process mock upstream (design.md).
    const proc = Bun.spawn(['bash', SCRIPT, ...args], { cwd: ROOT, env, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 90_000);
    const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    clearTimeout(timer);
    if (code !== 0) throw new Error(`services.sh ${args.join(' ')} failed (${code}): ${err.slice(-800)}`);
  };

  const s: PrivateServices = {
    dir,
    redisPort,
    chHttpPort,
    redisUrl: `redis://127.0.0.1:${redisPort}`,
    clickhouseUrl: `http://127.0.0.1:${chHttpPort}`,
    pid,
    async start(name) {
      await run(name ? ['start', name] : ['start']);
    },
    async kill(name) {
      const p = pid(name);
      if (p === undefined) return;
      process.kill(p, 'SIGKILL');
      await waitFor(() => isDead(p), 10_000, `${name} (pid ${p}) to die`);
    },
    freeze: (name) => signal(s, name, 'SIGSTOP'),
    thaw: (name) => signal(s, name, 'SIGCONT'),
    async stop() {
      if (!live.delete(s)) return;
      for (const name of ['redis', 'clickhouse'] as const) {
        const p = pid(name);
        signal(s, name, 'SIGCONT', 'SIGKILL');
        if (p !== undefined) await waitFor(() => isDead(p), 10_000, `${name} to die`).catch(() => undefined);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  live.add(s);
  try {
    await s.start();
  } catch (e) {
    await s.stop();
    throw e;
  }
  return s;
}
