// bare-bun with arouter's per-request pieces added one rung at a time (STEP=0..6): where the proxy's CPU goes.
import { createLogger } from "../../src/log.ts";

const upstream = process.env.UPSTREAM ?? "http://127.0.0.1:1";
const STEP = Number(process.env.STEP ?? 0);
const DROP = new Set(["connection", "keep-alive", "host", "transfer-encoding", "content-length"]);
const BATCH = 1024;

// Rung 4: the modules the proxy process holds (their code is live heap every collection has to mark).
if (STEP >= 4) await Promise.all(["elysia", "bullmq", "ioredis", "@clickhouse/client"].map((m) => import(m)));
const log = createLogger("info");
let batch: object[] = [];

/** Rungs 5 and 6, off the request path as arouter does it: the access line, then the snippet's batch encoding. */
function record(method: string, status: number, requestId: string, startedAt: number): void {
  const latencyMs = Date.now() - startedAt;
  log("info", "request", { request_id: requestId, account_id: "acct", key_id: "key_0123456789abcdef", provider: "openai", method, path: "/v1/chat/completions", status, outcome: "complete", stream: false, latency_ms: latencyMs, bytes_in: 115, bytes_out: 2677 });
  if (STEP < 6) return;
  // The same shape and size as a real snippet of the bench's JSON answer (its usage object kept as raw text).
  batch.push({ v: 1, requestId, ts: startedAt, accountId: "acct", keyId: "key_0123456789abcdef", provider: "openai", format: "openai-chat", requestModel: "gpt-4.1-nano", method, path: "/v1/chat/completions", status, stream: false, outcome: "complete", latencyMs, bytesIn: 115, bytesOut: 2677, capture: { kind: "json", fields: { model: '"gpt-4.1-nano-2025-04-14"', usage: '{\n    "prompt_tokens": 16,\n    "completion_tokens": 363,\n    "total_tokens": 379,\n    "prompt_tokens_details": {\n      "cached_tokens": 0,\n      "audio_tokens": 0\n    },\n    "completion_tokens_details": {\n      "reasoning_tokens": 0,\n      "audio_tokens": 0,\n      "accepted_prediction_tokens": 0,\n      "rejected_prediction_tokens": 0\n    }\n  }' } } });
  if (batch.length < BATCH) return;
  const packed = Bun.zstdCompressSync(JSON.stringify(batch), { level: 1 });
  batch = [];
  Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength).toString("base64");
}

const noop = () => {};

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  idleTimeout: 30,
  development: false,
  async fetch(req) {
    const startedAt = Date.now();
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("host");
    headers.delete("connection");
    const body = await req.arrayBuffer();
    // Rung 2: cancellation and timeouts as arouter arms them around every exchange.
    const controller = STEP >= 2 ? new AbortController() : null;
    const onAbort = { handleEvent: () => controller?.abort() };
    if (controller) req.signal.addEventListener("abort", onAbort, { once: true });
    const firstByte = STEP >= 2 ? setTimeout(noop, 600_000) : undefined;
    if (STEP >= 3) server.timeout(req, 0);
    const init = controller ? { method: req.method, headers, body, signal: controller.signal, redirect: "manual", decompress: true } : { method: req.method, headers, body };
    const res = await fetch(upstream + url.pathname + url.search, init as RequestInit);
    clearTimeout(firstByte);
    if (STEP === 0) return new Response(res.body, { status: res.status, headers: res.headers });
    // Rung 1: the answer read whole and sent with a fresh header list and a request id.
    const out = new Headers();
    res.headers.forEach((value, name) => {
      if (!DROP.has(name)) out.set(name, value);
    });
    const requestId = Bun.randomUUIDv7();
    out.set("x-arouter-request-id", requestId);
    const idle = STEP >= 2 ? setTimeout(noop, 300_000) : undefined;
    const answer = new Uint8Array(await res.arrayBuffer());
    clearTimeout(idle);
    if (controller) req.signal.removeEventListener("abort", onAbort);
    if (STEP >= 3) server.timeout(req, 30);
    if (STEP >= 5) setImmediate(record, req.method, res.status, requestId, startedAt);
    else if (STEP >= 2) setImmediate(noop);
    return new Response(answer, { status: res.status, headers: out });
  },
});
console.log(JSON.stringify({ port: server.port, step: STEP }));
