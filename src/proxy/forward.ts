// Forwards one request to its provider and relays the answer; every exit path hands one snippet to the usage sink.
import { ArouterError, errorResponse, providerInvalidStatus, providerNotConfigured, providerTimeout, providerUnreachable, providerUnreadableEncoding, providerUnreadableHead } from '../errors.ts';
import type { Principal } from '../keys/auth.ts';
import type { Logger } from '../log.ts';
import { envName } from '../providers/index.ts';
import type { FormatChoice, ProviderSpec } from '../providers/types.ts';
import { concat } from '../usage/bytes.ts';
import { captureWholeBody, createCapture } from '../usage/capture.ts';
import { formatById } from '../usage/formats/index.ts';
import type { UsageFormat } from '../usage/formats/types.ts';
import { createSseEventFilter, isUsageOnlyChunk, withoutNullUsage } from '../usage/sse-filter.ts';
import type { Capture, Outcome, UsageSnippet } from '../usage/snippet.ts';
import { type ConnectProbe } from './connect-probe.ts';
import { bodyDecoded, inboundHeaders, outboundHeaders, rewriteProviderUrls } from './headers.ts';
import { containsAny, containsSecret, createRedactor, type Replacement } from './redact.ts';
import { relayBody } from './relay.ts';
import { prepareBody, type PreparedBody } from './request-body.ts';
import { grantable, type UploadGrants, withGrant } from '../keys/upload-grants.ts';

export interface UsageSink {
  push(s: UsageSnippet): void;
}

export interface ProxyObserver {
  finished(s: UsageSnippet): void;
  streamOpened(provider: string): void;
  streamClosed(provider: string): void;
}

/**
 * The server's idle timeout on the client's connection. It stays on while the request body arrives (a client that
 * trickles its body is cut there), is lifted while arouter waits on the provider (a model may think for minutes;
 * arouter's own upstream timeouts cover that), and is restored when the exchange ends so an idle keep-alive
 * connection, or the next request's headers, are bounded again.
 */
export interface ClientTimeout {
  lift(req: Request): void;
  restore(req: Request): void;
}

export interface ForwarderDeps {
  upstreams: ReadonlyMap<string, string>;
  providerKeys: ReadonlyMap<string, string>;
  maxBodyBytes: number;
  firstByteTimeoutMs: number;
  idleTimeoutMs: number;
  connectProbe: ConnectProbe;
  sink: UsageSink;
  observer: ProxyObserver;
  log: Logger;
  clientTimeout?: ClientTimeout;
  /** Grants for upload URLs handed out to clients; without it such URLs need the arouter key to be followed. */
  uploadGrants?: UploadGrants;
}

export interface ForwardCall {
  requestId: string;
  provider: ProviderSpec;
  /** Upstream path (validated), no query. */
  path: string;
  /** Upstream query string ("" or "?..."), arouter key removed. */
  search: string;
  principal: Principal;
  /** Request start (ms since epoch): the row's ts and the base of its latency. */
  startedAt: number;
  /** For the unified endpoint: a body already prepared by the caller. */
  preparedBody?: PreparedBody;
}

/** Buffer identity-encoded non-stream bodies up to this size: one write to the client beats a JS stream for small JSON. */
const BUFFER_MAX_BYTES = 256 * 1024;

const NO_CAPTURE: Capture = { kind: 'none' };

/** Anything the forwarder can cut: shutdown walks these at its deadline. */
export interface Cuttable {
  /** The client's request, so a drain can tell this exchange from requests still being handled. */
  readonly req: Request;
  abort(cause: Outcome): void;
}

/**
 * The state of one proxied exchange. A class rather than closures: at thousands of requests a second the hot path
 * allocates one object instead of a dozen functions, and timers and the client's abort signal call back into it.
 */
class Exchange implements Cuttable {
  readonly controller = new AbortController();
  cause: Outcome | null = null;
  awaitingHeaders = true;
  over = false;
  firstByte: ReturnType<typeof setTimeout> | undefined = undefined;
  /** While a streamed upload waits on the provider to take its last chunk: the stall watch, then its deadline. */
  uploadIdle: ReturnType<typeof setTimeout> | undefined = undefined;
  /** The client's idle timeout was lifted for a provider that stopped taking the upload. */
  liftedForUpload = false;
  stopProbe: (() => void) | null = null;
  bytesIn: () => number = zero;
  requestModel: string;
  stream: boolean;
  ttfbMs: number | undefined = undefined;

