// The arouter target: the real proxy plus its usage worker, or a stand-in until the proxy exists.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { start, waitForHttp, type Started } from "../lib/proc.ts";
import type { UsageAccess } from "../lib/types.ts";
import { bunEnv, type TargetContext } from "./context.ts";

export const AROUTER_DB = "arouter";

/** `auto` picks the real proxy as soon as its entry file exists. */
export function resolveArouterMode(root: string, wanted: "auto" | "real" | "standin"): "real" | "standin" {
  if (wanted !== "auto") return wanted;
  return existsSync(join(root, "src/server.ts")) ? "real" : "standin";
}

export interface ArouterStarted {
  proxy: Started;
  worker: Started | null;
  usage: UsageAccess;
}

export async function startArouter(ctx: TargetContext, port: number): Promise<ArouterStarted> {
  const adminToken = `bench-admin-${crypto.randomUUID()}`;
  const env: Record<string, string> = {
    ...bunEnv(ctx),
    PORT: String(port),
    HOST: "127.0.0.1",
    AROUTER_ADMIN_TOKEN: adminToken,
    OPENAI_API_KEY: "sk-bench",
    AROUTER_UPSTREAM_OPENAI: `http://127.0.0.1:${ctx.mockPort}`,
    CLICKHOUSE_DB: AROUTER_DB,
  };
  if (ctx.services) {
    env.REDIS_URL = ctx.services.redisUrl;
    env.CLICKHOUSE_URL = ctx.services.clickhouseUrl;
  }
  let worker: Started | null = null;
  let proxy: Started;
  if (ctx.arouterMode === "real") {
    if (!ctx.services) throw new Error("the real arouter needs Redis and ClickHouse: drop --no-services");
    worker = start("arouter-worker", ["bun", "run", "workers/main.ts"], { env, cwd: ctx.root, logDir: ctx.logDir });
    proxy = start("arouter", ["bun", "run", "src/server.ts"], { env, cwd: ctx.root, logDir: ctx.logDir });
  } else {
    proxy = start("arouter-standin", ["bun", "run", "bench/targets/arouter-standin.ts"], { env, cwd: ctx.root, logDir: ctx.logDir });
  }
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForHttp(`${baseUrl}/healthz`, 60_000);
  const res = await fetch(`${baseUrl}/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ account: "bench", name: "bench" }),
  });
  if (res.status !== 201) throw new Error(`POST /admin/keys answered ${res.status}: ${await res.text()}`);
  const { key } = (await res.json()) as { key: string };
  return {
    proxy,
    worker,
    usage: { clickhouseUrl: ctx.services?.clickhouseUrl ?? "", database: AROUTER_DB, baseUrl, key, adminToken },
  };
}
