// Forwards one request to its provider and relays the answer; every exit path hands one snippet to the usage sink.
import { ArouterError, errorResponse, providerNotConfigured, providerTimeout, providerUnreachable } from '../errors.ts';
import type { Principal } from '../keys/auth.ts';
import type { Logger } from '../log.ts';
import { envName } from '../providers/index.ts';
import type { ProviderSpec } from '../providers/types.ts';
import { captureWholeBody, createCapture } from '../usage/capture.ts';
import { formatById } from '../usage/formats/index.ts';
import { createSseEventFilter, isUsageOnlyChunk } from '../usage/sse-filter.ts';
import type { Capture, Outcome, UsageSnippet } from '../usage/snippet.ts';
import { type ConnectProbe } from './connect-probe.ts';
import { inboundHeaders, outboundHeaders } from './headers.ts';
import { containsSecret, createRedactor, redactText } from './redact.ts';
import { relayBody } from './relay.ts';
import { prepareBody, type PreparedBody } from './request-body.ts';

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

export class Forwarder {
  /** Aborters of requests in flight, so shutdown can cut them at the deadline. */
  readonly inflight = new Set<(cause: Outcome) => void>();

  constructor(private readonly d: ForwarderDeps) {}

  async forward(req: Request, call: ForwardCall): Promise<Response> {
    const { provider, requestId, principal } = call;
    const credential = this.d.providerKeys.get(provider.slug);
    const format = provider.formatFor(call.path);
    const usageFormat = formatById(format.format);
    const base: Omit<UsageSnippet, 'status' | 'outcome' | 'latencyMs' | 'bytesIn' | 'bytesOut' | 'capture' | 'stream'> = {
      v: 1,
      requestId,
      ts: call.startedAt,
      accountId: principal.accountId,
      keyId: principal.keyId,
      provider: provider.slug,
      format: format.format,
      ...(format.options ? { formatOptions: format.options } : {}),
      requestModel: provider.modelFromPath?.(call.path) ?? '',
      method: req.method,
      path: call.path,
    };
    const streamAsked = provider.streamRequested?.({ path: call.path, headers: req.headers, search: call.search }) ?? false;

    let bytesIn = () => 0;
    let requestModel = base.requestModel;
    let stream = streamAsked;
    let exchangeOver = false;
    const record = (status: number, outcome: Outcome, capture: Capture, bytesOut: number, extra?: { error?: string; ttfbMs?: number; stream?: boolean }) => {
      exchangeOver = true;
      this.d.clientTimeout?.restore(req);
      const s: UsageSnippet = {
        ...base,
        requestModel,
        status,
        stream: extra?.stream ?? stream,
        outcome,
        latencyMs: Date.now() - call.startedAt,
        bytesIn: bytesIn(),
        bytesOut,
        capture,
        ...(extra?.error ? { error: extra.error } : {}),
        ...(extra?.ttfbMs !== undefined ? { ttfbMs: extra.ttfbMs } : {}),
      };
      this.d.sink.push(s);
      this.d.observer.finished(s);
    };
    const fail = (err: ArouterError, outcome: Outcome) => {
      record(err.status, outcome, { kind: 'none' }, 0, { error: err.message });
      // A 413 keeps the connection open although RFC 9110 15.5.14 allows closing it: Bun closes without lingering,
      // so a client still uploading would often get a reset instead of the 413. The rest is read and dropped.
      return errorResponse(err, requestId);
    };

    if (!credential) return fail(providerNotConfigured(provider.slug, `${envName(provider.slug)}_API_KEY`), 'rejected');

    const controller = new AbortController();
    let abortCause: Outcome | null = null;
    // Read through a function: TypeScript cannot see the closure below assigning it.
    const cause = (): Outcome | null => abortCause;
    const abort = (cause: Outcome) => {
      if (abortCause === null) abortCause = cause;
      controller.abort();
    };
    let awaitingHeaders = true;
    let firstByte: ReturnType<typeof setTimeout> | undefined;
    const bodyReceived = () => {
      if (exchangeOver) return;
      this.d.clientTimeout?.lift(req);
      // The provider cannot answer before it has the whole request, so its first-byte clock starts here.
      if (awaitingHeaders && firstByte === undefined) firstByte = setTimeout(() => abort('timeout_first_byte'), this.d.firstByteTimeoutMs);
    };

    let prepared;
    try {
      if (call.preparedBody) bodyReceived();
      prepared =
        call.preparedBody ??
        (await prepareBody(req, { maxBytes: this.d.maxBodyBytes, injectUsage: !!provider.injectStreamUsage?.paths.test(call.path), onReceived: bodyReceived }));
    } catch (err) {
      if (err instanceof ArouterError) return fail(err, 'rejected');
      // A client cut while sending its body (it went away, or the server's idle timeout ended a trickle).
      if (req.signal?.aborted) return fail(new ArouterError(499, 'client_closed_request', 'The client closed the request while sending its body.'), 'client_abort');
      return fail(new ArouterError(400, 'invalid_request', 'Could not read the request body.'), 'rejected');
    }
    bytesIn = prepared.bytesIn;
    if (prepared.model) requestModel = prepared.model;
    stream = stream || prepared.stream;

    const upstreamBase = this.d.upstreams.get(provider.slug) ?? provider.baseUrl;
    const url = upstreamBase + call.path + call.search;
    this.inflight.add(abort);
    const onClientGone = () => abort('client_abort');
    req.signal?.addEventListener('abort', onClientGone, { once: true });
    const stopProbe = this.d.connectProbe.watch(upstreamBase, () => abort('timeout_connect'));

    let upstream: Response;
    try {
      upstream = await fetch(url, {
        method: req.method,
        headers: outboundHeaders(req.headers, provider, credential, prepared.length),
        body: prepared.body,
        redirect: 'manual',
        signal: controller.signal,
        decompress: true,
        // Bun streams a ReadableStream body as it is read; `duplex` is what the Fetch standard asks for.
        ...(prepared.body instanceof ReadableStream ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (err) {
      awaitingHeaders = false;
      clearTimeout(firstByte);
      stopProbe();
      this.inflight.delete(abort);
      req.signal?.removeEventListener('abort', onClientGone);
      if (err instanceof ArouterError) return fail(err, 'rejected');
      const why = cause();
      if (why === 'timeout_first_byte') return fail(providerTimeout(provider.slug, 'waiting for the first response byte', this.d.firstByteTimeoutMs), why);
      if (why === 'timeout_connect') return fail(providerTimeout(provider.slug, 'connecting', this.d.connectProbe.timeoutMs), why);
      if (why === 'shutdown') return fail(new ArouterError(503, 'shutting_down', 'arouter is shutting down and cut this request before the provider answered; retry it.'), why);
      if (why === 'client_abort') return fail(new ArouterError(499, 'client_closed_request', 'The client closed the request.'), why);
      const bodyErr = findArouterError(err);
      if (bodyErr) return fail(bodyErr, 'rejected');
      return fail(providerUnreachable(provider.slug, describeFetchError(err)), 'connect_error');
    }
    awaitingHeaders = false;
    clearTimeout(firstByte);
    stopProbe();
    this.d.connectProbe.markReachable(upstreamBase);
    const ttfbMs = Date.now() - call.startedAt;

    const secrets = [credential, principal.secret];
    const headers = inboundHeaders(upstream.headers, requestId, (s) => redactText(s, secrets));
    const contentType = upstream.headers.get('content-type');
    const isSse = !!contentType && contentType.includes('text/event-stream');
    stream = stream || isSse;
    const noFormat: Capture = { kind: 'error', message: `unknown usage format ${format.format}` };

    const done = () => {
      this.inflight.delete(abort);
      req.signal?.removeEventListener('abort', onClientGone);
    };
    if (!upstream.body || req.method === 'HEAD') {
      done();
      record(upstream.status, 'complete', usageFormat ? { kind: 'none' } : noFormat, 0, { ttfbMs });
      return new Response(null, { status: upstream.status, headers });
    }

    const declared = Number(upstream.headers.get('content-length') ?? NaN);
    if (!isSse && !upstream.headers.has('content-encoding') && declared <= BUFFER_MAX_BYTES) {
      const idle = setTimeout(() => abort('timeout_idle'), this.d.idleTimeoutMs);
      try {
        let body: Uint8Array = new Uint8Array(await upstream.arrayBuffer());
        clearTimeout(idle);
        const captured = usageFormat ? captureWholeBody(usageFormat, contentType, body) : noFormat;
        if (containsSecret(body, secrets)) {
          const redactor = createRedactor(secrets);
          if (redactor) body = concat(redactor.chunk(body), redactor.flush());
        }
        done();
        record(upstream.status, 'complete', captured, body.byteLength, { ttfbMs });
        return new Response(body as Uint8Array<ArrayBuffer>, { status: upstream.status, headers });
      } catch (err) {
        clearTimeout(idle);
        done();
        // No byte reached the client yet, so it still gets a proper error, and the snippet records that status.
        const why: Outcome = cause() ?? 'upstream_reset';
        const answer =
          why === 'timeout_idle'
            ? providerTimeout(provider.slug, 'between two chunks', this.d.idleTimeoutMs)
            : why === 'shutdown'
              ? new ArouterError(503, 'shutting_down', 'arouter is shutting down and cut this response; retry the request.')
              : why === 'client_abort'
                ? new ArouterError(499, 'client_closed_request', 'The client closed the request.')
                : providerUnreachable(provider.slug, 'the connection failed while reading the response');
        record(answer.status, why, usageFormat ? { kind: 'none' } : noFormat, 0, { ttfbMs, error: why === 'upstream_reset' ? describeFetchError(err) : answer.message });
        return errorResponse(answer, requestId);
      }
    }

    const capture = usageFormat ? createCapture(usageFormat, contentType) : { feed() {}, finish: () => noFormat };
    const redactor = createRedactor(secrets);
    const filter = prepared.injectedUsage && isSse ? createSseEventFilter(isUsageOnlyChunk) : null;
    if (isSse) this.d.observer.streamOpened(provider.slug);
    const body = relayBody(upstream.body, {
      capture,
      filter,
      redactor,
      idleTimeoutMs: this.d.idleTimeoutMs,
      signal: controller.signal,
      abortUpstream: abort,
      abortCause: cause,
      onEnd: (outcome, bytesOut, error) => {
        done();
        if (isSse) this.d.observer.streamClosed(provider.slug);
        record(upstream.status, outcome, capture.finish(), bytesOut, { ttfbMs, ...(error ? { error } : {}) });
      },
    });
    return new Response(body, { status: upstream.status, headers });
  }
}

function concat(a: Uint8Array, b: Uint8Array | null): Uint8Array {
  if (!b || b.byteLength === 0) return a;
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
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