  constructor(
    readonly d: ForwarderDeps & { inflight: Set<Cuttable> },
    readonly req: Request,
    readonly call: ForwardCall,
    readonly format: FormatChoice,
    /** The capture when nothing usage-bearing was read: none, or why the format is unknown. */
    readonly empty: Capture,
  ) {
    this.requestModel = call.provider.modelFromPath?.(call.path) ?? '';
    this.stream = call.provider.streamRequested?.({ path: call.path, headers: req.headers, search: call.search }) ?? false;
  }

  abort(cause: Outcome): void {
    if (this.cause === null) this.cause = cause;
    this.controller.abort();
  }

  /** The client's request signal fired: it went away. */
  handleEvent(): void {
    this.abort('client_abort');
  }

  /**
   * A streamed upload's turns. Waiting on the client, the server's idle timeout guards the connection as for any
   * slow sender. Once a chunk is handed on, a provider that stops taking the body is arouter's to bound (the idle
   * timeout between two chunks), not a silence of the client's: its connection is not cut for the provider's stall.
   */
  clientWait(waiting: boolean): void {
    // Once the provider has answered, a body it still reads is part of its answer's exchange: no stall watch (its
    // abort would cut the answer), and the client's idle timeout stays lifted until the exchange ends.
    if (this.over || !this.awaitingHeaders) return;
    clearTimeout(this.uploadIdle);
    if (!waiting) {
      this.uploadIdle = setTimeout(onUploadStall, UPLOAD_STALL_MS, this);
    } else if (this.liftedForUpload) {
      // Only after a stall: restoring restarts the client's clock, which a body trickled a byte at a time must not get.
      this.liftedForUpload = false;
      this.d.clientTimeout?.restore(this.req);
    }
  }

  /** The provider has not taken the last chunk for UPLOAD_STALL_MS: the wait is its, up to the idle timeout. */
  uploadStalled(): void {
    if (this.over || !this.awaitingHeaders) return;
    this.liftedForUpload = true;
    this.d.clientTimeout?.lift(this.req);
    this.uploadIdle = setTimeout(onIdleTimeout, Math.max(0, this.d.idleTimeoutMs - UPLOAD_STALL_MS), this);
  }

  /** The whole request body has arrived: the provider's first-byte clock starts now (it cannot answer before). */
  received(): void {
    clearTimeout(this.uploadIdle);
    if (this.over) return;
    this.d.clientTimeout?.lift(this.req);
    if (this.awaitingHeaders && this.firstByte === undefined) this.firstByte = setTimeout(onFirstByteTimeout, this.d.firstByteTimeoutMs, this);
  }

  /** The provider answered, or the fetch failed: the first-byte and connect watches are over. */
  settled(): void {
    this.awaitingHeaders = false;
    clearTimeout(this.firstByte);
    clearTimeout(this.uploadIdle);
    this.stopProbe?.();
  }

  /** Leaves the in-flight set and drops the client-abort listener. */
  done(): void {
    this.d.inflight.delete(this);
    this.req.signal?.removeEventListener('abort', this);
  }

  /** The exchange is over on the client's side: its connection's idle timeout applies again. */
  restoreClientTimeout(): void {
    if (this.over) return;
    this.over = true;
    this.d.clientTimeout?.restore(this.req);
  }

  record(status: number, outcome: Outcome, capture: Capture, bytesOut: number, error?: string): void {
    this.d.observer.finished(this.snippet(status, outcome, capture, bytesOut, error));
  }

  /** Builds the request's usage snippet and hands it to the sink (the producer, and its crash journal) at once. */
  snippet(status: number, outcome: Outcome, capture: Capture, bytesOut: number, error?: string): UsageSnippet {
    this.restoreClientTimeout();
    const { call, req, d } = this;
    const s: UsageSnippet = {
      v: 1,
      requestId: call.requestId,
      ts: call.startedAt,
      accountId: call.principal.accountId,
      keyId: call.principal.keyId,
      provider: call.provider.slug,
      format: this.format.format,
      requestModel: this.requestModel,
      method: req.method,
      path: call.path,
      status,
      stream: this.stream,
      outcome,
      // Wall-clock time can step back (NTP, a VM resumed): a duration is never negative.
      latencyMs: Math.max(0, Date.now() - call.startedAt),
      bytesIn: this.bytesIn(),
      bytesOut,
      capture,
    };
    if (this.format.options) s.formatOptions = this.format.options;
    if (error) s.error = error;
    if (this.ttfbMs !== undefined) s.ttfbMs = this.ttfbMs;
    d.sink.push(s);
    return s;
  }

