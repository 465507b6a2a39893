// A usage format: which parts of a response to capture, and how to turn them into canonical usage.
import type { MemberTree } from '../large-event.ts';
import type { CanonicalUsage, UsageSnippet } from '../snippet.ts';
import type { UsageCounts } from './common.ts';

/** One line of a batch's results: the model that answered it and what it used. */
export interface LineUsage {
  model: string;
  counts: UsageCounts;
}

/** A body of JSON lines, one batched request each (batch results), whose usage is summed per model. */
export interface LineFormat {
  /** The usage of one line, or null for a line without any (a failed request, an input line, not JSON). */
  read(line: string): LineUsage | null;
  /** The share of the price table's rate that batched requests cost (their discount), unless the provider's format
   *  options say otherwise (`priceFactor`). */
  priceFactor: number;
}

/** Where an SSE event goes in the capture: kept as the last of its slot, the first, or appended (bounded). */
export type SseKeep = { slot: string; mode: 'first' | 'last' | 'append' };

export interface UsageFormat {
  id: string;
  /** Top-level JSON keys whose raw values are captured from a JSON body (or each element of a top-level array). */
  jsonKeys: readonly string[];
  /** Decide, cheaply (no JSON.parse), whether an SSE event may carry usage/model/error. null = drop. */
  sseKeep(event: string | undefined, data: string): SseKeep | null;
  /** What a kept SSE event too large to keep whole is cut down to (default: the jsonKeys members). */
  sseLargeEvent?: MemberTree;
  /** Top-level JSON members whose value may outgrow the capture's cap with usage deep inside (Cohere v1's stream-end
   *  `response`, chat history included): each is read up to 4 MiB and cut down to its subtree's members. */
  jsonLargeMembers?: { readonly [key: string]: MemberTree };
  /** Set for batch results: the body is read as JSON lines whatever its content type, usage summed per model. */
  lines?: LineFormat;
  /** Turn the snippet into canonical usage. Must not throw on odd input it can recognise as "no usage";
   *  throw only for input that can never be normalized (the worker fails that job). */
  normalize(snippet: UsageSnippet): CanonicalUsage;
}
