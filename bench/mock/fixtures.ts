// Turns the recorded OpenAI fixtures into the exact bytes a provider sends: JSON body and SSE events.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const FIXTURES_DIR = process.env.AROUTER_FIXTURES_DIR ?? join(import.meta.dir, "../../../shared/fixtures");

const enc = new TextEncoder();

export function chatJson(dir = FIXTURES_DIR): Uint8Array {
  return new Uint8Array(readFileSync(join(dir, "openai/chat-nonstream.json")));
}

/** One `data:` payload per line, as recorded (see fixtures/SOURCES.md). */
function chunkLines(dir: string): string[] {
  return readFileSync(join(dir, "openai/chat-stream-include-usage.chunks.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.length > 0);
}

export interface SseParts {
  /** Content chunks, in recorded order. */
  content: Uint8Array[];
  /** The finish_reason chunk, the usage-only chunk and the [DONE] terminator: every real stream ends so. */
  tail: Uint8Array[];
}

export function sseParts(dir = FIXTURES_DIR): SseParts {
  const lines = chunkLines(dir);
  const frame = (payload: string): Uint8Array => enc.encode(`data: ${payload}\n\n`);
  return {
    content: lines.slice(0, -2).map(frame),
    tail: [...lines.slice(-2).map(frame), frame("[DONE]")],
  };
}

/**
 * A stream of exactly `n` SSE events: the first n-3 recorded chunks, then the real ending. Shorter
 * than the recording on purpose, so every stream has the same known count; the framing and the
 * usage chunk that a proxy must pick out stay byte-for-byte real.
 */
export function sseEvents(n: number, parts: SseParts): Uint8Array[] {
  const body = Math.max(0, n - parts.tail.length);
  const out: Uint8Array[] = [];
  for (let i = 0; i < body; i++) out.push(parts.content[i % parts.content.length] as Uint8Array);
  return [...out, ...parts.tail];
}

/** About `bytes` of whole recorded events, for streaming very large bodies in big writes. */
export function sseBlock(bytes: number, parts: SseParts): Uint8Array {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const c = parts.content[i % parts.content.length] as Uint8Array;
    chunks.push(c);
    size += c.length;
  }
  const block = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    block.set(c, off);
    off += c.length;
  }
  return block;
}

/** A normal chat request; `model` carries the bench's stream shape to the mock through every proxy. */
export function chatRequest(model: string, stream: boolean): string {
  const body: Record<string, unknown> = {
    model,
    messages: [{ role: "user", content: "Invent a new holiday and describe its traditions." }],
  };
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return JSON.stringify(body);
}

export const MODEL_JSON = "gpt-4.1-nano";
export const modelSse = (events: number, cadenceMs: number): string => `bench-sse-${events}x${cadenceMs}`;
export const modelBytes = (mib: number): string => `bench-bytes-${mib}`;
