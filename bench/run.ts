// Benchmark entry point: mock upstream + every target side by side, interleaved phases, results on disk.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { machine, versions } from "./lib/meta.ts";
import { cleanupAll, freePort, installSignalCleanup, start, stop, waitForHttp, type Started } from "./lib/proc.ts";
import { parseArgs, USAGE, type Phase } from "./lib/profile.ts";
import { treeRssKiB } from "./lib/rss.ts";
import { startServices } from "./lib/services.ts";
import { spread } from "./lib/stats.ts";
import { ensureBenchTools } from "./lib/tools.ts";
import type { RoundBase, RunningTarget } from "./lib/types.ts";
import { analyticsPhase } from "./phases/analytics.ts";
import { mib, type PhaseContext } from "./phases/common.ts";
import { latencyPhase, latencyRate } from "./phases/latency.ts";
import { bigStreamPhase } from "./phases/memory.ts";
import { preflight } from "./phases/preflight.ts";
import { manyStreamsPhase, streamPhase } from "./phases/streaming.ts";
import { throughputPhase } from "./phases/throughput.ts";
import { usagePhase } from "./phases/usage.ts";
import { markdown } from "./report/markdown.ts";
import type { BenchResults, TargetInfo } from "./report/results.ts";
import { chartSvg } from "./report/svg.ts";
import { resolveArouterMode } from "./targets/arouter.ts";
import type { TargetContext } from "./targets/context.ts";
import { ALL_TARGETS, startTarget } from "./targets/index.ts";

