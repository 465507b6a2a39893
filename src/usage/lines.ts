// JSON-lines capture (batch results): a line splitter fed arbitrary byte chunks, each line read by its format and
// its usage summed per model, so memory stays bounded by one line whatever the size of the file.
import { addCounts, zeroCounts } from './formats/common.ts';
import type { LineFormat } from './formats/types.ts';
import type { Capture, LineGroup } from './snippet.ts';

/** A longer line (a huge batched answer) is skipped and the capture flagged truncated. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;
/** Groups at most: distinct models kept apart, lines of any further model summed under the model ''. */
export const MAX_LINE_GROUPS = 64;
/** A model name is cut to this many characters (the worker's schema bound). */
export const MAX_MODEL_CHARS = 256;

const NEWLINE = 0x0a;

export interface LinesCapture {
  push(chunk: Uint8Array): void;
  finish(): Capture;
}

export function createLinesCapture(format: LineFormat): LinesCapture {
  const decoder = new TextDecoder();
  const groups = new Map<string, LineGroup>();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  // Inside a line already over the limit: its bytes are dropped up to its newline.
  let skipping = false;
  let truncated = false;
  let lines = 0;

  const groupFor = (name: string): LineGroup => {
    const model = name.slice(0, MAX_MODEL_CHARS);
    const key = groups.has(model) || groups.size < MAX_LINE_GROUPS - 1 ? model : '';
    if (key !== model) truncated = true;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { model: key, requests: 0, ...zeroCounts() }));
    return g;
  };

  const readLine = (bytes: Uint8Array): void => {
    const line = decoder.decode(bytes).trim();
    if (line === '') return;
    lines++;
    const u = format.read(line);
    if (!u) return;
    const g = groupFor(u.model);
    g.requests++;
    addCounts(g, u.counts);
  };

  const joined = (tail: Uint8Array): Uint8Array => {
    if (pending.length === 0) return tail;
    const out = new Uint8Array(pendingBytes + tail.byteLength);
    let at = 0;
    for (const p of pending) {
      out.set(p, at);
      at += p.byteLength;
    }
    out.set(tail, at);
    pending = [];
    pendingBytes = 0;
    return out;
  };

  const drop = (): void => {
    pending = [];
    pendingBytes = 0;
    truncated = true;
  };

  const hold = (rest: Uint8Array): void => {
    if (rest.byteLength === 0 || skipping) return;
    if (pendingBytes + rest.byteLength > MAX_LINE_BYTES) {
      drop();
      skipping = true;
      return;
    }
    // A copy: the caller may reuse its chunk's buffer.
    pending.push(rest.slice());
    pendingBytes += rest.byteLength;
  };

  return {
    push(chunk) {
      let from = 0;
      for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, from)) {
        const end = chunk.subarray(from, nl);
        if (skipping) skipping = false;
        else if (pendingBytes + end.byteLength > MAX_LINE_BYTES) drop();
        else readLine(joined(end));
        from = nl + 1;
      }
      hold(chunk.subarray(from));
    },
    finish() {
      // The last line may end without a newline.
      if (!skipping && pendingBytes > 0) readLine(joined(new Uint8Array(0)));
      const capture: Capture = { kind: 'lines', groups: [...groups.values()], lines };
      return truncated ? { ...capture, truncated: true } : capture;
    },
  };
}
