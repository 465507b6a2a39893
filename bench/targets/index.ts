// Starts each benchmark target against the shared mock upstream and describes how to reach it.
import { join } from "node:path";
import { freePort, start, waitForHttp, type Started } from "../lib/proc.ts";
import type { RunningTarget, TargetName } from "../lib/types.ts";
import { startArouter } from "./arouter.ts";
import { bunEnv, type TargetContext } from "./context.ts";
import { nginxCommand } from "./nginx.ts";

export const ALL_TARGETS: TargetName[] = ["direct", "bare-bun", "nginx", "portkey", "arouter"];
const CHAT = "/v1/chat/completions";
const JSON_CT = { "content-type": "application/json" };

export interface StartedTarget {
  target: RunningTarget;
  procs: Started[];
}

export async function startTarget(name: TargetName, ctx: TargetContext): Promise<StartedTarget> {
  const opts = { cwd: ctx.root, logDir: ctx.logDir };
  const mock = `http://127.0.0.1:${ctx.mockPort}`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  switch (name) {
    case "direct":
      return {
        target: { name, label: "direct (no proxy)", endpoint: { url: mock + CHAT, headers: { ...JSON_CT, authorization: "Bearer sk-bench" } }, pids: [], notes: ["load generator straight to the mock"], side: {} },
        procs: [],
      };
    case "bare-bun": {
      const p = start("bare-bun", ["bun", "run", "bench/targets/bare-bun.ts"], { ...opts, env: { ...bunEnv(ctx), PORT: String(port), UPSTREAM: mock } });
      await waitForHttp(`${base}/health`, 20_000);
      return {
        target: { name, label: `bare Bun ${Bun.version} passthrough`, endpoint: { url: base + CHAT, headers: { ...JSON_CT, authorization: "Bearer sk-bench" } }, pids: [p.pid], notes: ["fetch() and return the body"], side: {} },
        procs: [p],
      };
    }
    case "nginx": {
      const p = start("nginx", nginxCommand(ctx, port), opts);
      await waitForHttp(`${base}/health`, 20_000);
      return {
        target: { name, label: "nginx (Debian, 1 worker)", endpoint: { url: base + CHAT, headers: { ...JSON_CT, authorization: "Bearer sk-bench" } }, pids: [p.pid], notes: [`config: ${join(ctx.tmpDir, "nginx/nginx.conf")}`], side: {} },
        procs: [p],
      };
    }
    case "portkey": {
      const entry = join(ctx.root, "node_modules/@portkey-ai/gateway/build/start-server.js");
      const preload = join(ctx.root, "bench/targets/portkey-preload.ts");
      const p = start("portkey", ["bun", "--preload", preload, entry, `--port=${port}`, "--headless"], { ...opts, env: bunEnv(ctx) });
      await waitForHttp(`${base}/`, 30_000);
      const headers = { ...JSON_CT, authorization: "Bearer sk-bench", "x-portkey-provider": "openai", "x-portkey-custom-host": `${mock}/v1` };
      return {
        target: { name, label: "Portkey gateway (under Bun)", endpoint: { url: base + CHAT, headers }, pids: [p.pid], notes: ["re-serializes JSON response bodies"], side: {} },
        procs: [p],
      };
    }
    case "arouter": {
      const a = await startArouter(ctx, port);
      const label = ctx.arouterMode === "real" ? "arouter" : "arouter STAND-IN (not the real proxy)";
      const notes = ctx.arouterMode === "real" ? ["proxy + usage worker + Redis + ClickHouse"] : ["stand-in: key check + header swap only, writes no usage"];
      return {
        target: {
          name,
          label,
          endpoint: { url: `${a.usage.baseUrl}/openai${CHAT}`, headers: { ...JSON_CT, authorization: `Bearer ${a.usage.key}` } },
          pids: [a.proxy.pid],
          notes,
          side: a.worker && ctx.services ? { worker: [a.worker.pid], ...Object.fromEntries(Object.entries(ctx.services.pids).map(([k, v]) => [k, [v]])) } : {},
          ...(ctx.arouterMode === "real" ? { usage: a.usage } : {}),
        },
        procs: a.worker ? [a.proxy, a.worker] : [a.proxy],
      };
    }
  }
}