if (process.argv.includes("--help")) {
  console.log(USAGE);
  process.exit(0);
}
const opts = parseArgs(process.argv.slice(2));
installSignalCleanup();
const t0 = performance.now();
const log = (msg: string): void => console.error(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
const root = resolve(import.meta.dir, "..");
try {
  ensureBenchTools(log);
} catch (e) {
  log(`cannot run: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
const tmpDir = mkdtempSync(join(tmpdir(), "arouter-bench-"));
const logDir = join(tmpDir, "logs");
mkdirSync(logDir);
log(`work dir ${tmpDir} (process logs in logs/)`);
const errors: Record<string, string> = {};
const procs: Started[] = [];

const mockPort = await freePort();
const mock = start("mock", ["bun", "bench/mock/upstream.ts", String(mockPort)], { cwd: root, logDir });
procs.push(mock);
await waitForHttp(`http://127.0.0.1:${mockPort}/health`, 15_000);

const wantsArouter = !opts.targets || opts.targets.includes("arouter");
let services: TargetContext["services"] = null;
if (opts.services && wantsArouter) {
  log("starting Redis and ClickHouse (scripts/services.sh)");
  try {
    services = await startServices(root, join(tmpDir, "services"), opts.redisPort, opts.chHttpPort);
  } catch (e) {
    errors.services = String(e);
    log(`services failed: ${e}`);
  }
}
const arouterMode = resolveArouterMode(root, opts.arouter);
const ctx: TargetContext = { root, logDir, tmpDir, mockPort, bunMaxRequests: opts.bunMaxRequests, bunPurgeDelay: opts.bunPurgeDelay, arouterMode, services };
log(`arouter target: ${arouterMode === "real" ? "the real proxy (src/server.ts)" : "the STAND-IN (bench/targets/arouter-standin.ts)"}`);

const targets: RunningTarget[] = [];
const info: Record<string, TargetInfo> = {};
for (const name of opts.targets ?? ALL_TARGETS) {
  const s0 = performance.now();
  try {
    const started = await startTarget(name, ctx);
    procs.push(...started.procs);
    const startMs = Math.round(performance.now() - s0);
    await Bun.sleep(300);
    const idleRssMiB = started.target.pids.length ? mib(treeRssKiB(started.target.pids)) : 0;
    const fidelity = await preflight(started.target, 100);
    info[name] = { label: started.target.label, notes: started.target.notes, startMs, idleRssMiB, fidelity };
    targets.push(started.target);
    log(`target ${name} up in ${startMs} ms, idle RSS ${idleRssMiB} MiB, JSON ${fidelity.jsonStatus}${fidelity.jsonIdentical ? " identical" : ""}, SSE ${fidelity.sseStatus}/${fidelity.sseEvents} events`);
  } catch (e) {
    errors[`target ${name}`] = String(e);
    log(`target ${name} FAILED to start: ${e}`);
  }
}

const mockPidForRss = mock.pid;
const pctx: PhaseContext = { targets, profile: opts.profile, tmpDir, mockPid: mockPidForRss, mockUrl: `http://127.0.0.1:${mockPort}`, log, errors };
const results: BenchResults = {
  meta: {
    date: new Date().toISOString(),
    mode: opts.quick ? "quick" : "full",
    arouterMode,
    machine: machine(),
    versions: await versions(root, services?.clickhouseUrl ?? null),
    bunMaxRequests: opts.bunMaxRequests,
    bunPurgeDelay: opts.bunPurgeDelay,
    profile: opts.profile,
    wallS: 0,
    bgBusyMedian: 0,
  },
  targets: info,
  errors,
};

async function phase(name: Phase, body: () => Promise<void>): Promise<void> {
  if (!opts.phases.includes(name)) return;
  log(`phase ${name}`);
  try {
    await body();
  } catch (e) {
    errors[`phase ${name}`] = e instanceof Error ? (e.stack ?? e.message) : String(e);
    log(`phase ${name} FAILED: ${e}`);
  }
}

const arouter = targets.find((t) => t.name === "arouter");
await phase("throughput", async () => void (results.throughput = await throughputPhase(pctx)));
await phase("latency", async () => {
  const lp = opts.profile.latency;
  const pick = opts.latencyRate
    ? { rate: opts.latencyRate, why: "pinned by --latency-rate" }
    : latencyRate(lp.rate, lp.shareOfSlowest, Object.values(results.throughput?.summary ?? {}).map((s) => s.rps.median));
  log(`latency rate ${pick.rate} req/s: ${pick.why}`);
  results.latency = await latencyPhase(pctx, pick.rate, pick.why);
});
await phase("stream", async () => void (results.stream = await streamPhase(pctx)));
await phase("many", async () => void (results.many = await manyStreamsPhase(pctx)));
await phase("big", async () => void (results.big = await bigStreamPhase(pctx)));
await phase("usage", async () => void (results.usage = await usagePhase(pctx, arouter)));
await phase("analytics", async () => void (results.analytics = await analyticsPhase(ctx, arouter, opts.profile.analyticsTimeoutS, opts.quick)));

const allRounds: RoundBase[][] = [results.throughput?.rounds ?? [], results.latency?.rounds ?? [], results.stream?.rounds ?? [], results.many?.rounds ?? [], results.big?.rounds ?? []];
const busy = allRounds.flat().map((r) => r.bgBusy);
results.meta.bgBusyMedian = spread(busy).median;
results.meta.wallS = Math.round((performance.now() - t0) / 1000);

const outDir = opts.outDir ? resolve(opts.outDir) : join(root, "bench/results");
mkdirSync(outDir, { recursive: true });
const stamp = results.meta.date.replace(/:/g, "").replace(/\.\d+Z$/, "Z") + (opts.quick ? "-quick" : "");
writeFileSync(join(outDir, `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(outDir, `${stamp}.svg`), chartSvg(results));
writeFileSync(join(outDir, `${stamp}.md`), markdown(results, `${stamp}.svg`));
log(`wrote ${join(outDir, stamp)}.{json,md,svg}`);

for (const p of procs.reverse()) await stop(p);
const failed = Object.keys(errors).length > 0;
cleanupAll();
// Only after cleanup: the services' pid files live in the work dir. Kept on failure for a post-mortem.
if (!failed) rmSync(tmpDir, { recursive: true, force: true });
else log(`errors: ${Object.keys(errors).join("; ")}; logs kept in ${logDir}`);
process.exit(failed ? 1 : 0);
