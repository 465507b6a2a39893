// Facts about the machine and tool versions recorded with every run.
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { run } from "./proc.ts";

export async function versions(root: string, clickhouseUrl: string | null): Promise<Record<string, string>> {
  const v: Record<string, string> = { bun: Bun.version };
  const first = async (cmd: string[], re: RegExp): Promise<string> => {
    try {
      const r = await run(cmd, { timeoutMs: 5000 });
      return re.exec(r.stdout + r.stderr)?.[1] ?? "?";
    } catch {
      return "missing";
    }
  };
  v.wrk = await first(["wrk", "-v"], /wrk (\S+)/);
  v.nginx = await first(["nginx", "-v"], /nginx\/([\d.]+)/);
  try {
    v.portkey = (JSON.parse(readFileSync(join(root, "node_modules/@portkey-ai/gateway/package.json"), "utf8")) as { version: string }).version;
  } catch {
    v.portkey = "missing";
  }
  if (clickhouseUrl) {
    try {
      v.clickhouse = (await (await fetch(`${clickhouseUrl}/?query=SELECT%20version()`)).text()).trim();
    } catch {
      v.clickhouse = "?";
    }
  }
  return v;
}

export function machine(): { cpus: number; memGiB: number; kernel: string; loadavgAtStart: number[] } {
  return { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100) };
}
