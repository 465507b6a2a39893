// Redis and ClickHouse for the arouter target, on the bench's own ports, via the project's services script.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ServicesInfo } from "../targets/context.ts";
import { onCleanup, portFree, run } from "./proc.ts";

export async function startServices(root: string, stateDir: string, redisPort: number, chHttpPort: number): Promise<ServicesInfo> {
  const chTcpPort = chHttpPort + 877;
  for (const p of [redisPort, chHttpPort, chTcpPort]) {
    // services.sh would silently reuse whatever answers there, with someone else's data in it.
    if (!(await portFree(p))) throw new Error(`port ${p} is taken: pick others with --redis-port / --ch-port`);
  }
  const env = { AROUTER_REDIS_PORT: String(redisPort), AROUTER_CH_HTTP_PORT: String(chHttpPort), AROUTER_CH_TCP_PORT: String(chTcpPort), AROUTER_SERVICES_DIR: stateDir };
  const script = join(root, "scripts/services.sh");
  onCleanup(() => {
    spawnSync("bash", [script, "stop"], { env: { ...process.env, ...env }, stdio: "ignore", timeout: 45_000 });
  });
  const r = await run(["bash", script, "start"], { env, cwd: root, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`scripts/services.sh start failed: ${r.stderr.slice(-800)}`);
  const pids: Record<string, number> = {};
  for (const name of ["redis", "clickhouse"]) {
    try {
      pids[name] = Number(readFileSync(join(stateDir, `${name}.pid`), "utf8").trim());
    } catch {
      /* no pid file: that daemon's CPU is simply not reported */
    }
  }
  return { redisUrl: `redis://127.0.0.1:${redisPort}`, clickhouseUrl: `http://127.0.0.1:${chHttpPort}`, pids };
}
