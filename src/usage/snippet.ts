// The raw usage snippet: what the proxy captures per request and the worker normalizes.

/** Raw text of the usage-bearing parts of a response. Never a whole body. */
export type Capture =
  /** JSON body (or a streamed JSON array): raw JSON text of the captured top-level keys, last occurrence wins. */
  | { kind: 'json'; fields: Record<string, string>; truncated?: boolean }
  /** SSE: the events the format said may carry usage, in arrival order, bounded. */
  | { kind: 'sse'; events: SseEventRecord[]; truncated?: boolean }
  /** JSON lines (batch results): the usage of every line that has some, summed per model. `lines` counts the
   *  non-empty lines read, with or without usage. */
  | { kind: 'lines'; groups: LineGroup[]; lines: number; truncated?: boolean }
  /** Nothing usage-bearing was seen (non-JSON body, empty body, error before any byte). */
  | { kind: 'none' }
  /** Capture itself failed; the stream was not affected. */
  | { kind: 'error'; message: string };

/** Summed counts of the batch-result lines for one model, as the format read them (not yet made canonical). */
export interface LineGroup {
  model: string;
  /** Lines (batched requests) with usage summed here. */
  requests: number;
  input: number;
  cached: number;
  cacheWrite: number;
  cacheWrite1h: number;
  output: number;
  reasoning: number;
}

export interface SseEventRecord {
  event?: string;
  data: string;
}

/** How the exchange ended, as seen by the proxy. */
export type Outcome =
  | 'complete' // the upstream body ended normally
  | 'client_abort' // the client went away before the end
  | 'upstream_reset' // the upstream connection failed mid-body
  | 'connect_error' // could not reach the upstream (no response)
  | 'timeout_connect'
  | 'timeout_first_byte'
  | 'timeout_idle'
  | 'shutdown' // cut at the drain deadline
  | 'rejected'; // arouter answered itself (413 mid-stream, etc.)

export interface UsageSnippet {
  v: 1;
  requestId: string;
  /** Request start, ms since epoch. */
  ts: number;
  accountId: string;
  keyId: string;
  provider: string;
  /** Usage format id (see src/usage/formats), chosen by the provider module from the path. */
  format: string;
  /** Provider-specific format options, as data (e.g. xAI's reasoning outside completion). */
  formatOptions?: Record<string, boolean | number | string>;
  /** Model named by the request (body `model`, or the path for Gemini); '' when unknown. */
  requestModel: string;
  method: string;
  /** Upstream path, no query string. */
  path: string;
  /** HTTP status the client got (upstream's, or arouter's own error status). */
  status: number;
  stream: boolean;
  outcome: Outcome;
  /** Short error text for non-complete outcomes; never contains secrets. */
  error?: string;
  latencyMs: number;
  ttfbMs?: number;
  bytesIn: number;
  bytesOut: number;
  capture: Capture;
}

export type UsageStatus = 'reported' | 'partial' | 'missing';

/** Canonical usage, meaning as in providers.md. */
export interface CanonicalUsage {
  model: string;
  input_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  usage_status: UsageStatus;
  /** The part of cache_write_tokens written for a one-hour lifetime (Anthropic), priced at its own rate. Not a column. */
  cache_write_1h_tokens?: number;
  /** Provider-reported error inside a 2xx body/stream, if any. */
  provider_error?: string;
  /** Set when other requests can report the same usage (a background response's creation and its reads): the
   *  worker counts it for the first of them only. Not a column. */
  once_key?: string;
}