  fail(err: ArouterError, outcome: Outcome): Response {
    this.record(err.status, outcome, NO_CAPTURE, 0, err.message);
    // A 413 keeps the connection open although RFC 9110 15.5.14 allows closing it: Bun closes without lingering,
    // so a client still uploading would often get a reset instead of the 413. The rest is read and dropped.
    return errorResponse(err, this.call.requestId);
  }

  /** The client's answer when the provider never answered (or arouter cut it before it did). */
  failBeforeHeaders(err: unknown): Response {
    const slug = this.call.provider.slug;
    if (err instanceof ArouterError) return this.fail(err, 'rejected');
    const why = this.cause;
    if (why === 'timeout_first_byte') return this.fail(providerTimeout(slug, 'waiting for the first response byte', this.d.firstByteTimeoutMs), why);
    if (why === 'timeout_connect') return this.fail(providerTimeout(slug, 'connecting', this.d.connectProbe.timeoutMs), why);
    if (why === 'timeout_idle') return this.fail(providerTimeout(slug, 'taking the request body', this.d.idleTimeoutMs), why);
    if (why === 'shutdown') return this.fail(new ArouterError(503, 'shutting_down', 'arouter is shutting down and cut this request before the provider answered; retry it.'), why);
    if (why === 'client_abort') return this.fail(new ArouterError(499, 'client_closed_request', 'The client closed the request.'), why);
    const bodyErr = findArouterError(err);
    if (bodyErr) return this.fail(bodyErr, 'rejected');
    // Reached, but what came back is no HTTP answer fetch can read: the provider's fault, not the network's.
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && INVALID_ANSWER_CODES.has(code)) return this.fail(providerUnreadableHead(slug, code), 'upstream_reset');
    return this.fail(providerUnreachable(slug, describeFetchError(err)), 'connect_error');
  }
}

/** Bun's fetch errors for an answer whose head it could not read (too large, or not HTTP). */
const INVALID_ANSWER_CODES = new Set(['ResponseHeadersTooLarge', 'Malformed_HTTP_Response']);

const zero = () => 0;
const onFirstByteTimeout = (x: Exchange) => x.abort('timeout_first_byte');
const onIdleTimeout = (x: Exchange) => x.abort('timeout_idle');
const onUploadStall = (x: Exchange) => x.uploadStalled();

/** How long a provider may hold back an upload's chunk before the wait counts as its stall rather than the client's. */
const UPLOAD_STALL_MS = 1000;

export class Forwarder {
  /** Requests in flight, so shutdown can cut them at the deadline. */
  get inflight(): ReadonlySet<Cuttable> {
    return this.d.inflight;
  }

  /**
   * arouter's own read of a provider's stored object (a batch input file it checks): the operator's credential and the
   * provider's default headers, no client headers, and no usage row (it is not the client's call).
   */
  async fetchStored(provider: ProviderSpec, path: string, clientSignal: AbortSignal | undefined): Promise<Response> {
    const credential = this.d.providerKeys.get(provider.slug);
    if (!credential) throw providerNotConfigured(provider.slug, `${envName(provider.slug)}_API_KEY`);
    const base = this.d.upstreams.get(provider.slug) ?? provider.baseUrl;
    // The whole read, body included, within the first-byte timeout: it stands in the client's request before any answer.
    const deadline = AbortSignal.timeout(this.d.firstByteTimeoutMs);
    const signal = clientSignal ? AbortSignal.any([clientSignal, deadline]) : deadline;
    try {
      return await fetch(base + path, { headers: outboundHeaders(new Headers(), provider, credential, null), redirect: 'manual', decompress: true, signal } as RequestInit);
    } catch (err) {
      throw providerUnreachable(provider.slug, describeFetchError(err));
    }
  }

  /** The request body limit (AROUTER_MAX_BODY_BYTES), for callers that read a body before forwarding it. */
  get maxBodyBytes(): number {
    return this.d.maxBodyBytes;
  }

  private readonly d: ForwarderDeps & { inflight: Set<Cuttable> };

