import { createUsageProducer } from "./src/usage/producer.ts";
import type { UsageSnippet } from "./src/usage/snippet.ts";
const p = createUsageProducer({ redisUrl: "redis://127.0.0.1:26379", queueName: "mb7", outboxDir: "/tmp/live/outbox-mb7", logger: () => {} });
await Bun.sleep(500);
const snip = (i: number): UsageSnippet => ({ v: 1, requestId: `0191-aaaa-bbbb-${i}`, ts: Date.now(), accountId: "bench", keyId: "k_123", provider: "openai", format: "openai-chat", requestModel: "gpt-4.1-nano", method: "POST", path: "/v1/chat/completions", status: 200, stream: false, outcome: "complete", latencyMs: 3, ttfbMs: 2, bytesIn: 120, bytesOut: 2677, capture: { kind: "json", fields: { usage: '{"prompt_tokens":16,"completion_tokens":363,"total_tokens":379,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}', model: '"gpt-4.1-nano-2025-04-14"' } } });
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system); };
const N = 100000; const rate = 8000; // pushes per second, in 1 ms ticks
const c0 = cpu(); const t0 = performance.now();
let i = 0;
while (i < N) { const due = Math.min(N, Math.floor(((performance.now() - t0) * rate) / 1000)); while (i < due) p.push(snip(i++)); await Bun.sleep(1); }
await p.flush();
const c1 = cpu();
// Baseline: same loop without pushing (snippet creation + timers).
const c2 = cpu(); const t2 = performance.now(); i = 0;
while (i < N) { const due = Math.min(N, Math.floor(((performance.now() - t2) * rate) / 1000)); while (i < due) snip(i++); await Bun.sleep(1); }
const c3 = cpu();
console.log("producer µs/snippet", ((c1 - c0) / N).toFixed(2), "baseline loop µs/snippet", ((c3 - c2) / N).toFixed(2));
await p.close();
process.exit(0);
