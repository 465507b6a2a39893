// Raw HTTP/1.1 over node:net for the hardening tests: bytes go out exactly as written, nothing is cleaned up.
import { connect, type Socket } from 'node:net';
import { waitFor } from './env.ts';

/** Keep at most this much of what a connection receives (a 1 GiB stream is counted, not kept). */
const KEEP_BYTES = 256 * 1024;

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  /** Body so far, de-chunked when chunked. */
  body: string;
  /** Whole message received: Content-Length reached or the last chunk seen. */
  complete: boolean;
}

export class RawConn {
  private kept: Buffer[] = [];
  private keptBytes = 0;
  /** Bytes received in total. */
  received = 0;
  /** The last bytes received, to see the end of a stream too long to keep. */
  tail = '';
  closed = false;
  error: string | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.received += d.byteLength;
      this.tail = (this.tail + d.toString('latin1', Math.max(0, d.byteLength - 16))).slice(-16);
      if (this.keptBytes < KEEP_BYTES) {
        this.kept.push(d);
        this.keptBytes += d.byteLength;
      }
    });
    socket.on('error', (e) => (this.error = e.message));
    socket.on('close', () => (this.closed = true));
  }

  static open(port: number, host = '127.0.0.1', timeoutMs = 5_000): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = connect(port, host);
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(new RawConn(s));
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  write(data: string | Uint8Array): void {
    if (!this.closed) this.socket.write(data);
  }

  /** Write, and wait until the kernel took it (so a test can count what the peer could have read). */
  writeDrained(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || this.socket.write(data)) return resolve();
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  text(): string {
    return Buffer.concat(this.kept).toString('latin1');
  }

  /** The first response on this connection, parsed as far as it has arrived; null before its head is complete. */
  response(): ParsedResponse | null {
    return parseResponse(this.text());
  }

  waitForResponse(timeoutMs = 10_000, complete = true): Promise<ParsedResponse> {
    return waitFor(() => {
      const r = this.response();
      return r && (!complete || r.complete) ? r : null;
    }, timeoutMs, 'a response');
  }

  waitForClose(timeoutMs = 10_000): Promise<boolean> {
    return waitFor(() => this.closed, timeoutMs, 'the connection to close');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function parseResponse(text: string): ParsedResponse | null {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i < 0) continue;
    const name = l.slice(0, i).trim().toLowerCase();
    const value = l.slice(i + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const rest = text.slice(end + 4);
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const { body, complete } = dechunk(rest);
    return { status, headers, body, complete };
  }
  const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : 0;
  return { status, headers, body: rest.slice(0, length), complete: rest.length >= length };
}

function dechunk(s: string): { body: string; complete: boolean } {
  let body = '';
  let at = 0;
  for (;;) {
    const nl = s.indexOf('\r\n', at);
    if (nl < 0) return { body, complete: false };
    const size = parseInt(s.slice(at, nl), 16);
    if (Number.isNaN(size)) return { body, complete: false };
    if (size === 0) return { body, complete: s.indexOf('\r\n', nl + 2) >= 0 };
    const start = nl + 2;
    if (s.length < start + size) return { body: body + s.slice(start), complete: false };
    body += s.slice(start, start + size);
    at = start + size + 2;
  }
}

/** One request on a fresh connection; resolves with the response once complete, or as it stands when the peer closes. */
export async function rawRequest(port: number, payload: string | Uint8Array, timeoutMs = 10_000): Promise<ParsedResponse & { closed: boolean; raw: string }> {
  const c = await RawConn.open(port);
  try {
    c.write(payload);
    await waitFor(() => c.response()?.complete || c.closed, timeoutMs, 'a complete response or a close');
    const r = c.response();
    if (!r) throw new Error(`connection closed without a response: ${JSON.stringify(c.text().slice(0, 200))}`);
    return { ...r, closed: c.closed, raw: c.text() };
  } finally {
    c.destroy();
  }
}

/** A request head for `bun`-parsed HTTP/1.1: the given lines, CRLF-joined, with the blank line. */
export const head = (requestLine: string, ...headers: string[]): string => `${[requestLine, ...headers].join('\r\n')}\r\n\r\n`;
