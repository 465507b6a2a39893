// The response relay: upstream bytes go to the client as they arrive, read only as fast as the client drains,
// with a tee into usage capture that can never throw into the stream.
import type { Outcome } from '../usage/snippet.ts';
import type { Redactor } from './redact.ts';

export interface ByteSink {
  feed(chunk: Uint8Array): void;
}

export interface ChunkFilter {
  push(chunk: Uint8Array): Uint8Array[];
  end(): Uint8Array[];
}

export interface RelayOptions {
  capture: ByteSink;
  filter: ChunkFilter | null;
  redactor: Redactor | null;
  idleTimeoutMs: number;
  /**
   * The forwarder's abort signal (timeouts, shutdown, client gone). It ends the client's stream at once, even when
   * the client is not reading and no read is pending, so a stalled client cannot keep a cut exchange open.
   */
  signal: AbortSignal;
  /** Abort the upstream fetch (client gone, idle timeout). */
  abortUpstream(reason: Outcome): void;
  /** Called exactly once with how the body ended. */
  onEnd(outcome: Outcome, bytesOut: number, error?: string): void;
  /** Cause recorded by the forwarder when it aborted the upstream itself (timeouts, shutdown). */
  abortCause(): Outcome | null;
}

export function relayBody(upstream: ReadableStream<Uint8Array>, o: RelayOptions): ReadableStream<Uint8Array> {
  const reader = upstream.getReader();
  let bytesOut = 0;
  let ended = false;
  const end = (outcome: Outcome, error?: string) => {
    if (ended) return;
    ended = true;
    clearTimeout(idle);
    o.onEnd(outcome, bytesOut, error);
  };
  // The idle clock restarts whenever a read starts or delivers. When it runs out during a read, the provider went
  // silent; when it runs out between reads, the client stopped asking for more (it is not reading its socket), which
  // is not the provider's doing and is recorded as the client's.
  let reading = false;
  let clientStalled = false;
  const idle = setTimeout(() => {
    if (reading) return o.abortUpstream('timeout_idle');
    clientStalled = true;
    o.abortUpstream('client_abort');
  }, o.idleTimeoutMs);
  let client: ReadableStreamDefaultController<Uint8Array> | null = null;
  o.signal.addEventListener(
    'abort',
    () => {
      if (ended) return;
      const cause = o.abortCause() ?? 'upstream_reset';
      end(cause, clientStalled ? 'client stopped reading for the idle timeout' : describe(null, cause));
      try {
        client?.error(new Error(`relay cut: ${cause}`));
      } catch {
        // Already closed or errored.
      }
      reader.cancel().catch(() => {});
    },
    { once: true },
  );

  const emit = (ctrl: ReadableStreamDefaultController<Uint8Array>, chunk: Uint8Array) => {
    if (chunk.byteLength === 0) return;
    bytesOut += chunk.byteLength;
    ctrl.enqueue(chunk);
  };
  // Secrets go first, so neither the client nor usage capture (whose fields reach Redis, the outbox and
  // ClickHouse's raw_usage) ever sees a credential that an upstream error body echoed. Capture sees every event,
  // the usage-only chunk the filter removes included.
  const deliver = (ctrl: ReadableStreamDefaultController<Uint8Array>, redacted: Uint8Array | null) => {
    if (!redacted || redacted.byteLength === 0) return;
    o.capture.feed(redacted);
    if (o.filter) for (const c of o.filter.push(redacted)) emit(ctrl, c);
    else emit(ctrl, redacted);
  };

  return new ReadableStream<Uint8Array>(
    {
      start(ctrl) {
        client = ctrl;
      },
      // Reads until something reaches the client: a pull that enqueues nothing (an event removed by the filter, or
      // bytes the redactor holds back) is not pulled again by Bun, which would leave the client waiting forever.
      async pull(ctrl) {
        for (;;) {
          let r: Awaited<ReturnType<typeof reader.read>>;
          reading = true;
          idle.refresh();
          try {
            r = await reader.read();
          } catch (err) {
            if (ended) return;
            const cause = o.abortCause() ?? 'upstream_reset';
            end(cause, describe(err, cause));
            // Bytes already flowed, so the only honest signal left is to cut the client's stream.
            ctrl.error(err);
            return;
          }
          reading = false;
          if (ended) return;
          if (r.done) {
            if (o.redactor) deliver(ctrl, o.redactor.flush());
            if (o.filter) for (const c of o.filter.end()) emit(ctrl, c);
            end('complete');
            ctrl.close();
            return;
          }
          idle.refresh();
          const before = bytesOut;
          deliver(ctrl, o.redactor ? o.redactor.chunk(r.value) : r.value);
          if (bytesOut > before) return;
        }
      },
      cancel() {
        end(o.abortCause() ?? 'client_abort', 'client closed the connection');
        o.abortUpstream('client_abort');
        reader.cancel().catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

function describe(err: unknown, cause: Outcome): string {
  if (cause === 'timeout_idle') return 'upstream went silent mid-body';
  if (cause === 'shutdown') return 'cut at the drain deadline';
  if (cause === 'client_abort') return 'client closed the connection';
  // Bun's fetch errors carry a stable code (ECONNRESET, ...); their messages add advice meant for developers.
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return `upstream connection failed mid-body (${code.slice(0, 40)})`;
  const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return msg.slice(0, 200);
}
