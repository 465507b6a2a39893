// Streaming JSON scanner: keeps the raw text of chosen top-level keys (or keys of each top-level array element), bounded.
import { CappedBytes } from './bytes.ts';
import { BACKSLASH, CLOSE_ARRAY, CLOSE_OBJECT, COLON, COMMA, isJsonSpace, OPEN_ARRAY, OPEN_OBJECT, QUOTE } from './json-bytes.ts';

export const MAX_CAPTURED_VALUE_BYTES = 64 * 1024;
const MAX_KEY_BYTES = 256;

const BOM = [0xef, 0xbb, 0xbf];

export interface JsonCaptureResult {
  /** Raw JSON text of each captured key; a later occurrence replaces an earlier one. */
  fields: Record<string, string>;
  /** A chosen value was larger than the cap and was not kept. */
  truncated: boolean;
  /** The body started like JSON: `{` or `[` after an optional BOM and whitespace. */
  sawJson: boolean;
}

/**
 * Chosen values that may outgrow the cap and still hold usage deep inside (Cohere v1's stream-end `response` repeats
 * the whole chat history): read up to `maxBytes`, and when over the cap, kept only as `cut` makes them (null: not kept).
 */
export interface OversizeValues {
  keys: ReadonlySet<string>;
  maxBytes: number;
  cut(key: string, raw: string): string | null;
}

/**
 * A chosen value's text as kept: whole within `maxValueBytes`; past it, and up to `oversize.maxBytes`, as `oversize`
 * cuts it if the cut fits the cap; otherwise not at all (null).
 */
export function keptValue(key: string, raw: string, bytes: number, maxValueBytes: number, oversize: OversizeValues | undefined): string | null {
  if (bytes <= maxValueBytes) return raw;
  if (!oversize || bytes > oversize.maxBytes) return null;
  const small = oversize.cut(key, raw);
  return small !== null && Buffer.byteLength(small) <= maxValueBytes ? small : null;
}

export interface JsonCapture {
  push(chunk: Uint8Array): void;
  finish(): JsonCaptureResult;
  /** Bytes of memory this scanner holds right now, for tests asserting it stays bounded. */
  retainedBytes(): number;
}

/** Where the scanner is inside the object whose keys it watches. */
const enum Slot {
  ExpectKey,
  InKey,
  ExpectColon,
  ExpectValue,
  InContainer,
  InString,
  InScalar,
  AfterValue,
}

