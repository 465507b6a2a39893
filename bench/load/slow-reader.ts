// Reads one huge streamed response at a capped rate over a raw socket, so TCP backpressure is real.
import net from "node:net";
import type { Endpoint } from "../lib/types.ts";
import { readConfig } from "./schedule.ts";

export interface SlowReaderConfig {
  endpoint: Endpoint;
  body: string;
  rateMiBps: number;
  timeoutMs: number;
}

export interface SlowReaderResult {
  status: number;
  bytes: number;
  ms: number;
  MiBps: number;
  sawDone: boolean;
  timedOut: boolean;
  /** How long the socket was held paused: 0 means the sender never outran the cap, and nothing was held back. */
  pausedMs: number;
}

const cfg = readConfig<SlowReaderConfig>();
const url = new URL(cfg.endpoint.url);
const bytesPerMs = (cfg.rateMiBps * 1024 * 1024) / 1000;
/**
 * A token bucket: the reader may run ahead of the rate by this much, no more. Credit does not pile up while the
 * sender is slower than the cap, so a later burst is paced too (a budget counted from the start would let it through).
 */
const BURST_BYTES = 256 * 1024;
const DONE = Buffer.from("data: [DONE]");

// fetch() would drain the socket into its own buffers; a paused net.Socket leaves bytes in the kernel.
const result = await new Promise<SlowReaderResult>((resolve) => {
  const t0 = performance.now();
  let bytes = 0;
  let status = 0;
  let tail = Buffer.alloc(0);
  let sawDone = false;
  const finish = (timedOut: boolean): void => {
    clearTimeout(guard);
    sock.destroy();
    const ms = performance.now() - t0;
    resolve({ status, bytes, ms: Math.round(ms), MiBps: Math.round(bytes / 1048.576 / ms), sawDone, timedOut, pausedMs: Math.round(pausedMs) });
  };
  const guard = setTimeout(() => finish(true), cfg.timeoutMs);
  const sock = net.connect(Number(url.port), url.hostname, () => {
    const head = [`POST ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, `content-length: ${Buffer.byteLength(cfg.body)}`, "connection: close"];
    for (const [k, v] of Object.entries(cfg.endpoint.headers)) head.push(`${k}: ${v}`);
    sock.write(`${head.join("\r\n")}\r\n\r\n${cfg.body}`);
  });
  let credit = BURST_BYTES;
  let creditAt = t0;
  let pausedMs = 0;
  sock.on("data", (d: Buffer) => {
    if (status === 0) status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(d.subarray(0, 32).toString("latin1"))?.[1] ?? -1);
    bytes += d.length;
    tail = Buffer.concat([tail, d.subarray(Math.max(0, d.length - 64))]).subarray(-96);
    if (!sawDone && tail.includes(DONE)) {
      sawDone = true;
      // Some servers keep the socket open briefly after the last chunk despite connection: close.
      setTimeout(() => finish(false), 500);
    }
    const now = performance.now();
    credit = Math.min(BURST_BYTES, credit + bytesPerMs * (now - creditAt)) - d.length;
    creditAt = now;
    if (credit < 0 && !sawDone) {
      const wait = -credit / bytesPerMs;
      pausedMs += wait;
      sock.pause();
      setTimeout(() => sock.resume(), wait);
    }
  });
  sock.on("end", () => finish(false));
  sock.on("error", () => finish(false));
});
console.log(JSON.stringify(result));
