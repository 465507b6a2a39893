// arouter only: rows/s from proxy into ClickHouse at max rate, and lag from response end to queryable row.
import { chatRequest, MODEL_JSON } from "../mock/fixtures.ts";
import { tableExists, usageRowCount } from "../lib/clickhouse.ts";
import { cpuMeter } from "../lib/cputime.ts";
import { runLoad } from "../lib/loadproc.ts";
import type { RunningTarget } from "../lib/types.ts";
import type { ProbeConfig, ProbeResult } from "../load/usage-probe.ts";
import { runWrk, wrkScript } from "../load/wrk.ts";
import type { PhaseContext } from "./common.ts";

/** The peak ingest rate's window: three of the worker's one-second inserts, not the one or two a 1 s window catches. */
const PEAK_WINDOW_MS = 3000;

export type UsageResult =
  | { skipped: string }
  | {
      wrkRequests: number;
      wrkRps: number;
      /** Requests the client side completed (wrk and the probe): the rows can only be more, by those in flight. */
      rowsExpected: number;
      /** Requests the proxy finished in the phase (its arouter_requests_total), in flight at wrk's end included. */
      served: number;
      rowsSeen: number;
      /** Every served request has its row and there is no row more (a lost row is never covered by an extra one). */
      complete: boolean;
      ingestRowsPerS: number;
      peakRowsPerS: number;
      drainAfterLoadMs: number | null;
      probe: ProbeResult;
      /** CPU ms per 1,000 rows from load start until the rows were in (or the drain gave up), per process. */
      cpuMsPerKRows: Record<string, number>;
      series: Array<[number, number]>;
    };

/** The proxy's own count of requests it finished (every one of them hands a snippet to the pipeline). */
async function servedCount(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let n = 0;
  for (const line of text.split("\n")) if (line.startsWith("arouter_requests_total{")) n += Number(line.slice(line.lastIndexOf(" ") + 1));
  return n;
}

/** The proxy's count once it stops moving: requests in flight when the load ended have finished. */
async function servedSettled(baseUrl: string): Promise<number> {
  let last = await servedCount(baseUrl);
  for (let i = 0; i < 20; i++) {
    await Bun.sleep(250);
    const now = await servedCount(baseUrl);
    if (now === last) return now;
    last = now;
  }
  return last;
}

/** Rows still arriving from earlier phases would inflate this phase's counts: wait until stable. */
async function waitStable(url: string, db: string, maxMs: number): Promise<number> {
  const t0 = performance.now();
  let last = await usageRowCount(url, db);
  while (performance.now() - t0 < maxMs) {
    await Bun.sleep(1000);
    const now = await usageRowCount(url, db);
    if (now === last) return now;
    last = now;
  }
  return last;
}

export async function usagePhase(ctx: PhaseContext, target: RunningTarget | undefined): Promise<UsageResult> {
  const access = target?.usage;
  if (!target || !access) return { skipped: "no real arouter in this run (the stand-in writes no usage)" };
  const p = ctx.profile.usage;
  const ch = access.clickhouseUrl;
  const deadline = performance.now() + 60_000;
  while (!(await tableExists(ch, access.database, "usage_events"))) {
    if (performance.now() > deadline) return { skipped: `table ${access.database}.usage_events never appeared` };
    await Bun.sleep(500);
  }
  const base = await waitStable(ch, access.database, 20_000);
  const servedBefore = await servedCount(access.baseUrl);
  const series: Array<[number, number]> = [];
  const cpu = cpuMeter({ proxy: target.pids, ...target.side });
  const t0 = performance.now();
  let stop = false;
  const poller = (async () => {
    while (!stop) {
      try {
        series.push([Math.round(performance.now() - t0), (await usageRowCount(ch, access.database)) - base]);
      } catch {
        /* a slow count under load is skipped, not fatal */
      }
      await Bun.sleep(250);
    }
  })();
  const body = chatRequest(MODEL_JSON, false);
  const script = wrkScript(ctx.tmpDir, "usage", target.endpoint, body);
  const probeCfg: ProbeConfig = { endpoint: target.endpoint, body, rate: p.probeRate, durationS: p.durationS, clickhouseUrl: ch, database: access.database, pollMs: 100, drainS: p.drainS };
  const probe = runLoad<ProbeResult>("usage-probe.ts", probeCfg, (p.durationS + p.drainS + 30) * 1000);
  const tp = ctx.profile.throughput;
  const w = await runWrk({ script, url: target.endpoint.url, threads: tp.threads, connections: tp.connections, durationS: p.durationS });
  const loadEnd = performance.now() - t0;
  const expected = w.requests + Math.round(p.probeRate * p.durationS);
  // The probe sends for as long as wrk does; its last requests and wrk's in-flight ones end within moments.
  const served = (await servedSettled(access.baseUrl)) - servedBefore;
  const drainDeadline = performance.now() + p.drainS * 1000;
  while (performance.now() < drainDeadline && (series[series.length - 1]?.[1] ?? 0) < served) await Bun.sleep(250);
  const probeResult = await probe;
  const used = cpu.stop();
  stop = true;
  await poller;
  const seen = series[series.length - 1]?.[1] ?? 0;
  const doneAt = series.find(([, n]) => n >= served)?.[0];
  const first = series.find(([, n]) => n > 0);
  const firstRow = first?.[0] ?? 0;
  const lastGrowth = series.reduce((acc, [ms, n], i) => (i > 0 && n > (series[i - 1]?.[1] ?? 0) ? ms : acc), firstRow);
  // Rows land in steps, one per worker insert (about a second apart): a rate is taken between steps, so the rows
  // already there at the first step are not counted into the time after it, and a peak window spans several inserts.
  const ingested = seen - (first?.[1] ?? 0);
  // Windows open and close on steps too: one opened on the sample before the first step would count the rows that
  // piled up before it into a few seconds.
  const steps = series.filter(([, n], i) => i > 0 && n > (series[i - 1]?.[1] ?? 0));
  let peak = 0;
  for (const [i, [from, rowsFrom]] of steps.entries()) {
    const to = steps.slice(i + 1).find(([ms]) => ms >= from + PEAK_WINDOW_MS);
    if (to) peak = Math.max(peak, ((to[1] - rowsFrom) * 1000) / (to[0] - from));
  }
  const complete = seen === served;
  ctx.log(`usage: ${seen} rows for ${served} requests served (${expected} completed by the clients), ${complete ? `all in ${Math.round((doneAt ?? 0) - loadEnd)} ms after load` : seen < served ? `${served - seen} MISSING` : `${seen - served} rows MORE than served`}`);
  return {
    wrkRequests: w.requests,
    wrkRps: Math.round(w.rps),
    rowsExpected: expected,
    served,
    rowsSeen: seen,
    complete,
    ingestRowsPerS: lastGrowth > firstRow ? Math.round((ingested * 1000) / (lastGrowth - firstRow)) : 0,
    peakRowsPerS: Math.round(peak),
    drainAfterLoadMs: complete && doneAt !== undefined ? Math.max(0, Math.round(doneAt - loadEnd)) : null,
    probe: probeResult,
    cpuMsPerKRows: Object.fromEntries(Object.entries(used).map(([k, ms]) => [k, seen > 0 ? Math.round((ms * 10_000) / seen) / 10 : Number.NaN])),
    series,
  };
}