export function createJsonCapture(keys: readonly string[], maxValueBytes = MAX_CAPTURED_VALUE_BYTES, oversize?: OversizeValues): JsonCapture {
  const wanted = new Set(keys);
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  const fields: Record<string, string> = {};
  const keyBytes = new CappedBytes(MAX_KEY_BYTES);
  const smallValueBytes = new CappedBytes(maxValueBytes);
  const largeValueBytes = oversize ? new CappedBytes(oversize.maxBytes) : smallValueBytes;
  let valueBytes = smallValueBytes;
  let truncated = false;
  let sawJson = false;

  let bomMatched = 0;
  let started = false; // past the BOM
  let stopped = false; // not JSON, or broken beyond use: ignore the rest
  let depth = 0;
  let arrayTop = false;
  // Depth at which the watched object's keys sit: 1 for a top-level object, 2 for objects inside a top-level array.
  let watchDepth = -1;
  let slot = Slot.ExpectKey;
  let inString = false;
  let escaped = false;
  let key: string | null = null;
  let recording = false;
  let recordKey = '';
  let recordStart = 0;
  let keyStart = 0;
  let chunk: Uint8Array = new Uint8Array(0);

  function beginValue(at: number, kind: Slot): void {
    slot = kind;
    if (key !== null && wanted.has(key)) {
      recording = true;
      recordKey = key;
      recordStart = at;
      valueBytes = oversize?.keys.has(key) ? largeValueBytes : smallValueBytes;
      valueBytes.reset();
    }
  }

  function endValue(endExclusive: number): void {
    slot = Slot.AfterValue;
    if (!recording) return;
    recording = false;
    valueBytes.append(chunk.subarray(recordStart, endExclusive));
    const kept = valueBytes.overflowed ? null : keptValue(recordKey, decoder.decode(valueBytes.view()), valueBytes.length, maxValueBytes, oversize);
    if (kept === null) truncated = true;
    else fields[recordKey] = kept;
    valueBytes.reset();
  }

  function endString(at: number): void {
    if (depth !== watchDepth) return;
    if (slot === Slot.InKey) {
      keyBytes.append(chunk.subarray(keyStart, at));
      key = keyBytes.overflowed ? null : decoder.decode(keyBytes.view());
      keyBytes.reset();
      slot = Slot.ExpectColon;
    } else if (slot === Slot.InString) {
      endValue(at + 1);
    }
  }

  function openContainer(at: number, b: number): void {
    if (depth === 0) {
      sawJson = true;
      arrayTop = b === OPEN_ARRAY;
      watchDepth = arrayTop ? -1 : 1;
      slot = Slot.ExpectKey;
    } else if (depth === watchDepth && slot === Slot.ExpectValue) {
      beginValue(at, Slot.InContainer);
    } else if (arrayTop && depth === 1 && b === OPEN_OBJECT) {
      watchDepth = 2;
      slot = Slot.ExpectKey;
      key = null;
    }
    depth++;
  }

  function closeContainer(at: number): void {
    if (depth === watchDepth && slot === Slot.InScalar) endValue(at);
    depth--;
    if (depth < 0) {
      stopped = true;
      return;
    }
    if (depth === watchDepth && slot === Slot.InContainer) endValue(at + 1);
    // Leaving the watched object (an array element, or the top-level object): nothing is watched until the next one.
    if (depth < watchDepth) watchDepth = -1;
  }

  function scan(from: number): void {
    const n = chunk.length;
    let nextQuote = -2;
    let nextBackslash = -2;
    for (let i = from; i < n && !stopped; i++) {
      if (inString) {
        if (escaped) {
          escaped = false;
          continue;
        }
        // Jump to the next quote or backslash: string bodies (base64, long text) are skipped natively.
        if (nextQuote !== -1 && nextQuote < i) nextQuote = chunk.indexOf(QUOTE, i);
        if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = chunk.indexOf(BACKSLASH, i);
        const stop = nextQuote === -1 ? nextBackslash : nextBackslash === -1 ? nextQuote : Math.min(nextQuote, nextBackslash);
        if (stop === -1) return;
        i = stop;
        if (chunk[i] === BACKSLASH) {
          escaped = true;
          continue;
        }
        inString = false;
        endString(i);
        continue;
      }
      const b = chunk[i] as number;
      if (isJsonSpace(b)) {
        if (depth === watchDepth && slot === Slot.InScalar) endValue(i);
        continue;
      }
      if (depth === 0 && b !== OPEN_OBJECT && b !== OPEN_ARRAY) {
        // Not an object or array, or garbage after one (another object/array after one is accepted: JSON lines).
        stopped = true;
        return;
      }
      switch (b) {
        case QUOTE:
          inString = true;
          if (depth === watchDepth) {
            if (slot === Slot.ExpectKey) {
              slot = Slot.InKey;
              keyStart = i + 1;
              keyBytes.reset();
            } else if (slot === Slot.ExpectValue) {
              beginValue(i, Slot.InString);
            }
          }
          break;
        case OPEN_OBJECT:
        case OPEN_ARRAY:
          openContainer(i, b);
          break;
        case CLOSE_OBJECT:
        case CLOSE_ARRAY:
          closeContainer(i);
          break;
        case COMMA:
          if (depth === watchDepth) {
            if (slot === Slot.InScalar) endValue(i);
            slot = Slot.ExpectKey;
            key = null;
          }
          break;
        case COLON:
          if (depth === watchDepth && slot === Slot.ExpectColon) slot = Slot.ExpectValue;
          break;
        default:
          if (depth === watchDepth && slot === Slot.ExpectValue) beginValue(i, Slot.InScalar);
      }
    }
  }

  function push(input: Uint8Array): void {
    if (stopped || input.length === 0) return;
    chunk = input;
    let from = 0;
    if (!started) {
      while (from < input.length && bomMatched < BOM.length && input[from] === BOM[bomMatched]) {
        bomMatched++;
        from++;
      }
      if (from < input.length) {
        // A partial BOM followed by something else is not JSON.
        if (bomMatched > 0 && bomMatched < BOM.length) {
          stopped = true;
          return;
        }
        started = true;
      }
    }
    if (started) scan(from);
    // Values and keys that continue into the next chunk: keep what this chunk held of them.
    if (recording) {
      valueBytes.append(input.subarray(recordStart));
      recordStart = 0;
    }
    if (inString && slot === Slot.InKey && depth === watchDepth) {
      keyBytes.append(input.subarray(keyStart));
      keyStart = 0;
    }
    chunk = new Uint8Array(0);
  }

  function finish(): JsonCaptureResult {
    stopped = true;
    return { fields: { ...fields }, truncated, sawJson };
  }

  function retainedBytes(): number {
    let total = keyBytes.reserved + smallValueBytes.reserved + (largeValueBytes === smallValueBytes ? 0 : largeValueBytes.reserved);
    for (const k in fields) total += (fields[k] as string).length * 2;
    return total;
  }

  return { push, finish, retainedBytes };
}
