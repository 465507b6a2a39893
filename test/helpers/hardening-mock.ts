// A misbehaving provider over raw TCP, run as its own process: it writes HTTP/1.1 by hand so it can hang, stall
// mid-body, lie about lengths, or stream only as fast as its socket drains. Prints {"mock_port": N} when listening.
import type { Socket } from 'bun';

interface Conn {
  buf: Buffer;
  /** Bytes queued while the kernel buffer was full; written on drain. */
  pending: Buffer | null;
  onDrain: (() => void) | null;
  timer: ReturnType<typeof setTimeout> | null;
  closed: boolean;
  /** A /sink request whose body is being counted and dropped as it arrives: bytes left, or null when chunked. */
  sink: { target: string; left: number | null; tail: string; got: number } | null;
}

/** heads: request heads seen per path (a request that reached the provider at all); requests: answered per path. */
const stats = { produced: 0, sunk: 0, open: 0, heads: {} as Record<string, number>, requests: {} as Record<string, number> };
const FAST_CHUNK = Buffer.alloc(64 * 1024, 'a');

function write(s: Socket<Conn>, data: Buffer): boolean {
  const c = s.data;
  if (c.closed) return false;
  if (c.pending) {
    c.pending = Buffer.concat([c.pending, data]);
    return false;
  }
  const n = s.write(data);
  if (n < data.byteLength) {
    c.pending = data.subarray(Math.max(n, 0));
    return false;
  }
  return true;
}

