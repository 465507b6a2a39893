// Runs wrk (closed loop, max rate) with a generated Lua script and reads its JSON summary line.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../lib/proc.ts";
import type { Endpoint } from "../lib/types.ts";

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyMs: { p50: number; p99: number; p999: number; max: number; mean: number };
}

const luaString = (s: string): string => `[==[${s}]==]`;

export function wrkScript(dir: string, name: string, endpoint: Endpoint, body: string): string {
  const headers = Object.entries(endpoint.headers)
    .map(([k, v]) => `wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`)
    .join("\n");
  const lua = `wrk.method = "POST"
wrk.body = ${luaString(body)}
${headers}
done = function(s, lat, req)
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d,"p999":%d,"max":%d,"mean":%f}\\n',
    s.requests, s.duration, s.bytes, s.errors.connect, s.errors.read, s.errors.write, s.errors.status, s.errors.timeout,
    lat:percentile(50), lat:percentile(99), lat:percentile(99.9), lat.max, lat.mean))
end
`;
  const path = join(dir, `wrk-${name}.lua`);
  writeFileSync(path, lua);
  return path;
}

export async function runWrk(opts: { script: string; url: string; threads: number; connections: number; durationS: number }): Promise<WrkResult> {
  // wrk takes whole seconds only.
  const cmd = ["wrk", `-t${opts.threads}`, `-c${opts.connections}`, `-d${Math.max(1, Math.round(opts.durationS))}s`, "--timeout", "5s", "-s", opts.script, opts.url];
  const r = await run(cmd, { timeoutMs: (opts.durationS + 20) * 1000 });
  const line = r.stdout.split("\n").find((l) => l.startsWith("WRKJSON "));
  if (!line) throw new Error(`wrk printed no summary (exit ${r.code}): ${r.stderr || r.stdout}`);
  const j = JSON.parse(line.slice(8)) as Record<string, number>;
  const n = (k: string): number => j[k] ?? 0;
  const durationS = n("duration_us") / 1e6;
  return {
    requests: n("requests"),
    durationS,
    rps: n("requests") / durationS,
    bytes: n("bytes"),
    errors: { connect: n("connect"), read: n("read"), write: n("write"), status: n("status"), timeout: n("timeout") },
    latencyMs: { p50: n("p50") / 1000, p99: n("p99") / 1000, p999: n("p999") / 1000, max: n("max") / 1000, mean: n("mean") / 1000 },
  };
}
