// Mock OpenAI upstream in its own process: replays the recorded JSON body and SSE stream.
import { chatJson, sseBlock, sseEvents, sseParts, type SseParts } from "./fixtures.ts";

const port = Number(process.argv[2] ?? 0);
const json = chatJson();
const parts: SseParts = sseParts();
const block = sseBlock(64 * 1024, parts);

// The stream shape rides in the model name because the body is the one thing every proxy forwards untouched.
// An optional "#tag" names the stream: its events' send times are kept for GET /emitted?tag= (the relay delay).
const SSE_HINT = /"model"\s*:\s*"bench-sse-(\d+)x(\d+)(?:#([\w.-]{1,64}))?"/;
const BYTES_HINT = /"model"\s*:\s*"bench-bytes-(\d+)"/;
const STREAM = /"stream"\s*:\s*true/;

const sseHeaders = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };

/** Send times (ms since the epoch, sub-ms, a clock every local process shares) of tagged streams' events. */
const emitted = new Map<string, number[]>();
const EMITTED_MAX = 10_000;
const wallNow = (): number => performance.timeOrigin + performance.now();

function record(tag: string): number[] {
  // Bounded: a client that never collects its tags cannot grow the mock without limit.
  if (emitted.size >= EMITTED_MAX) emitted.delete(emitted.keys().next().value as string);
  const times: number[] = [];
  emitted.set(tag, times);
  return times;
}

/** Event i leaves at t0 + i*cadence on an absolute schedule, so timer drift does not accumulate. */
function paced(events: Uint8Array[], cadenceMs: number, sent: number[] | null): ReadableStream<Uint8Array> {
  const t0 = performance.now();
  let i = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream<Uint8Array>({
    start(c) {
      const tick = (): void => {
        sent?.push(wallNow());
        c.enqueue(events[i++] as Uint8Array);
        if (i >= events.length) return c.close();
        timer = setTimeout(tick, Math.max(0, t0 + i * cadenceMs - performance.now()));
      };
      tick();
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

/** Pull-driven, so the server asks for the next block only when the socket drains: a slow reader stalls us. */
function bulk(totalBytes: number): ReadableStream<Uint8Array> {
  let sent = 0;
  let tail = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (sent < totalBytes) {
          c.enqueue(block);
          sent += block.length;
        } else if (tail < parts.tail.length) {
          c.enqueue(parts.tail[tail++] as Uint8Array);
        } else c.close();
      },
    },
    { highWaterMark: 0 },
  );
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  idleTimeout: 0,
  async fetch(req) {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/health") return new Response("ok");
    if (path === "/emitted") {
      const tag = url.searchParams.get("tag") ?? "";
      const times = emitted.get(tag);
      emitted.delete(tag);
      return times ? Response.json(times) : Response.json({ error: "unknown tag" }, { status: 404 });
    }
    if (req.method !== "POST" || !path.endsWith("/chat/completions")) {
      return Response.json({ error: { message: "mock: unknown route", type: "invalid_request_error" } }, { status: 404 });
    }
    const body = await req.text();
    if (!STREAM.test(body)) return new Response(json, { headers: { "content-type": "application/json" } });
    const bytes = BYTES_HINT.exec(body);
    if (bytes) return new Response(bulk(Number(bytes[1]) * 1024 * 1024), { headers: sseHeaders });
    const sse = SSE_HINT.exec(body);
    const events = sseEvents(sse ? Number(sse[1]) : parts.content.length + parts.tail.length, parts);
    return new Response(paced(events, sse ? Number(sse[2]) : 0, sse?.[3] ? record(sse[3]) : null), { headers: sseHeaders });
  },
});

console.log(`mock upstream on 127.0.0.1:${server.port}`);
