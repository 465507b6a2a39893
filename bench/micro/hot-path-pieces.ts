// Microbenchmark: the proxy's own per-request pieces one by one (key hash, header hygiene, body sniff, secret scan...).
// Run: bun bench/micro/hot-path-pieces.ts (in-process; prints microseconds per call, the median of 5 timed rounds).
import { timePerCall } from "./time-per-call.ts";
import { extractClientKey } from "../../src/keys/extract.ts";
import { hashKey } from "../../src/keys/format.ts";
import { providerBySlug } from "../../src/providers/index.ts";
import { inboundHeaders, outboundHeaders } from "../../src/proxy/headers.ts";
import { containsSecret } from "../../src/proxy/redact.ts";
import { prepareJsonBody } from "../../src/proxy/request-body.ts";
import { splitTarget } from "../../src/proxy/target.ts";
import { Journal } from "../../src/usage/journal.ts";
import { fixtureSnippet, OPENAI_CHAT } from "../../test/helpers/usage-snippets.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const openai = providerBySlug("openai");
if (!openai) throw new Error("no openai provider");
const key = `lr_live_${"a".repeat(43)}`;
const secrets = ["sk-bench-provider-key-0123456789", key];
// The bench's JSON request and the header lists it and the mock's answer carry.
const clientHeaders = new Headers({ host: "127.0.0.1:8080", "content-type": "application/json", authorization: `Bearer ${key}`, "content-length": "115", "user-agent": "wrk" });
const upstreamHeaders = new Headers({ "content-type": "application/json", "content-length": "2677", date: new Date().toUTCString(), "x-request-id": "req_123", "openai-processing-ms": "300", connection: "keep-alive" });
const body = new TextEncoder().encode(JSON.stringify({ model: "gpt-4.1-nano", messages: [{ role: "user", content: "Invent a new holiday and describe its traditions." }] }));
const answer = new Uint8Array(2677).fill(65);

// The crash journal at its default size, fed the bench answer's snippet; a batch delivered every 1,024 snippets.
const journalDir = mkdtempSync(join(tmpdir(), "hot-path-journal-"));
const journal = new Journal(journalDir, "micro", 8 * 1024 * 1024);
const snippet = fixtureSnippet(OPENAI_CHAT, { requestId: Bun.randomUUIDv7(), accountId: "acct_bench" });
let journaled = 0;

const pieces: Array<[string, () => unknown]> = [
  ["splitTarget", () => splitTarget("http://127.0.0.1:8080/openai/v1/chat/completions")],
  ["extractClientKey", () => extractClientKey(clientHeaders, null)],
  ["hashKey (SHA-256)", () => hashKey(key)],
  ["prepareJsonBody", () => prepareJsonBody(body, { maxBytes: 1 << 30, injectUsage: false })],
  ["outboundHeaders", () => outboundHeaders(clientHeaders, openai, "sk-bench", body.byteLength)],
  ["inboundHeaders", () => inboundHeaders(upstreamHeaders, "id", secrets)],
  ["containsSecret, 2.6 KB", () => containsSecret(answer, secrets)],
  ["Bun.randomUUIDv7", () => Bun.randomUUIDv7()],
  ["new AbortController", () => new AbortController()],
  ["setTimeout + clearTimeout", () => clearTimeout(setTimeout(() => {}, 100_000))],
  ["snippet JSON + Journal.append", () => {
    journal.append(JSON.stringify(snippet));
    if (++journaled % 1024 === 0) journal.ack(journal.cut());
  }],
];
console.log("piece                          µs per call");
for (const [name, f] of pieces) console.log(`${name.padEnd(30)} ${timePerCall(f, 200_000).toFixed(3).padStart(7)}`);
journal.remove();
rmSync(journalDir, { recursive: true, force: true });
