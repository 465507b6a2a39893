// The floor for this runtime: a Bun server that forwards with fetch and returns the upstream body.
const upstream = process.env.UPSTREAM ?? "http://127.0.0.1:1";
const port = Number(process.env.PORT ?? 0);
// Bun's fetch uploads a streamed body noticeably slower than a buffered one; small bodies are buffered.
const BUFFER_BELOW = 1 << 20;

Bun.serve({
  hostname: "127.0.0.1",
  port,
  idleTimeout: 0,
  async fetch(req) {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("host");
    headers.delete("connection");
    const size = Number(req.headers.get("content-length") ?? Number.NaN);
    const body = size < BUFFER_BELOW ? await req.arrayBuffer() : req.body;
    const res = await fetch(upstream + url.pathname + url.search, { method: req.method, headers, body });
    return new Response(res.body, { status: res.status, headers: res.headers });
  },
});

export {}; // a module, so its top-level names stay private
