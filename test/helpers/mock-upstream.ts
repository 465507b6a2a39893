// A local stand-in for a provider: replays fixture bytes and records exactly what it received.
export interface Received {
  method: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

export type MockReply =
  | { status?: number; headers?: Record<string, string>; body: string | Uint8Array; gzip?: boolean }
  | { status?: number; headers?: Record<string, string>; events: string[]; gapMs?: number; gzip?: boolean }
  | { raw: (req: Request) => Response | Promise<Response> };

export interface MockUpstream {
  url: string;
  port: number;
  received: Received[];
  /** Set the reply for a path (exact, without query) or '*' for any. */
  on(path: string, reply: MockReply | ((req: Request) => MockReply)): void;
  stop(): void;
}

const enc = new TextEncoder();

export async function startMockUpstream(): Promise<MockUpstream> {
  const routes = new Map<string, MockReply | ((req: Request) => MockReply)>();
  const received: Received[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    async fetch(req) {
      const u = new URL(req.url);
      const body = new Uint8Array(await req.arrayBuffer());
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => (headers[k] = v));
      received.push({ method: req.method, path: u.pathname, search: u.search, headers, body });
      const route = routes.get(u.pathname) ?? routes.get('*');
      if (!route) return new Response('{"error":"no mock route"}', { status: 599 });
      const reply = typeof route === 'function' ? route(req) : route;
      if ('raw' in reply) return reply.raw(req);
      const h = new Headers(reply.headers);
      if ('events' in reply) {
        if (!h.has('content-type')) h.set('content-type', 'text/event-stream');
        const events = reply.events;
        const gap = reply.gapMs ?? 0;
        let stream: ReadableStream<Uint8Array> = new ReadableStream<Uint8Array>({
          async start(ctrl) {
            for (const e of events) {
              ctrl.enqueue(enc.encode(e));
              if (gap) await Bun.sleep(gap);
            }
            ctrl.close();
          },
        });
        if (reply.gzip) {
          h.set('content-encoding', 'gzip');
          stream = stream.pipeThrough(new CompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>);
        }
        return new Response(stream, { status: reply.status ?? 200, headers: h });
      }
      let bytes = typeof reply.body === 'string' ? enc.encode(reply.body) : reply.body;
      if (!h.has('content-type')) h.set('content-type', 'application/json');
      if (reply.gzip) {
        bytes = Bun.gzipSync(bytes as Uint8Array<ArrayBuffer>);
        h.set('content-encoding', 'gzip');
      }
      return new Response(bytes as Uint8Array<ArrayBuffer>, { status: reply.status ?? 200, headers: h });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port ?? 0,
    received,
    on: (path, reply) => void routes.set(path, reply),
    stop: () => server.stop(true),
  };
}
