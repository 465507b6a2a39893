// Usage capture for one response body: SSE or JSON scanning chosen by content type, bounded, and never throwing.
import type { Capture, SseEventRecord } from './snippet.ts';
import type { SseKeep, UsageFormat } from './formats/types.ts';
import { createLinesCapture } from './lines.ts';
import { createJsonCapture, keptValue, MAX_CAPTURED_VALUE_BYTES, type JsonCapture, type OversizeValues } from './json-capture.ts';
import { parseJsonOrUndefined } from './json-bytes.ts';
import { createMemberReader, type MemberReader } from './json-top-level.ts';
import { pickMembers, topLevelMembers, type MemberTree } from './large-event.ts';
import { createSseParser, type SseParser } from './sse.ts';

export const MAX_KEPT_EVENTS = 16;
/** A kept event's data is at most this big; a larger one is cut down to its usage-bearing members first. */
export const MAX_EVENT_DATA_BYTES = MAX_CAPTURED_VALUE_BYTES;
/**
 * Events up to this size are read whole so their usage can be picked out; beyond it an event is dropped and the
 * capture flagged truncated. Only a line that spans chunks is buffered, so memory grows only with events this big.
 */
export const MAX_SSE_EVENT_BYTES = 4 * 1024 * 1024;

export interface UsageCapture {
  feed(chunk: Uint8Array): void;
  /** The capture so far; the first call ends it and later feeds are ignored. */
  finish(): Capture;
}

type BodyKind = 'sse' | 'json' | 'sniff' | 'none';

export function bodyKindOf(contentType: string | null): BodyKind {
  const mime = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (mime === '') return 'sniff';
  if (mime === 'text/event-stream') return 'sse';
  if (mime === 'application/json' || mime.endsWith('+json')) return 'json';
  return 'none';
}

export function createCapture(format: UsageFormat, contentType: string | null): UsageCapture {
  let failure: string | null = null;
  let result: Capture | null = null;
  let body: { push(chunk: Uint8Array): void; finish(): Capture } | null = null;
  try {
    const kind = bodyKindOf(contentType);
    // Batch results come as application/binary or octet-stream: the format, not the content type, says they are lines.
    if (format.lines) body = createLinesCapture(format.lines);
    // A missing content type is sniffed by the JSON scanner itself: it stops at once unless the body opens with { or [.
    else if (kind === 'sse') body = sseBody(format);
    else if (kind === 'json' || kind === 'sniff') body = jsonBody(createJsonCapture(format.jsonKeys, MAX_CAPTURED_VALUE_BYTES, oversizeOf(format)));
  } catch (e) {
    failure = messageOf(e);
  }

  return {
    feed(chunk) {
      if (failure !== null || result !== null || body === null) return;
      try {
        body.push(chunk);
      } catch (e) {
        failure = messageOf(e);
      }
    },
    finish() {
      if (result !== null) return result;
      if (failure === null && body !== null) {
        try {
          result = body.finish();
        } catch (e) {
          failure = messageOf(e);
        }
      }
      result ??= failure !== null ? { kind: 'error', message: failure } : { kind: 'none' };
      body = null;
      return result;
    },
  };
}

/**
 * The capture of a complete JSON object already in memory (a small non-streamed answer, the common case): the wanted
 * members are read as the raw text they arrived in, nothing else is parsed and nothing is re-encoded. Anything else
 * (an array, JSON lines, a BOM, a broken body) goes through the streaming scanner, which keeps raw text the same way.
 */
export function captureWholeBody(format: UsageFormat, contentType: string | null, body: Uint8Array): Capture {
  const kind = bodyKindOf(contentType);
  if ((kind === 'json' || kind === 'sniff') && !format.lines) {
    const members = memberReaderOf(format)(body);
    if (members) return pickFields(members, oversizeOf(format));
  }
  const c = createCapture(format, contentType);
  c.feed(body);
  return c.finish();
}

const memberReaders = new WeakMap<UsageFormat, MemberReader>();
function memberReaderOf(format: UsageFormat): MemberReader {
  let read = memberReaders.get(format);
  if (!read) memberReaders.set(format, (read = createMemberReader(format.jsonKeys)));
  return read;
}

function pickFields(members: ReadonlyMap<string, string>, oversize: OversizeValues | undefined): Capture {
  const fields: Record<string, string> = {};
  let truncated = false;
  for (const [key, raw] of members) {
    const kept = keptValue(key, raw, Buffer.byteLength(raw), MAX_CAPTURED_VALUE_BYTES, oversize);
    if (kept === null) truncated = true;
    else fields[key] = kept;
  }
  return truncated ? { kind: 'json', fields, truncated: true } : { kind: 'json', fields };
}

function jsonBody(scanner: JsonCapture): { push(chunk: Uint8Array): void; finish(): Capture } {
  return {
    push: (chunk) => scanner.push(chunk),
    finish() {
      const r = scanner.finish();
      if (!r.sawJson) return { kind: 'none' };
      return r.truncated ? { kind: 'json', fields: r.fields, truncated: true } : { kind: 'json', fields: r.fields };
    },
  };
}

