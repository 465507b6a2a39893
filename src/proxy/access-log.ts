// One JSON access-log line per finished proxied request: ids, route, outcome, timings and sizes; never a key, a query or a body.
import type { Logger } from '../log.ts';
import type { UsageSnippet } from '../usage/snippet.ts';

/** Outcomes that are the provider's or arouter's trouble rather than the client's, logged at warn. */
const TROUBLE = new Set(['upstream_reset', 'connect_error', 'timeout_connect', 'timeout_first_byte', 'timeout_idle', 'shutdown']);

export function logAccess(log: Logger, s: UsageSnippet): void {
  log(TROUBLE.has(s.outcome) ? 'warn' : 'info', 'request', {
    request_id: s.requestId,
    account_id: s.accountId,
    key_id: s.keyId,
    provider: s.provider,
    method: s.method,
    // The upstream path never carries the query string, where a Gemini-style `?key=` would sit.
    path: s.path,
    model: s.requestModel.slice(0, 128) || undefined,
    status: s.status,
    outcome: s.outcome,
    stream: s.stream,
    latency_ms: s.latencyMs,
    ttfb_ms: s.ttfbMs,
    bytes_in: s.bytesIn,
    bytes_out: s.bytesOut,
    error: s.error,
  });
}
