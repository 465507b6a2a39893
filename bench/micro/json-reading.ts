// Microbenchmark: reading a few top-level JSON members by skipping the rest, against JSON.parse of the whole text.
// Run: bun bench/micro/json-reading.ts (in-process, both ways interleaved; prints the median of 5 timed rounds).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES_DIR } from "../mock/fixtures.ts";
import { timePerCall } from "./time-per-call.ts";
import { captureWholeBody } from "../../src/usage/capture.ts";
import { formatById } from "../../src/usage/formats/index.ts";
import { createMemberReader } from "../../src/usage/json-top-level.ts";

const text = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8");

// 1. Request bodies: the proxy needs model, stream and stream_options of a chat request of growing length.
const readSniffed = createMemberReader(["model", "stream", "stream_options"]);
const turn = (i: number) => ({ role: i % 2 ? "assistant" : "user", content: 'Lorem ipsum "quoted" {braces} \\ é 漢字, '.repeat(12) });
console.log("request body            JSON.parse    top-level read");
for (const turns of [1, 4, 20, 200]) {
  const body = new TextEncoder().encode(JSON.stringify({ model: "gpt-4.1", messages: Array.from({ length: turns }, (_, i) => turn(i)), stream: true }));
  const n = Math.max(200, Math.floor(4_000_000 / body.length));
  const parse = timePerCall(() => (JSON.parse(text(body)) as { model: string }).model, n);
  const read = timePerCall(() => readSniffed(body)?.get("model"), n);
  console.log(`${(body.length / 1024).toFixed(1).padStart(7)} KiB         ${parse.toFixed(2).padStart(7)} µs    ${read.toFixed(2).padStart(7)} µs`);
}

// 2. Whole answers: usage fields as raw text, against parsing the answer and re-encoding each wanted field.
console.log("\nanswer (fixture)                         parse + re-encode    captureWholeBody");
for (const [file, formatId] of [["openai/chat-nonstream.json", "openai-chat"], ["openai/responses-nonstream.json", "openai-responses"], ["anthropic/messages-nonstream.json", "anthropic-messages"]] as const) {
  const body = new Uint8Array(readFileSync(join(FIXTURES_DIR, file)));
  const format = formatById(formatId);
  if (!format) throw new Error(`no format ${formatId}`);
  const reencode = () => {
    const parsed = JSON.parse(text(body)) as Record<string, unknown>;
    const fields: Record<string, string> = {};
    for (const k of format.jsonKeys) if (parsed[k] !== undefined) fields[k] = JSON.stringify(parsed[k]);
    return fields;
  };
  const old = timePerCall(reencode, 20_000);
  const now = timePerCall(() => captureWholeBody(format, "application/json", body), 20_000);
  console.log(`${file.padEnd(36)} ${String(body.length).padStart(5)} B ${old.toFixed(2).padStart(9)} µs ${now.toFixed(2).padStart(14)} µs`);
}
