// Child processes of the harness: start detached, track, and always tear down (also on Ctrl-C).
import { openSync, closeSync } from "node:fs";
import { join } from "node:path";

export interface Started {
  pid: number;
  name: string;
  exited: Promise<number>;
}

const live = new Map<number, string>();
const exitHooks: Array<() => void> = [];
let cleaned = false;

/**
 * Each child gets its own process group (detached) so that teardown can signal the whole
 * tree at once, and so a terminal Ctrl-C reaches only the harness, which then cleans up in order.
 */
export function start(name: string, cmd: string[], opts: { env?: Record<string, string>; cwd?: string; logDir: string }): Started {
  const out = openSync(join(opts.logDir, `${name}.log`), "a");
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", out, out],
    detached: true,
  });
  closeSync(out);
  live.set(proc.pid, name);
  const exited = proc.exited.then((code) => {
    live.delete(proc.pid);
    return code;
  });
  return { pid: proc.pid, name, exited };
}

/** Runs a short-lived command to completion, capturing stdout; killed after `timeoutMs`. */
export async function run(cmd: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs: number; stdin?: string }): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
  live.set(proc.pid, cmd[0] ?? "cmd");
  const timer = setTimeout(() => killGroup(proc.pid, "SIGKILL"), opts.timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  live.delete(proc.pid);
  return { code, stdout, stderr };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export async function stop(p: Started, graceMs = 3000): Promise<void> {
  if (!live.has(p.pid)) return;
  killGroup(p.pid, "SIGTERM");
  const done = await Promise.race([p.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!done) killGroup(p.pid, "SIGKILL");
}

/** Registers synchronous teardown work (e.g. stopping daemons) run after children are signalled. */
export function onCleanup(fn: () => void): void {
  exitHooks.push(fn);
}

/** Synchronous on purpose: it must also work from 'exit' and signal handlers. */
export function cleanupAll(): void {
  if (cleaned) return;
  cleaned = true;
  for (const pid of live.keys()) killGroup(pid, "SIGTERM");
  const deadline = Date.now() + 2000;
  while (live.size && Date.now() < deadline) {
    for (const pid of [...live.keys()]) if (!alive(pid)) live.delete(pid);
    Bun.sleepSync(50);
  }
  for (const pid of live.keys()) killGroup(pid, "SIGKILL");
  for (const fn of exitHooks.reverse()) {
    try {
      fn();
    } catch (e) {
      console.error("cleanup:", e);
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function installSignalCleanup(): void {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}, stopping everything it started`);
      cleanupAll();
      process.exit(130);
    });
  }
  process.on("exit", cleanupAll);
}

export async function waitForHttp(url: string, timeoutMs: number, init?: RequestInit): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = "";
  while (performance.now() < deadline) {
    try {
      const r = await fetch(url, { ...init, signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status < 500) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = String(e);
    }
    await Bun.sleep(100);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`);
}

/** Asks the kernel for a free loopback port; the tiny race until the child binds is acceptable here. */
export async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export async function portFree(port: number): Promise<boolean> {
  try {
    const s = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    s.stop(true);
    return true;
  } catch {
    return false;
  }
}
