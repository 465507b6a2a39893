// Low-rate probe through arouter (own process): time from a response's end until its row is queryable.
import { chQuery } from "../lib/clickhouse.ts";
import { latencyPercentiles } from "../lib/stats.ts";
import type { Endpoint, LatencyPercentiles } from "../lib/types.ts";
import { fixedRate, readConfig } from "./schedule.ts";

export interface ProbeConfig {
  endpoint: Endpoint;
  body: string;
  rate: number;
  durationS: number;
  clickhouseUrl: string;
  database: string;
  pollMs: number;
  drainS: number;
}

export interface ProbeResult {
  sent: number;
  withId: number;
  found: number;
  /** Includes up to one poll interval of resolution. */
  lagMs: LatencyPercentiles;
  pollMs: number;
}

const cfg = readConfig<ProbeConfig>();
const endedAt = new Map<string, number>();
const lag: number[] = [];
let sendingDone = false;

async function poll(): Promise<void> {
  const deadline = () => sendingDone && performance.now() > drainUntil;
  let drainUntil = Number.POSITIVE_INFINITY;
  while (!(sendingDone && endedAt.size === 0) && !deadline()) {
    if (sendingDone && drainUntil === Number.POSITIVE_INFINITY) drainUntil = performance.now() + cfg.drainS * 1000;
    const ids = [...endedAt.keys()];
    if (ids.length) {
      const list = ids.map((id) => `'${id.replace(/[^0-9a-zA-Z_-]/g, "")}'`).join(",");
      try {
        // Stamped when the query is sent, not when its answer is back: the query's own time is not the pipeline's lag
        // (a row that lands while the query runs is counted at most that much early).
        const now = performance.now();
        const rows = await chQuery(cfg.clickhouseUrl, cfg.database, `SELECT toString(request_id) FROM usage_events WHERE toString(request_id) IN (${list}) FORMAT TabSeparated`);
        for (const id of rows.split("\n")) {
          const end = endedAt.get(id);
          if (end !== undefined) {
            lag.push(now - end);
            endedAt.delete(id);
          }
        }
      } catch {
        /* the table may not exist yet or be busy merging: try again next poll */
      }
    }
    await Bun.sleep(cfg.pollMs);
  }
}

let withId = 0;
const poller = poll();
const count = Math.round(cfg.rate * cfg.durationS);
await fixedRate(cfg.rate, count, async () => {
  try {
    const res = await fetch(cfg.endpoint.url, { method: "POST", headers: cfg.endpoint.headers, body: cfg.body, signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    const id = res.headers.get("x-arouter-request-id");
    if (id) {
      withId++;
      endedAt.set(id, performance.now());
    }
  } catch {
    /* counted as missing below */
  }
});
sendingDone = true;
await poller;
const result: ProbeResult = { sent: count, withId, found: lag.length, lagMs: latencyPercentiles(Float64Array.from(lag)), pollMs: cfg.pollMs };
console.log(JSON.stringify(result));
