// Byte-level SSE event framer for the client's path: every event passes through byte for byte unless a predicate drops it.
import { CappedBytes, concat, equalsAt, splice } from './bytes.ts';
import { FIELD_DATA, lineEndFinder, sseTextDecoder } from './sse.ts';

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;

export interface SseEventFilter {
  /** Raw bytes ready for the client: every event completed by this chunk, minus dropped ones. */
  push(chunk: Uint8Array): Uint8Array[];
  /** Whatever trailing bytes never formed a complete event, unchanged. */
  end(): Uint8Array[];
}

export interface SseEventFilterOptions {
  /** An event larger than this is streamed through undecided: usage-only chunks are small, and memory stays bounded. */
  maxBufferedEventBytes?: number;
  /**
   * Rewrites the bytes of a kept event; the same bytes when there is nothing to change. An event larger than the
   * buffer is given only its last `REWRITE_TAIL` bytes or more (the rest has gone out): rewrites work on an event's end.
   */
  rewrite?(event: Uint8Array): Uint8Array;
}

/**
 * What an event streamed through undecided keeps back until it ends, so a rewrite still sees its end: the member
 * OpenAI-style chunks end with is followed by at most a few hundred bytes (Dashscope's ids, OpenAI's obfuscation).
 */
export const REWRITE_TAIL = 4096;

export function createSseEventFilter(drop: (data: string) => boolean, options: SseEventFilterOptions = {}): SseEventFilter {
  const cap = options.maxBufferedEventBytes ?? 256 * 1024;
  const rewrite = options.rewrite;
  // Bytes of the current event that arrived in earlier chunks.
  const held = new CappedBytes(cap);
  let passthrough = false;
  // While an event streams through undecided: its latest bytes, held back for the rewrite at its end.
  let passTail: Uint8Array | null = null;
  let lineHasBytes = false;
  // A CR ended a line at the end of a chunk: an LF next is the rest of that line break.
  let skipLF = false;
  // An event ended with a CR at the end of a chunk: an LF next belongs to that event, kept or dropped with it.
  let lfOwner: 'kept' | 'dropped' | null = null;

  /** Sends an oversized event's bytes on, all but its last REWRITE_TAIL when a rewrite waits for its end. */
  function passOn(out: Uint8Array[], bytes: Uint8Array): void {
    if (!rewrite) return emit(out, bytes);
    if (passTail) bytes = concat(passTail, bytes);
    const keep = Math.min(REWRITE_TAIL, bytes.length);
    emit(out, bytes.subarray(0, bytes.length - keep));
    passTail = bytes.slice(bytes.length - keep);
  }

  /** The end of an oversized event: its held-back tail and last bytes, rewritten. */
  function passEnd(out: Uint8Array[], last: Uint8Array): void {
    const end = passTail ? concat(passTail, last) : last;
    passTail = null;
    emit(out, rewrite ? rewrite(end) : end);
  }

  function closeEvent(tail: Uint8Array, out: Uint8Array[]): boolean {
    if (passthrough) {
      passthrough = false;
      passEnd(out, tail);
      return true;
    }
    let bytes = tail;
    if (held.length > 0) {
      if (held.length + tail.length > cap) {
        passOn(out, held.copy());
        held.reset();
        passEnd(out, tail);
        return true;
      }
      held.append(tail);
      bytes = held.copy();
      held.reset();
    }
    if (bytes.length > cap) {
      // Too large to decide on, like one that streamed through: only its end is rewritten.
      const split = Math.max(0, bytes.length - REWRITE_TAIL);
      emit(out, bytes.subarray(0, split));
      passEnd(out, bytes.subarray(split));
      return true;
    }
    if (drop(eventData(bytes))) return false;
    emit(out, rewrite ? rewrite(bytes) : bytes);
    return true;
  }

  function holdRest(rest: Uint8Array, out: Uint8Array[]): void {
    if (passthrough) return passOn(out, rest);
    if (held.length + rest.length > cap) {
      passthrough = true;
      if (held.length > 0) passOn(out, held.copy());
      held.reset();
      return passOn(out, rest);
    }
    held.append(rest);
  }

  function push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    const n = chunk.length;
    if (n === 0) return out;
    let i = 0;
    let eventStart = 0;
    if (lfOwner !== null) {
      if (chunk[0] === LF) {
        if (lfOwner === 'kept') emit(out, chunk.subarray(0, 1));
        i = eventStart = 1;
      }
      lfOwner = null;
    } else if (skipLF) {
      if (chunk[0] === LF) i = 1;
    }
    skipLF = false;
    const lineEnd = lineEndFinder(chunk);
    while (i < n) {
      const eol = lineEnd(i);
      if (eol === -1) {
        lineHasBytes = true;
        break;
      }
      let next = eol + 1;
      let crAtChunkEnd = false;
      if (chunk[eol] === CR) {
        if (next < n) {
          if (chunk[next] === LF) next++;
        } else {
          crAtChunkEnd = true;
        }
      }
      if (!lineHasBytes && eol === i) {
        const kept = closeEvent(chunk.subarray(eventStart, next), out);
        eventStart = next;
        if (crAtChunkEnd) lfOwner = kept ? 'kept' : 'dropped';
      } else if (crAtChunkEnd) {
        skipLF = true;
      }
      lineHasBytes = false;
      i = next;
    }
    if (eventStart < n) holdRest(chunk.subarray(eventStart), out);
    return out;
  }

  function end(): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (!passthrough && held.length > 0) emit(out, held.copy());
    if (passTail) emit(out, passTail);
    passTail = null;
    held.reset();
    passthrough = false;
    lineHasBytes = false;
    skipLF = false;
    lfOwner = null;
    return out;
  }

  return { push, end };
}

