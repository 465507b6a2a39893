// Finds and replaces a top-level string field in JSON text without re-encoding the rest of it.

/** Span [start, end) of the raw JSON string token (quotes included) of top-level key `key`, or null. */
export function topLevelStringSpan(text: string, key: string): { start: number; end: number } | null {
  let depth = 0;
  let i = 0;
  const n = text.length;
  let expectKey = false;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      i = skipString(text, i);
      if (depth === 1 && expectKey) {
        const name = text.slice(start + 1, i - 1);
        let j = i;
        while (j < n && isSpace(text.charCodeAt(j))) j++;
        if (text.charCodeAt(j) === 0x3a /* : */) {
          j++;
          while (j < n && isSpace(text.charCodeAt(j))) j++;
          if (name === key && text.charCodeAt(j) === 0x22) return { start: j, end: skipString(text, j) };
          i = j;
          expectKey = false;
          continue;
        }
      }
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      expectKey = c === 0x7b && depth === 1;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2c /* , */ && depth === 1) {
      expectKey = true;
    }
    i++;
  }
  return null;
}

function skipString(text: string, i: number): number {
  i++;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i += 2;
    else if (c === 0x22) return i + 1;
    else i++;
  }
  return i;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The text with the top-level string field `key` set to `value`; null when there is no such string field. */
export function replaceTopLevelString(text: string, key: string, value: string): string | null {
  const span = topLevelStringSpan(text, key);
  if (!span) return null;
  return text.slice(0, span.start) + JSON.stringify(value) + text.slice(span.end);
}
