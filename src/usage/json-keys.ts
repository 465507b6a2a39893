// Finds the raw text of chosen top-level keys in a complete JSON object without parsing all of it.
// The usage-bearing keys of a response are few and short while its body is mostly content, so locating each
// key with a native substring search and scanning only around it beats a full JSON.parse several times over.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Most places a key name may appear nested before we give up and let the caller parse everything. */
const MAX_CANDIDATES = 8;

/**
 * Raw JSON text of each wanted key that sits at the top level of the object `text` (last occurrence wins, as in
 * JSON.parse), or null when the body is not a plain object or a key could not be placed with certainty.
 */
export function topLevelFields(text: string, keys: readonly string[]): Record<string, string> | null {
  let start = 0;
  while (start < text.length && isSpace(text.charCodeAt(start))) start++;
  if (text.charCodeAt(start) !== 0x7b /* { */) return null;
  const fields: Record<string, string> = {};
  for (const key of keys) {
    const needle = `"${key}"`;
    let from = text.length;
    let tries = 0;
    for (;;) {
      const at = text.lastIndexOf(needle, from);
      if (at < 0) break;
      if (++tries > MAX_CANDIDATES) return null;
      const found = valueAt(text, at, needle.length);
      if (found === 'not-a-key') {
        from = at - 1;
        continue;
      }
      if (found === null) return null;
      // Whichever side is shorter decides the depth: the prefix from the opening brace, or the suffix after the value.
      const before = at - start <= text.length - found.end;
      const net = before ? netClosers(text, start, at) : netClosers(text, found.end, text.length);
      if (net === null) return null;
      const depth = before ? -net : net;
      if (depth === 1) {
        fields[key] = text.slice(found.start, found.end);
        break;
      }
      from = at - 1;
    }
  }
  return fields;
}

/** The value span after `"key"` at `at`, 'not-a-key' when no colon follows (a string value that looks the same). */
function valueAt(text: string, at: number, len: number): { start: number; end: number } | 'not-a-key' | null {
  // A quote preceded by an odd run of backslashes is inside a string, not a token.
  let bs = 0;
  for (let i = at - 1; i >= 0 && text.charCodeAt(i) === BACKSLASH; i--) bs++;
  if (bs % 2 === 1) return 'not-a-key';
  let i = at + len;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== 0x3a /* : */) return 'not-a-key';
  i++;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  const end = valueEnd(text, i);
  return end === null ? null : { start: i, end };
}

/** End (exclusive) of the JSON value starting at `i`. */
function valueEnd(text: string, i: number): number | null {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return stringEnd(text, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text.charCodeAt(j);
      if (d === QUOTE) {
        const e = stringEnd(text, j);
        if (e === null) return null;
        j = e - 1;
      } else if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        if (--depth === 0) return j + 1;
      }
    }
    return null;
  }
  let j = i;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d === 0x2c || d === 0x7d || d === 0x5d || isSpace(d)) break;
    j++;
  }
  return j > i ? j : null;
}

function stringEnd(text: string, i: number): number | null {
  for (let j = i + 1; j < text.length; j++) {
    const d = text.charCodeAt(j);
    if (d === BACKSLASH) j++;
    else if (d === QUOTE) return j + 1;
  }
  return null;
}

/**
 * Closing minus opening brackets over [from, to), strings skipped; null if a string runs past `to`.
 * From the opening brace to a key this is minus the key's depth; from after a value to the end, a value at
 * depth k shows exactly k more closers than openers.
 */
function netClosers(text: string, from: number, to: number): number | null {
  let net = 0;
  for (let j = from; j < to; j++) {
    const d = text.charCodeAt(j);
    if (d === QUOTE) {
      const e = stringEnd(text, j);
      if (e === null || e > to) return null;
      j = e - 1;
    } else if (d === 0x7b || d === 0x5b) net--;
    else if (d === 0x7d || d === 0x5d) net++;
  }
  return net;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