/** Appends bytes, merging with the previous piece when both are adjacent views of one buffer (fewer writes downstream). */
function emit(out: Uint8Array[], bytes: Uint8Array): void {
  if (bytes.length === 0) return;
  const last = out[out.length - 1];
  if (last && last.buffer === bytes.buffer && last.byteOffset + last.byteLength === bytes.byteOffset) {
    out[out.length - 1] = new Uint8Array(bytes.buffer, last.byteOffset, last.byteLength + bytes.byteLength);
  } else {
    out.push(bytes);
  }
}

/** The event's data field values joined by '\n', as an SSE client would see them. */
function eventData(event: Uint8Array): string {
  const parts: string[] = [];
  let start = 0;
  while (start < event.length) {
    let end = start;
    while (end < event.length && event[end] !== LF && event[end] !== CR) end++;
    if (isDataLine(event, start, end)) {
      let valueStart = start + FIELD_DATA.length;
      if (valueStart < end) valueStart++; // the colon
      if (valueStart < end && event[valueStart] === SPACE) valueStart++;
      parts.push(sseTextDecoder.decode(event.subarray(valueStart, end)));
    }
    start = end + (event[end] === CR && event[end + 1] === LF ? 2 : 1);
  }
  return parts.join('\n');
}

function isDataLine(event: Uint8Array, start: number, end: number): boolean {
  if (end - start < FIELD_DATA.length || !equalsAt(event, start, FIELD_DATA)) return false;
  const after = start + FIELD_DATA.length;
  return after === end || event[after] === COLON;
}

const EMPTY_CHOICES = /"choices"\s*:\s*\[\s*\]/;
const USAGE_OBJECT = /"usage"\s*:\s*\{/;

/** An OpenAI-style chunk that only carries usage: `choices` is empty and `usage` is an object. */
export function isUsageOnlyChunk(data: string): boolean {
  if (!data.includes('"usage"') || !USAGE_OBJECT.test(data) || !EMPTY_CHOICES.test(data)) return false;
  try {
    const chunk: unknown = JSON.parse(data);
    if (typeof chunk !== 'object' || chunk === null || Array.isArray(chunk)) return false;
    const { choices, usage } = chunk as { choices?: unknown; usage?: unknown };
    return Array.isArray(choices) && choices.length === 0 && typeof usage === 'object' && usage !== null && !Array.isArray(usage);
  } catch {
    return false;
  }
}

const NULL_USAGE = Buffer.from('"usage":null');
const COMMA = 0x2c;

/**
 * The event without the `"usage":null` member that OpenAI-style APIs add to every chunk once include_usage is on
 * ("all other chunks will also include a usage field, but with a null value"): when arouter injected the flag, the
 * client gets the chunks it would have had without it. Any other shape is left as it is.
 */
export function withoutNullUsage(event: Uint8Array): Uint8Array {
  const buf = Buffer.from(event.buffer, event.byteOffset, event.byteLength);
  // The chunk's own member comes after its choices, which may carry a usage of their own: search from the end.
  const at = buf.lastIndexOf(NULL_USAGE);
  if (at < 0) return event;
  let from = at;
  let to = at + NULL_USAGE.length;
  if (buf[to] === COMMA) to++;
  else if (buf[from - 1] === COMMA) from--;
  else return event;
  return splice(event, from, to);
}
