// SSE parser: a byte-level state machine (WHATWG EventSource rules) fed arbitrary chunks, dispatching (event, data).
import { CappedBytes, equalsAt } from './bytes.ts';

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const BOM = new Uint8Array([0xef, 0xbb, 0xbf]);
export const FIELD_DATA = new TextEncoder().encode('data');
const FIELD_EVENT = new TextEncoder().encode('event');
const FIELD_ID = new TextEncoder().encode('id');
// decode() without { stream: true } keeps no state between calls (every value decoded is whole), so one serves all
// parsers and event filters instead of a native decoder per response.
export const sseTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * The first LF or CR at or after a position in one chunk (-1 if none). The native indexOf results are kept and
 * reused until the scan passes them, so a chunk of many short lines costs two searches per line, not per byte.
 */
export function lineEndFinder(chunk: Uint8Array): (from: number) => number {
  let nextLF = -2;
  let nextCR = -2;
  return (i) => {
    if (nextLF !== -1 && nextLF < i) nextLF = chunk.indexOf(LF, i);
    if (nextCR !== -1 && nextCR < i) nextCR = chunk.indexOf(CR, i);
    return nextLF === -1 ? nextCR : nextCR === -1 ? nextLF : Math.min(nextLF, nextCR);
  };
}

/** Called once per event. `truncated`: the data exceeded the limit and only its first bytes are given. */
export type SseEventHandler = (event: string | undefined, data: string, truncated: boolean) => void;

export interface SseParser {
  push(chunk: Uint8Array): void;
  /** End of stream: a pending event is dispatched even without its closing blank line. */
  end(): void;
}

export interface SseParserOptions {
  /** Per-event data limit in bytes; what is beyond it is dropped, never buffered. */
  maxDataBytes?: number;
}

export function createSseParser(onEvent: SseEventHandler, options: SseParserOptions = {}): SseParser {
  const maxData = options.maxDataBytes ?? 1024 * 1024;
  // Only a line split across chunks is copied; the cap keeps one endless line from growing memory.
  const partialLine = new CappedBytes(maxData + 16);
  let bomMatched = 0;
  let bomDecided = false;
  // A CR ended the previous chunk: an LF starting the next one is the same line break, not a blank line.
  let skipLF = false;
  let ended = false;

  let eventType = '';
  // Nearly every event has one data line: it is kept alone, and only further lines make an array.
  let firstData = '';
  let moreData: string[] | null = null;
  let hasData = false;
  let dataBytes = 0;
  let truncated = false;

  function dispatch(): void {
    if (!hasData) {
      eventType = '';
      return;
    }
    const data = moreData === null ? firstData : `${firstData}\n${moreData.join('\n')}`;
    const type = eventType === '' ? undefined : eventType;
    const wasTruncated = truncated;
    eventType = '';
    firstData = '';
    moreData = null;
    hasData = false;
    dataBytes = 0;
    truncated = false;
    onEvent(type, data, wasTruncated);
  }

  /** A data line's value: bytes start..end of buf. */
  function addData(buf: Uint8Array, start: number, end: number, lineTruncated: boolean): void {
    const first = !hasData;
    if (!first) dataBytes += 1; // the '\n' that joins data lines
    hasData = true;
    if (lineTruncated) truncated = true;
    const room = maxData - dataBytes;
    if (room <= 0) {
      truncated = true;
      return;
    }
    if (end - start > room) {
      end = start + room;
      truncated = true;
    }
    const value = sseTextDecoder.decode(buf.subarray(start, end));
    if (first) firstData = value;
    else (moreData ??= []).push(value);
    dataBytes += end - start;
  }

  /** One line, bytes start..end of buf (no line break): lines are taken by position, so no view is made per line. */
  function takeLine(buf: Uint8Array, start: number, end: number, lineTruncated: boolean): void {
    if (start === end) return dispatch();
    if (buf[start] === COLON) return; // comment
    // The longest field name read here has five bytes: a colon further in ends a name that cannot match.
    const limit = Math.min(end, start + FIELD_EVENT.length + 1);
    let nameEnd = start;
    while (nameEnd < limit && buf[nameEnd] !== COLON) nameEnd++;
    if (nameEnd === limit && limit < end) return;
    let valueStart = nameEnd < end ? nameEnd + 1 : end;
    if (valueStart < end && buf[valueStart] === SPACE) valueStart++;
    const nameLength = nameEnd - start;
    if (fieldIs(buf, start, nameLength, FIELD_DATA)) addData(buf, valueStart, end, lineTruncated);
    else if (fieldIs(buf, start, nameLength, FIELD_EVENT)) eventType = sseTextDecoder.decode(buf.subarray(valueStart, end));
    // Dashscope native recordings have no blank line between events: a new id after data starts the next event.
    else if (fieldIs(buf, start, nameLength, FIELD_ID) && hasData) dispatch();
  }

  /** Consumes leading BOM bytes (which may arrive split); returns where content starts in this chunk. */
  function skipBom(chunk: Uint8Array): number {
    let i = 0;
    while (i < chunk.length && bomMatched < BOM.length) {
      if (chunk[i] !== BOM[bomMatched]) {
        bomDecided = true;
        // Not a BOM after all: the bytes matched so far are ordinary line content.
        partialLine.append(BOM.subarray(0, bomMatched));
        return i;
      }
      bomMatched++;
      i++;
    }
    if (bomMatched === BOM.length) bomDecided = true;
    return i;
  }

  function push(chunk: Uint8Array): void {
    if (ended) return;
    const n = chunk.length;
    let i = bomDecided ? 0 : skipBom(chunk);
    if (skipLF && i < n) {
      skipLF = false;
      if (chunk[i] === LF) i++;
    }
    const lineEnd = lineEndFinder(chunk);
    while (i < n) {
      const eol = lineEnd(i);
      if (eol === -1) {
        partialLine.append(chunk.subarray(i));
        return;
      }
      if (partialLine.length > 0 || partialLine.overflowed) {
        partialLine.append(chunk.subarray(i, eol));
        const lineTruncated = partialLine.overflowed;
        const line = partialLine.view();
        partialLine.reset();
        takeLine(line, 0, line.length, lineTruncated);
      } else {
        takeLine(chunk, i, eol, false);
      }
      if (chunk[eol] === CR) {
        if (eol + 1 < n) i = chunk[eol + 1] === LF ? eol + 2 : eol + 1;
        else {
          skipLF = true;
          i = n;
        }
      } else {
        i = eol + 1;
      }
    }
  }

  function end(): void {
    if (ended) return;
    ended = true;
    if (!bomDecided && bomMatched > 0) partialLine.append(BOM.subarray(0, bomMatched));
    if (partialLine.length > 0 || partialLine.overflowed) {
      const lineTruncated = partialLine.overflowed;
      const line = partialLine.view();
      partialLine.reset();
      takeLine(line, 0, line.length, lineTruncated);
    }
    dispatch();
  }

  return { push, end };
}

function fieldIs(buf: Uint8Array, start: number, length: number, name: Uint8Array): boolean {
  return length === name.length && equalsAt(buf, start, name);
}