function sseBody(format: UsageFormat): { push(chunk: Uint8Array): void; finish(): Capture } {
  // Kept events in arrival order; a slot's 'last' replacement moves it to the end, which is its arrival position.
  // A large event in a 'last' slot is cut down only if it survives to the end: a stream that repeats its growing
  // output in every event (Dashscope non-incremental) pays for one parse, not one per event.
  const kept: Array<{ slot: string; record: SseEventRecord; large: boolean }> = [];
  let truncated = false;
  /** Set while the parser hands over what was left unterminated at the end of the stream. */
  let atEnd = false;
  /** An event over the size cap came after the last usage-bearing one kept. */
  let lostSinceKept = false;
  const members = largeEventMembers(format);

  const shrink = (data: string): string | null => {
    const small = pickMembers(data, members);
    return small !== null && Buffer.byteLength(small) <= MAX_EVENT_DATA_BYTES ? small : null;
  };

  function keepEvent(event: string | undefined, data: string, dataTruncated: boolean): void {
    // A cut JSON text can never be parsed, and its usage may have been in the part cut off (usage comes last, so its
    // prefix cannot tell). A later whole usage-bearing event carries the running or final counts, which settles it.
    if (dataTruncated) {
      lostSinceKept = true;
      return;
    }
    const keep: SseKeep | null = format.sseKeep(event, data);
    if (keep === null) return;
    const existing = kept.findIndex((k) => k.slot === keep.slot);
    if (keep.mode === 'first' && existing !== -1) return;
    // An event the stream ended inside (a client gone, a reset) is cut short: it must not replace the last whole one,
    // whose cumulative usage is then the call's lower bound. A stream that merely lacks its final blank line still
    // ends in whole JSON, which does replace it.
    if (atEnd && keep.mode === 'last' && existing !== -1 && parseJsonOrUndefined(data) === undefined) {
      truncated = true;
      return;
    }
    let large = data.length > MAX_EVENT_DATA_BYTES / 3 && Buffer.byteLength(data) > MAX_EVENT_DATA_BYTES;
    if (large && keep.mode !== 'last') {
      const small = shrink(data);
      if (small === null) {
        truncated = true;
        return;
      }
      data = small;
      large = false;
    }
    const record: SseEventRecord = event === undefined ? { data } : { event, data };
    if (keep.mode === 'last' && existing !== -1) kept.splice(existing, 1);
    if (kept.length >= MAX_KEPT_EVENTS) {
      // Appended slots lose their oldest event, which loses nothing: their usage is cumulative or overlaid, so the
      // later events hold it. An event of a slot with no room at all is lost, and the capture says so.
      if (keep.mode !== 'append' || existing === -1) {
        truncated = true;
        return;
      }
      kept.splice(existing, 1);
    }
    kept.push({ slot: keep.slot, record, large });
    lostSinceKept = false;
  }

  const parser: SseParser = createSseParser(keepEvent, { maxDataBytes: MAX_SSE_EVENT_BYTES });
  return {
    push: (chunk) => parser.push(chunk),
    finish() {
      atEnd = true;
      parser.end();
      const events: SseEventRecord[] = [];
      for (const k of kept) {
        if (!k.large) {
          events.push(k.record);
          continue;
        }
        const small = shrink(k.record.data);
        if (small === null) truncated = true;
        else events.push({ ...k.record, data: small });
      }
      return truncated || lostSinceKept ? { kind: 'sse', events, truncated: true } : { kind: 'sse', events };
    },
  };
}

const largeEventTrees = new WeakMap<UsageFormat, MemberTree>();
function largeEventMembers(format: UsageFormat): MemberTree {
  let tree = largeEventTrees.get(format);
  if (!tree) largeEventTrees.set(format, (tree = format.sseLargeEvent ?? topLevelMembers(format.jsonKeys)));
  return tree;
}

const oversizeValues = new WeakMap<UsageFormat, OversizeValues>();
/** The format's large members as the JSON scanner takes them; undefined for the formats that declare none. */
function oversizeOf(format: UsageFormat): OversizeValues | undefined {
  const trees = format.jsonLargeMembers;
  if (!trees) return undefined;
  let o = oversizeValues.get(format);
  if (!o) {
    const cut = (key: string, raw: string): string | null => {
      const tree = trees[key];
      return tree ? pickMembers(raw, tree) : null;
    };
    oversizeValues.set(format, (o = { keys: new Set(Object.keys(trees)), maxBytes: MAX_SSE_EVENT_BYTES, cut }));
  }
  return o;
}

function messageOf(e: unknown): string {
  let message = 'unknown error';
  try {
    message = e instanceof Error ? e.message : String(e);
  } catch {
    // Even describing the error must not throw into the client's stream.
  }
  return `usage capture failed: ${message}`.slice(0, 300);
}
