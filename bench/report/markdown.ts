// Renders the readable summary (bench/results/<date>.md) from the results object.
import type { BenchResults } from "./results.ts";
import { num, ratio, signed, sp } from "./format.ts";

const row = (cells: Array<string | number>): string => `| ${cells.join(" | ")} |`;
const table = (head: string[], rows: Array<Array<string | number>>): string =>
  [row(head), row(head.map(() => "---")), ...rows.map(row)].join("\n");
/** Rounds grouped by target in the targets' order, repetitions in order within each. */
const byTarget = <R extends { target: string; rep: number }>(rounds: R[], order: string[]): R[] =>
  [...rounds].sort((a, b) => order.indexOf(a.target) - order.indexOf(b.target) || a.rep - b.rep);

export function markdown(r: BenchResults, chartFile: string): string {
  const m = r.meta;
  const names = Object.keys(r.targets);
  const out: string[] = [];
  out.push(`# arouter benchmark, ${m.date} (${m.mode})`, "");
  if (m.arouterMode === "standin") out.push("> **arouter is the STAND-IN** (bench/targets/arouter-standin.ts), not the real proxy: its figures only show that the harness works.", "");
  out.push(
    `Machine: ${m.machine.cpus} cores, ${m.machine.memGiB} GiB, Linux ${m.machine.kernel}; load average at start ${m.machine.loadavgAtStart.map((x) => x.toFixed(2)).join(" ")}; median machine-wide CPU busy just before a round: ${Number.isFinite(m.bgBusyMedian) ? `${Math.round(m.bgBusyMedian * 100)}%` : "n/a"}.`,
    `Versions: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(", ")}. Bun proxies ran with BUN_CONFIG_MAX_HTTP_REQUESTS=${m.bunMaxRequests || "default (256)"}${m.bunPurgeDelay ? ` and MIMALLOC_PURGE_DELAY=${m.bunPurgeDelay}` : ""}. Wall time ${Math.round(m.wallS)} s.`,
    "",
    "Every process (load generator, mock upstream, proxy, Redis, ClickHouse) shares the same cores, so read the **ratios** (paired within a repetition, rounds interleaved across targets), not the absolute figures. Cells show median (min…max) over repetitions.",
    "",
    `![chart](${chartFile})`,
    "",
    "## Targets",
    "",
    table(
      ["target", "what", "JSON body", "SSE events", "usage chunk", "idle RSS MiB", "start ms"],
      names.map((n) => {
        const t = r.targets[n];
        if (!t) return [n];
        const f = t.fidelity;
        const body = f.error ? `error: ${f.error.slice(0, 60)}` : `${f.jsonStatus} ${f.jsonIdentical ? "identical" : f.jsonEquivalent ? "re-serialized (same JSON)" : "DIFFERENT"}`;
        return [n, t.label, body, `${f.sseStatus} ${f.sseEvents}`, f.sseHasUsage ? "yes" : "NO", num(t.idleRssMiB, 1), t.startMs];
      }),
    ),
    "",
  );
  if (r.throughput) {
    const p = m.profile;
    out.push(`## 1. Max throughput, non-streaming JSON (wrk -t${p.throughput.threads} -c${p.throughput.connections}, ${p.throughput.durationS} s per round)`, "");
    out.push("CPU ms / 1k req is the proxy process tree's user+system time per 1,000 requests, which a busy machine disturbs far less than req/s. Helpers: arouter's worker, Redis and ClickHouse during the round.", "");
    out.push(table(["target", "req/s", "× direct", "× bare-bun", "CPU ms / 1k req", "CPU × bare-bun", "helpers CPU ms / 1k req", "proxy peak RSS MiB", "failed"], names.map((n) => {
      const s = r.throughput?.summary[n];
      const side = s && s.sideCpuMsPerK.median > 0 ? sp(s.sideCpuMsPerK, 1) : "–";
      return [n, sp(s?.rps, 0), ratio(s?.vsDirect), ratio(s?.vsBareBun), n === "direct" ? "–" : sp(s?.proxyCpuMsPerK, 1), n === "direct" ? "–" : ratio(s?.proxyCpuVsBareBun), side, sp(s?.rssPeakMiB, 1), s?.failed ?? "–"];
    })), "");
  }
  if (r.latency) {
    out.push(
      `## 2. Latency at a fixed ${r.latency.rate} req/s (open loop), ms`,
      "",
      `Rate: ${r.latency.rateWhy}. Added = target minus direct in the same repetition. **From due**: each request timed from when it was due to be sent, so time the load generator (on the same cores) spent late counts against the target, as open-loop measurement requires; this is the figure the targets are judged on. From send: timed from the actual send, which hides that wait.`,
      "",
    );
    out.push(table(["target", "p50", "p99", "p99.9", "added p50 from due", "added p99 from due", "added p99.9 from due", "added p50 / p99 from send", "failed"], names.map((n) => {
      const s = r.latency?.summary[n];
      const due = s?.addedFromDueVsDirectMs;
      return [n, sp(s?.ms.p50, 3), sp(s?.ms.p99, 3), sp(s?.ms.p999, 3), sp(due?.p50, 3, true), sp(due?.p99, 3, true), sp(due?.p999, 3, true), `${sp(s?.addedVsDirectMs.p50, 3, true)} / ${sp(s?.addedVsDirectMs.p99, 3, true)}`, s?.failed ?? "–"];
    })), "");
  }
  if (r.stream) {
    out.push(
      `## 3a. Streaming: ${r.stream.events} SSE events every ${r.stream.cadenceMs} ms, ms`,
      "",
      "Event delay = arrival of event i − (request sent + i × cadence): it also counts the request's own way to the mock, once per event. Relay = arrival of each event − the moment the mock sent it (both processes read the same clock): what the proxy adds to an event on its way back. Direct shows the floor of both.",
      "",
    );
    out.push(table(["target", "TTFB p50", "added TTFB p50", "event delay p50", "added delay p50", "added delay p99", "relay p50", "relay p99", "added relay p50", "added relay p99", "failed/short/unpaired"], names.map((n) => {
      const s = r.stream?.summary[n];
      return [n, sp(s?.ttfbP50Ms), sp(s?.addedTtfbP50Ms, 2, true), sp(s?.delayP50Ms), sp(s?.addedDelayP50Ms, 2, true), sp(s?.addedDelayP99Ms, 2, true), sp(s?.relayP50Ms, 3), sp(s?.relayP99Ms), sp(s?.addedRelayP50Ms, 3, true), sp(s?.addedRelayP99Ms, 2, true), s ? `${s.failedOrShort}/${s.unpaired}` : "–"];
    })), "");
  }
  if (r.many) {
    out.push(`## 3b. ${r.many.streams} concurrent open streams (${r.many.events} events every ${r.many.cadenceMs} ms each)`, "");
    out.push(table(["target", "rep", "completed", "failed/short", "max open", "TTFB p99 ms", "event delay p50 ms", "event delay p99 ms", "relay p50 / p99 ms", "proxy RSS idle → peak MiB"], byTarget(r.many.rounds, names).map((x) => [
      x.target, x.rep, x.completed, x.failed + x.short, x.maxOpen, num(x.ttfbP99), num(x.delayP50), num(x.delayP99), `${num(x.relayP50)} / ${num(x.relayP99)}`, x.target === "direct" ? "–" : `${num(x.idleRssMiB, 1)} → ${num(x.peakRssMiB, 1)}`,
    ])), "");
  }
  if (r.big) {
    out.push(
      `## 4. Memory: one ${r.big.mib} MiB SSE response to a reader capped at ${r.big.readerMiBps} MiB/s`,
      "",
      `Flat = proxy RSS grew less than ${num(r.big.flatLimitMiB, 1)} MiB (50 MB) during the transfer. Paced = the reader held its socket paused and read at 90% of its cap or more, so the proxy had to hold back; a round that is not paced shows nothing about backpressure.`,
      "",
    );
    out.push(table(["target", "rep", "complete", "MiB/s", "paced", "proxy RSS start → peak → end MiB", "growth MiB", "flat", "mock peak MiB"], byTarget(r.big.rounds, names).map((x) => [
      x.target, x.rep, x.ok ? "yes" : "NO", x.MiBps, x.paced === undefined ? "–" : x.paced ? "yes" : "**NO**", x.target === "direct" ? "–" : `${num(x.rssStartMiB, 1)} → ${num(x.rssPeakMiB, 1)} → ${num(x.rssEndMiB, 1)}`, x.target === "direct" ? "–" : signed(x.growthMiB, 1), x.target === "direct" ? "–" : x.flat ? "yes" : "**NO**", num(x.mockPeakMiB, 1),
    ])), "");
  }
  out.push("## 5. Usage pipeline (arouter only)", "");
  const u = r.usage;
  if (!u) out.push("not run", "");
  else if ("skipped" in u) out.push(`skipped: ${u.skipped}`, "");
  else {
    out.push("Served = requests the proxy finished in the phase (its `arouter_requests_total`), those in flight when the load stopped included; complete = exactly one row (FINAL) per served request, none missing and none more. Clients = requests wrk and the lag probe saw completed.", "");
    out.push(table(["load", "clients", "served", "rows (FINAL)", "complete", "ingest rows/s", "peak rows/s (3 s)", "all rows in after load end", "probe lag p50 / p99 / max ms"], [[
      `${num(u.wrkRps, 0)} req/s`, u.rowsExpected, u.served ?? "–", u.rowsSeen, u.complete ? "yes" : "**NO**", num(u.ingestRowsPerS, 0), num(u.peakRowsPerS, 0), u.drainAfterLoadMs === null ? "**never (incomplete)**" : `${u.drainAfterLoadMs} ms`,
      `${num(u.probe.lagMs.p50, 0)} / ${num(u.probe.lagMs.p99, 0)} / ${num(u.probe.lagMs.max, 0)} (${u.probe.found}/${u.probe.withId} found, ${u.probe.pollMs} ms polls)`,
    ]]), "");
    const cpu = Object.entries(u.cpuMsPerKRows).map(([k, v]) => `${k} ${num(v, 1)}`).join(", ");
    out.push(`CPU ms per 1,000 rows, load start to all rows in (the probe's polling included): ${cpu}.`, "");
  }
  out.push("## 6. Analytics (`GET /v1/usage`: `queryUsage` timed in-process against ClickHouse, then over HTTP from a real arouter with the account's key, under `http`; bench/usage-query.ts)", "");
  out.push("Nearest-rank percentiles: with 10 FINAL-only iterations, their p99 is the maximum.", "");
  const a = r.analytics;
  if (!a) out.push("not run", "");
  else if ("skipped" in a) out.push(`skipped: ${a.skipped}`, "");
  else out.push(`exit ${a.exitCode} after ${a.ms} ms`, "", "```json", JSON.stringify(a.result, null, 2) ?? "null", "```", "");
  const errs = Object.entries(r.errors);
  if (errs.length) out.push("## Errors", "", ...errs.map(([k, v]) => `- **${k}**: ${v}`), "");
  return out.join("\n");
}
