// Prepares the request body for the upstream: size limits, the model it names, and include_usage injection.
import { ArouterError, badRequest, bodyChunksTooSmall, bodyTooLarge } from '../errors.ts';
import { equalsAt, splice } from '../usage/bytes.ts';
import { bomLength, CLOSE_OBJECT, isJsonSpace, OPEN_OBJECT, parseJsonOrUndefined, QUOTE } from '../usage/json-bytes.ts';
import { createMemberLocator, createMemberReader } from '../usage/json-top-level.ts';

/**
 * A checked body is read whole and parsed, which a streamed one is not: its own, smaller limit keeps one restricted
 * key from holding a pod's event loop and memory for seconds (Anthropic's and OpenAI's own request limits are 32 and
 * 50 MB, files by id included).
 */
export const CHECKED_BODY_MAX_BYTES = 32 * 1024 * 1024;

/**
 * JSON bodies up to this size are read whole: the upstream needs them whole anyway, and only a whole body gives the
 * model (Cohere's and Dashscope's native answers name none) and lets include_usage be added to a stream. A chat with a
 * few images inlined as base64 is easily several MiB. Larger bodies stream through unread.
 */
const WHOLE_JSON_MAX_BYTES = CHECKED_BODY_MAX_BYTES;

export interface PreparedBody {
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  /** Length sent upstream when known (else the body is streamed chunked). */
  length: number | null;
  /** Bytes received from the client so far (final for buffered bodies). */
  bytesIn: () => number;
  model: string;
  /** Body said `"stream": true`. */
  stream: boolean;
  /** arouter added stream_options.include_usage, so the usage-only chunk must not reach the client. */
  injectedUsage: boolean;
}

/** Nothing to send: a request without a body, or a GET or HEAD whose body is dropped. */
export const NO_BODY: PreparedBody = { body: null, length: null, bytesIn: () => 0, model: '', stream: false, injectedUsage: false };

/** A body a caller read whole (to check it) forwarded as read: nothing at all when it is empty. */
export function preparedAsRead(body: Uint8Array, policy: BodyPolicy): PreparedBody {
  return body.byteLength === 0 ? NO_BODY : prepareJsonBody(body, policy);
}

export interface BodyPolicy {
  maxBytes: number;
  /** Whether include_usage should be injected for this path when the body streams without it. */
  injectUsage: boolean;
  /** Called once the whole body has arrived from the client (at once when there is none). */
  onReceived?(): void;
  /**
   * A streamed body's turns: true while arouter waits for the client's next bytes, false once a chunk is handed to
   * the provider's connection (which may then hold it back: the wait is the provider's, not the client's).
   */
  onClientWait?(waiting: boolean): void;
  /** Bytes of a chunked JSON body read so far, as they arrive: what the row counts if reading it then fails. */
  onBytesRead?(total: number): void;
}

const enc = new TextEncoder();
const INCLUDE_USAGE = enc.encode('"stream_options":{"include_usage":true},');

export async function prepareBody(req: Request, policy: BodyPolicy): Promise<PreparedBody> {
  const received = policy.onReceived ?? (() => {});
  if (req.method === 'GET' || req.method === 'HEAD' || !req.body) {
    received();
    return { body: null, length: null, bytesIn: () => 0, model: '', stream: false, injectedUsage: false };
  }
  const declared = parseLength(req.headers.get('content-length'));
  if (declared !== null && declared > policy.maxBytes) throw bodyTooLarge(policy.maxBytes);
  // Media types are case-insensitive (RFC 9110 8.3.1): Application/JSON is JSON too.
  const ct = (req.headers.get('content-type') ?? '').toLowerCase();
  if (declared !== null && declared <= WHOLE_JSON_MAX_BYTES && ct.includes('json')) {
    const buf = new Uint8Array(await req.arrayBuffer());
    received();
    return prepareJsonBody(buf, policy);
  }
  if (declared === null && ct.includes('json')) {
    // Chunked JSON: read a bounded prefix; a body that ends within it is as good as a declared small one.
    // The prefix stops at the limit, so a chunked body over it is refused before any provider is contacted.
    const reader = req.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    const head = await readUpTo(reader, Math.min(WHOLE_JSON_MAX_BYTES, policy.maxBytes), policy.onBytesRead);
    if (head.bytes.byteLength > policy.maxBytes) {
      await reader.cancel().catch(() => {});
      throw bodyTooLarge(policy.maxBytes);
    }
    if (head.done) {
      received();
      return prepareJsonBody(head.bytes, policy);
    }
    return streamed(reader, head.bytes, declared, policy.maxBytes, received, policy.onClientWait);
  }
  return streamed(req.body.getReader() as ReadableStreamDefaultReader<Uint8Array>, null, declared, policy.maxBytes, received, policy.onClientWait);
}