const chunk = (body: string | Buffer) => {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([Buffer.from(`${b.byteLength.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
};
const SSE_HEAD = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n';
const event = (i: number) => `data: {"i":${i},"pad":"${'x'.repeat(40)}"}\n\n`;

function respond(s: Socket<Conn>, method: string, target: string, headerLines: readonly string[]): void {
  const u = new URL(target, 'http://mock');
  const q = (name: string, def: number) => Number(u.searchParams.get(name) ?? def);
  stats.requests[u.pathname] = (stats.requests[u.pathname] ?? 0) + 1;
  const c = s.data;
  switch (u.pathname) {
    case '/stats': {
      const body = JSON.stringify(stats);
      write(s, Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
      return;
    }
    case '/hang':
      // Headers never come: the first-byte timeout must cut this.
      return;
    case '/delay': {
      // Answers after `ms`: longer than the client idle timeout, to show a slow provider is not cut by it.
      c.timer = setTimeout(() => {
        const body = JSON.stringify({ ok: true, delayed_ms: q('ms', 0) });
        write(s, Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
      }, q('ms', 0));
      return;
    }
    case '/sink': {
      const body = JSON.stringify({ ok: true, got: c.sink?.got ?? 0 });
      write(s, Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
      return;
    }
    case '/silent-json':
      // Declares 1000 bytes, sends 11, then nothing: no byte reached the client yet, so the proxy can still answer 504.
      write(s, Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"partial":'));
      return;
    case '/reset':
      // The provider drops the connection before any response byte.
      s.terminate();
      return;
    case '/reset-mid':
      // One event, then the connection drops.
      write(s, Buffer.from(SSE_HEAD));
      write(s, chunk(event(0)));
      c.timer = setTimeout(() => s.terminate(), 50);
      return;
    case '/silent-sse':
      write(s, Buffer.from(SSE_HEAD));
      write(s, chunk(event(0)));
      return;
    case '/drip': {
      // `events` events `gapMs` apart (0 = forever), then the end of the stream.
      const events = q('events', 0);
      const gap = q('gapMs', 100);
      write(s, Buffer.from(SSE_HEAD));
      let i = 0;
      const tick = () => {
        if (c.closed) return;
        write(s, chunk(event(i++)));
        if (events > 0 && i >= events) write(s, Buffer.from('0\r\n\r\n'));
        else c.timer = setTimeout(tick, gap);
      };
      tick();
      return;
    }
    case '/fast': {
      // Streams `bytes` as fast as the socket drains and no faster, so `produced` tracks what the proxy has read.
      let left = q('bytes', 1 << 30);
      write(s, Buffer.from(SSE_HEAD));
      const pump = () => {
        while (left > 0 && !c.closed) {
          const n = Math.min(left, FAST_CHUNK.byteLength);
          left -= n;
          stats.produced += n;
          if (!write(s, chunk(n === FAST_CHUNK.byteLength ? FAST_CHUNK : FAST_CHUNK.subarray(0, n)))) {
            c.onDrain = pump;
            return;
          }
        }
        if (left === 0) write(s, Buffer.from('0\r\n\r\n'));
      };
      pump();
      return;
    }
    case '/framing/h2c': {
      // The names of the request's headers, so a test can see what arouter passed on.
      const body = JSON.stringify({ ok: true, headers: headerLines.map((h) => h.slice(0, h.indexOf(':')).toLowerCase()) });
      write(s, Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
      return;
    }
    default: {
      const body = JSON.stringify({ ok: true, method, path: u.pathname });
      write(s, Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
    }
  }
}

/** Counts and drops a /sink body as it arrives (no buffering), answering once it ends. */
function sinkData(s: Socket<Conn>, d: Buffer): void {
  const c = s.data;
  const k = c.sink;
  if (!k) return;
  stats.sunk += d.byteLength;
  k.got += d.byteLength;
  let ended: boolean;
  if (k.left !== null) {
    k.left -= d.byteLength;
    ended = k.left <= 0;
  } else {
    const probe = k.tail + d.toString('latin1', Math.max(0, d.byteLength - 8));
    ended = probe.endsWith('\r\n0\r\n\r\n') || probe === '0\r\n\r\n';
    k.tail = probe.slice(-8);
  }
  if (ended) {
    respond(s, 'POST', k.target, []);
    c.sink = null;
  }
}

/** Parses whole requests off the buffer (Content-Length or chunked bodies) and answers each. */
function consume(s: Socket<Conn>): void {
  const c = s.data;
  for (;;) {
    const end = c.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = c.buf.subarray(0, end).toString('latin1');
    const [requestLine = '', ...headerLines] = head.split('\r\n');
    const [method = 'GET', target = '/'] = requestLine.split(' ');
    const path = new URL(target, 'http://mock').pathname;
    stats.heads[path] = (stats.heads[path] ?? 0) + 1;
    const cl = headerLines.find((h) => /^content-length:/i.test(h));
    if (path === '/sink') {
      const rest = c.buf.subarray(end + 4);
      c.buf = Buffer.alloc(0);
      c.sink = { target, left: cl ? Number(cl.split(':')[1]) : null, tail: '', got: 0 };
      sinkData(s, rest);
      return;
    }
    let bodyEnd = end + 4;
    if (cl) bodyEnd += Number(cl.split(':')[1]);
    else if (headerLines.some((h) => /^transfer-encoding:\s*chunked/i.test(h))) {
      const last = c.buf.indexOf('0\r\n\r\n', end + 4);
      if (last < 0) return;
      bodyEnd = last + 5;
    }
    if (c.buf.byteLength < bodyEnd) return;
    c.buf = c.buf.subarray(bodyEnd);
    respond(s, method, target, headerLines);
  }
}

const server = Bun.listen<Conn>({
  hostname: '127.0.0.1',
  port: 0,
  socket: {
    open(s) {
      stats.open++;
      s.data = { buf: Buffer.alloc(0), pending: null, onDrain: null, timer: null, closed: false, sink: null };
    },
    data(s, d) {
      if (s.data.sink) return sinkData(s, d);
      s.data.buf = Buffer.concat([s.data.buf, d]);
      consume(s);
    },
    drain(s) {
      const c = s.data;
      if (c.pending) {
        const p = c.pending;
        c.pending = null;
        if (!write(s, p)) return;
      }
      const next = c.onDrain;
      c.onDrain = null;
      next?.();
    },
    close(s) {
      stats.open--;
      s.data.closed = true;
      if (s.data.timer) clearTimeout(s.data.timer);
    },
    error() {},
  },
});
process.stdout.write(`${JSON.stringify({ mock_port: server.port })}\n`);
