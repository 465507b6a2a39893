// A usage format: which parts of a response to capture, and how to turn them into canonical usage.
import type { MemberTree } from '../large-event.ts';
import type { CanonicalUsage, UsageSnippet } from '../snippet.ts';

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
  /** Turn the snippet into canonical usage. Must not throw on odd input it can recognise as "no usage";
   *  throw only for input that can never be normalized (the worker fails that job). */
  normalize(snippet: UsageSnippet): CanonicalUsage;
}