/** The whole body, refused with a 413 as soon as it is over maxBytes (declared or counted): never buffered past it. */
export async function readWholeBody(req: Request, maxBytes: number, tooLarge: () => ArouterError = () => bodyTooLarge(maxBytes)): Promise<Uint8Array> {
  const declared = parseLength(req.headers.get('content-length'));
  if (declared !== null && declared > maxBytes) throw tooLarge();
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  let read: { bytes: Uint8Array; done: boolean };
  try {
    read = await readUpTo(reader, maxBytes);
  } catch (err) {
    if (err instanceof ArouterError) throw err;
    // The client went away or its connection failed mid-body: nothing was forwarded.
    if (req.signal?.aborted) throw new ArouterError(499, 'client_closed_request', 'The client closed the request while sending its body.');
    throw badRequest('Could not read the request body.');
  }
  if (read.bytes.byteLength > maxBytes) {
    await reader.cancel().catch(() => {});
    throw tooLarge();
  }
  return read.bytes;
}

/**
 * A body arouter reads whole to look into it (to pick the provider, to check the objects it names): bounded by
 * CHECKED_BODY_MAX_BYTES as well as by the request limit, with the caller's own 413 when the first is the lower.
 */
export function readWholeChecked(req: Request, maxBodyBytes: number, overChecked: (limit: number) => ArouterError): Promise<Uint8Array> {
  const limit = Math.min(maxBodyBytes, CHECKED_BODY_MAX_BYTES);
  return readWholeBody(req, limit, limit < maxBodyBytes ? () => overChecked(limit) : undefined);
}

/**
 * A body sent in chunks this small on average, once this many have arrived, is refused: each chunk is a read and a
 * turn of the event loop, so 8 MiB sent a byte per chunk held the loop for seconds. The bounds leave room for a
 * client that streams its JSON in small writes (a 4 MiB body in 32-byte chunks passes) and cap what one request can
 * cost at about a quarter of a second.
 */
const TINY_CHUNK_READS = 131_072;
const TINY_CHUNK_BYTES = 32;

/** Up to `limit` bytes (one chunk more tells that there are more), copied into one growing buffer. */
async function readUpTo(reader: ReadableStreamDefaultReader<Uint8Array>, limit: number, onBytes?: (total: number) => void): Promise<{ bytes: Uint8Array; done: boolean }> {
  // One buffer, not a list of the chunks: a view per chunk costs about a hundred bytes, a hundredfold for tiny ones.
  let buf = new Uint8Array(16 * 1024);
  let n = 0;
  let reads = 0;
  while (n <= limit) {
    const { done, value } = await reader.read();
    if (done) return { bytes: buf.subarray(0, n), done: true };
    if (n + value.byteLength > buf.length) {
      const grown = new Uint8Array(Math.max(buf.length * 2, n + value.byteLength));
      grown.set(buf.subarray(0, n));
      buf = grown;
    }
    buf.set(value, n);
    n += value.byteLength;
    onBytes?.(n);
    if (++reads >= TINY_CHUNK_READS && n < reads * TINY_CHUNK_BYTES) {
      await reader.cancel().catch(() => {});
      throw bodyChunksTooSmall(TINY_CHUNK_BYTES, TINY_CHUNK_READS);
    }
  }
  return { bytes: buf.subarray(0, n), done: false };
}

function parseLength(v: string | null): number | null {
  if (v === null) return null;
  // Repeated identical Content-Length values arrive joined as "n, n"; RFC 9112 6.3 lets a recipient use the one
  // value (Bun itself answers 400 to differing ones).
  const parts = v.split(',').map((p) => p.trim());
  if (!parts.every((p) => /^\d+$/.test(p) && p === parts[0])) return null;
  const n = Number(parts[0]);
  return Number.isSafeInteger(n) ? n : null;
}

/** The members the proxy reads; the rest of the body (the prompt, often most of it) is skipped unparsed. */
const readSniffed = createMemberReader(['model', 'stream', 'stream_options']);