  constructor(deps: ForwarderDeps) {
    this.d = { ...deps, inflight: new Set() };
  }

  async forward(req: Request, call: ForwardCall): Promise<Response> {
    const { provider } = call;
    const d = this.d;
    const credential = d.providerKeys.get(provider.slug);
    const format = provider.formatFor(call.path, req.method);
    const usageFormat = formatById(format.format);
    const x = new Exchange(d, req, call, format, usageFormat ? NO_CAPTURE : { kind: 'error', message: `unknown usage format ${format.format}` });

    if (!credential) return x.fail(providerNotConfigured(provider.slug, `${envName(provider.slug)}_API_KEY`), 'rejected');

    let prepared: PreparedBody;
    let readSoFar = 0;
    try {
      if (call.preparedBody) x.received();
      prepared =
        call.preparedBody ??
        (await prepareBody(req, {
          maxBytes: d.maxBodyBytes,
          injectUsage: !!provider.injectStreamUsage?.paths.test(call.path),
          onReceived: () => x.received(),
          onClientWait: (waiting) => x.clientWait(waiting),
          onBytesRead: (total) => (readSoFar = total),
        }));
    } catch (err) {
      // What arrived before the failure still came in: the row and the byte counter say so.
      if (readSoFar > 0) x.bytesIn = () => readSoFar;
      if (err instanceof ArouterError) return x.fail(err, 'rejected');
      // A client cut while sending its body (it went away, or the server's idle timeout ended a trickle).
      if (req.signal?.aborted) return x.fail(new ArouterError(499, 'client_closed_request', 'The client closed the request while sending its body.'), 'client_abort');
      return x.fail(new ArouterError(400, 'invalid_request', 'Could not read the request body.'), 'rejected');
    }
    x.bytesIn = prepared.bytesIn;
    if (prepared.model) x.requestModel = prepared.model;
    x.stream = x.stream || prepared.stream;

    const upstreamBase = d.upstreams.get(provider.slug) ?? provider.baseUrl;
    d.inflight.add(x);
    req.signal?.addEventListener('abort', x, { once: true });
    // A client gone while its key or body was checked fired its abort before anyone listened: the fetch below then
    // fails at once instead of running a generation nobody will read.
    if (req.signal?.aborted) x.abort('client_abort');
    x.stopProbe = d.connectProbe.watch(upstreamBase, () => x.abort('timeout_connect'));

    let upstream: Response;
    try {
      const outbound = outboundHeaders(req.headers, provider, credential, prepared.length);
      if (usageFormat?.lines) wholeRead(outbound);
      upstream = await fetch(upstreamBase + call.path + call.search, {
        method: req.method,
        headers: outbound,
        body: prepared.body,
        redirect: 'manual',
        signal: x.controller.signal,
        decompress: true,
        // Bun streams a ReadableStream body as it is read; `duplex` is what the Fetch standard asks for.
        ...(prepared.body instanceof ReadableStream ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (err) {
      x.settled();
      x.done();
      return x.failBeforeHeaders(err);
    }
    x.settled();
    d.connectProbe.markReachable(upstreamBase);
    x.ttfbMs = Math.max(0, Date.now() - call.startedAt);
    // Refused here, before a relay or a stream gauge exists that nothing would ever close: a status a Response cannot
    // carry (fetch passes any three-digit one on; RFC 9110 15: 1xx are interim), or a body fetch hands over still
    // encoded (its bytes could be neither masked nor labelled).
    const invalid =
      upstream.status < 200 || upstream.status > 599
        ? providerInvalidStatus(provider.slug, upstream.status)
        : !bodyDecoded(upstream.headers.get('content-encoding'))
          ? providerUnreadableEncoding(provider.slug)
          : null;
    if (invalid) {
      x.done();
      upstream.body?.cancel().catch(() => {});
      return x.fail(invalid, 'upstream_reset');
    }

    const secrets = [credential, call.principal.secret];
    const headers = inboundHeaders(upstream.headers, call.requestId, secrets);
    const rewrites = provider.bodyUrlPaths?.test(call.path) ? bodyUrlRewrites([upstreamBase, provider.baseUrl], provider.slug, clientOrigin(req)) : NO_REWRITES;
    // A rewrite changes the body's length (Bun sends a streamed body chunked, but the header must not claim otherwise).
    if (rewrites.length > 0) headers.delete('content-length');
    if (provider.urlHeaders || headers.has('location')) {
      const handedOut = rewriteProviderUrls(headers, provider.urlHeaders, [upstreamBase, provider.baseUrl], provider.slug, () => clientOrigin(req));
      if (handedOut.length > 0 && upstream.status < 300) await this.grantUploads(headers, handedOut, call);
    }
    if (call.principal.grant && provider.uploadSessions) this.endGrantIfDone(upstream.headers, provider.uploadSessions.done, call.principal.grant);
    const contentType = upstream.headers.get('content-type');
    const isSse = contentType !== null && contentType.toLowerCase().includes('text/event-stream');
    x.stream = x.stream || isSse;

    if (!upstream.body || req.method === 'HEAD') {
      x.done();
      x.record(upstream.status, 'complete', x.empty, 0);
      return new Response(null, { status: upstream.status, headers });
    }

    const declared = Number(upstream.headers.get('content-length') ?? NaN);
    if (!isSse && declared <= BUFFER_MAX_BYTES && !upstream.headers.has('content-encoding')) return this.buffered(x, upstream, headers, contentType, secrets, rewrites, usageFormat);

    const capture = usageFormat ? createCapture(usageFormat, contentType) : null;
    const redactor = createRedactor(secrets, rewrites);
    const filter = prepared.injectedUsage && isSse ? createSseEventFilter(isUsageOnlyChunk, { rewrite: withoutNullUsage }) : null;
    if (isSse) d.observer.streamOpened(provider.slug);
    const body = relayBody(upstream.body, {
      capture: capture ?? IGNORE,
      filter,
      redactor,
      idleTimeoutMs: d.idleTimeoutMs,
      signal: x.controller.signal,
      abortUpstream: (cause) => x.abort(cause),
      abortCause: () => x.cause,
      onEnd: (outcome, bytesOut, error) => {
        x.done();
        if (isSse) d.observer.streamClosed(provider.slug);
        x.record(upstream.status, outcome, capture ? capture.finish() : x.empty, bytesOut, error);
      },
    });
    return new Response(body, { status: upstream.status, headers });
  }

  /**
   * A URL the provider handed out to send more to (an upload session) gets a grant for the key that asked, so a
   * client that follows it with no credential, as Google's upload steps do, is still that key's (upload-grants.ts).
   */
  private async grantUploads(headers: Headers, handedOut: ReadonlyArray<{ name: string; path: string; url: string }>, call: ForwardCall): Promise<void> {
    const grants = this.d.uploadGrants;
    const session = call.provider.uploadSessions;
    const keyHash = call.principal.keyHash;
    if (!grants || !session || !keyHash) return;
    for (const { name, path, url } of handedOut) {
      // Only an upload session's URL: any other URL the provider hands out is followed with the key, as before.
      if (!grantable(path, session)) continue;
      const token = await grants.mint({ keyHash, target: `${call.provider.slug}${path}` });
      if (token) headers.set(name, withGrant(url, token));
      else this.d.log('warn', 'upload URL handed out without a grant (Redis unreachable): following it needs the arouter key', { request_id: call.requestId, provider: call.provider.slug });
    }
  }

  /** The provider says the session a grant was for is over: the grant is dropped (in the background). */
  private endGrantIfDone(answer: Headers, [header, value]: readonly [string, RegExp], grant: string): void {
    const status = answer.get(header);
    if (status !== null && value.test(status)) void this.d.uploadGrants?.drop(grant);
  }

  /** A small, complete, identity-encoded answer: read whole, captured, and written to the client in one piece. */
  private async buffered(x: Exchange, upstream: Response, headers: Headers, contentType: string | null, secrets: string[], rewrites: readonly Replacement[], usageFormat: UsageFormat | undefined): Promise<Response> {
    const idle = setTimeout(onIdleTimeout, this.d.idleTimeoutMs, x);
    let body: Uint8Array;
    try {
      body = new Uint8Array(await upstream.arrayBuffer());
    } catch (err) {
      clearTimeout(idle);
      x.done();
      // No byte reached the client yet, so it still gets a proper error, and the snippet records that status.
      const slug = x.call.provider.slug;
      const why: Outcome = x.cause ?? 'upstream_reset';
      const answer =
        why === 'timeout_idle'
          ? providerTimeout(slug, 'between two chunks', this.d.idleTimeoutMs)
          : why === 'shutdown'
            ? new ArouterError(503, 'shutting_down', 'arouter is shutting down and cut this response; retry the request.')
            : why === 'client_abort'
              ? new ArouterError(499, 'client_closed_request', 'The client closed the request.')
              : providerUnreachable(slug, 'the connection failed while reading the response');
      x.record(answer.status, why, x.empty, 0, why === 'upstream_reset' ? describeFetchError(err) : answer.message);
      return errorResponse(answer, x.call.requestId);
    }
    clearTimeout(idle);
    // Redacted before capture too: an error body that echoes a credential must not reach the usage record.
    if (containsSecret(body, secrets) || (rewrites.length > 0 && containsAny(body, rewrites))) {
      const redactor = createRedactor(secrets, rewrites);
      if (redactor) body = concat(redactor.chunk(body), redactor.flush());
    }
    // The snippet reaches the producer (and its crash journal) before the answer goes out: a process killed right
    // after cannot have answered a request it holds no usage for. Metrics and the access line (most of the
    // bookkeeping: 15-20 µs at the median, over 100 at p99 under load) wait for the next turn of the event loop.
    const s = x.snippet(upstream.status, 'complete', wholeCapture(x, usageFormat, contentType, body), body.byteLength);
    setImmediate(finishBuffered, x, s);
    return new Response(body as Uint8Array<ArrayBuffer>, { status: upstream.status, headers });
  }
}

function wholeCapture(x: Exchange, format: UsageFormat | undefined, contentType: string | null, body: Uint8Array): Capture {
  try {
    return format ? captureWholeBody(format, contentType, body) : x.empty;
  } catch (err) {
    // Capture never throws into the client's answer: the row still gets written, with the reason.
    return { kind: 'error', message: `usage capture failed: ${err instanceof Error ? err.name : 'unknown'}` };
  }
}

function finishBuffered(x: Exchange, s: UsageSnippet): void {
  x.done();
  x.d.observer.finished(s);
}

const IGNORE = { feed() {} };

const NO_REWRITES: readonly Replacement[] = [];

/**
 * Batch results are always fetched whole: their usage is counted from one whole read, and a client fetching them in
 * ranges would otherwise be billed for one range. RFC 9110 14.2 lets a server ignore Range; the client gets a 200.
 */
function wholeRead(headers: Headers): void {
  headers.delete('range');
  headers.delete('if-range');
}

/** A JSON string holding a URL on one of the provider's bases, turned into the same URL through arouter. */
function bodyUrlRewrites(bases: readonly string[], slug: string, origin: string): Replacement[] {
  return [...new Set(bases)].map((base): Replacement => [`"${base}/`, `"${origin}/${slug}/`]);
}

/** A host, or host:port, as RFC 3986 3.2.2 writes one: a name, IPv4 or bracketed IPv6; nothing that could add a path. */
const HOST = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/**
 * The origin the client used: the host and scheme a proxy in front reports (X-Forwarded-Host, X-Forwarded-Proto; the
 * first hop's, as each appends), else its own Host. A client that forges them only misdirects its own follow-up calls.
 */
function clientOrigin(req: Request): string {
  const url = new URL(req.url);
  const proto = req.headers.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  const host = req.headers.get('x-forwarded-host')?.split(',')[0]?.trim();
  return `${proto === 'https' || proto === 'http' ? proto : url.protocol.slice(0, -1)}://${host && HOST.test(host) ? host : url.host}`;
}

function findArouterError(err: unknown): ArouterError | null {
  for (let e: unknown = err, i = 0; e && i < 4; i++) {
    if (e instanceof ArouterError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

/** A short, secret-free description of a fetch failure (Bun error codes are stable strings). */
export function describeFetchError(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string') {
    if (code === 'ConnectionRefused' || code === 'ECONNREFUSED') return 'connection refused';
    if (code === 'ECONNRESET' || code === 'ConnectionClosed') return 'connection reset by the provider';
    if (code === 'FailedToOpenSocket') return 'could not open a socket';
    if (code.includes('DNS') || code === 'ENOTFOUND') return 'host name did not resolve';
    if (code.includes('CERT') || code.includes('TLS')) return 'TLS handshake failed';
    return code.slice(0, 60);
  }
  return err instanceof Error ? err.name : 'unknown error';
}