/** A JSON body already in memory: its model and stream flag read, include_usage added when the policy asks. */
export function prepareJsonBody(buf: Uint8Array, policy: BodyPolicy): PreparedBody {
  // Null when the body is not a JSON object after all: it is forwarded untouched and the provider answers. A byte
  // order mark is read past and kept as sent, as the unified endpoint reads the model.
  const skip = bomLength(buf);
  const members = readSniffed(skip ? buf.subarray(skip) : buf);
  const model = stringValue(members?.get('model'));
  const stream = members?.get('stream') === 'true';
  let body = buf;
  let injectedUsage = false;
  if (policy.injectUsage && stream) {
    const options = members?.get('stream_options');
    if (options === undefined) {
      body = withIncludeUsage(buf);
      injectedUsage = true;
    } else if (!hasIncludeUsage(parseJsonOrUndefined(options))) {
      const merged = mergeIncludeUsage(buf, skip);
      if (merged) {
        body = merged;
        injectedUsage = true;
      }
    }
  }
  return { body, length: body.byteLength, bytesIn: () => buf.byteLength, model, stream, injectedUsage };
}

function stringValue(raw: string | undefined): string {
  if (raw === undefined || raw.charCodeAt(0) !== QUOTE) return '';
  const v = parseJsonOrUndefined(raw);
  return typeof v === 'string' ? v : '';
}

function hasIncludeUsage(opts: unknown): boolean {
  return !!opts && typeof opts === 'object' && (opts as { include_usage?: unknown }).include_usage === true;
}

/** Adds include_usage without re-encoding the client's JSON: the body has no stream_options at all. */
function withIncludeUsage(buf: Uint8Array): Uint8Array {
  const brace = buf.indexOf(OPEN_OBJECT);
  return splice(buf, brace + 1, brace + 1, INCLUDE_USAGE);
}

const locateStreamOptions = createMemberLocator(['stream_options']);
const locateIncludeUsage = createMemberLocator(['include_usage']);
const TRUE = enc.encode('true');
const NULL = enc.encode('null');
const INCLUDE_USAGE_MEMBER = enc.encode('"include_usage":true');
const NEXT_INCLUDE_USAGE_MEMBER = enc.encode(',"include_usage":true');
const OPTIONS_WITH_USAGE = enc.encode('{"include_usage":true}');

/**
 * Rare: the client sent stream_options without include_usage true. An include_usage it set to something else gets
 * `true` in its place; otherwise the member is added last inside the client's own object; a null stream_options
 * becomes one. Every other byte stays as sent (a re-encode would reformat numbers and round integers past 2^53), and
 * a stream_options that is not an object is left for the provider to refuse.
 */
function mergeIncludeUsage(buf: Uint8Array, skip: number): Uint8Array | null {
  const at = locateStreamOptions(buf.subarray(skip))?.get('stream_options');
  if (!at) return null;
  const [start, end] = [skip + at[0], skip + at[1]];
  if (buf[start] !== OPEN_OBJECT) return end - start === NULL.length && equalsAt(buf, start, NULL) ? splice(buf, start, end, OPTIONS_WITH_USAGE) : null;
  const existing = locateIncludeUsage(buf.subarray(start, end))?.get('include_usage');
  if (existing) return splice(buf, start + existing[0], start + existing[1], TRUE);
  let inner = start + 1;
  while (isJsonSpace(buf[inner])) inner++;
  const empty = buf[inner] === CLOSE_OBJECT;
  const close = end - 1; // the object's closing brace
  return splice(buf, close, close, empty ? INCLUDE_USAGE_MEMBER : NEXT_INCLUDE_USAGE_MEMBER);
}

/** Streams the body through, counting bytes and failing the stream once it passes the limit (RFC 9110 15.5.14). */
function streamed(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  head: Uint8Array | null,
  declared: number | null,
  maxBytes: number,
  received: () => void,
  clientWait: (waiting: boolean) => void = () => {},
): PreparedBody {
  let seen = 0;
  let pending = head;
  const limited = new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        let value: Uint8Array;
        if (pending) {
          value = pending;
          pending = null;
        } else {
          clientWait(true);
          const r = await reader.read();
          if (r.done) {
            received();
            return ctrl.close();
          }
          value = r.value;
        }
        clientWait(false);
        seen += value.byteLength;
        if (seen > maxBytes) {
          const err = bodyTooLarge(maxBytes);
          await reader.cancel(err).catch(() => {});
          return ctrl.error(err);
        }
        ctrl.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { body: limited, length: declared, bytesIn: () => seen, model: '', stream: false, injectedUsage: false };
}
