// Reads chosen top-level members of a JSON object as raw text without parsing the rest (a long prompt is skipped, not built).

import { equalsAt } from './bytes.ts';
import {
  BACKSLASH, CLOSE_ARRAY, CLOSE_OBJECT, COLON, COMMA, isJsonSpace, OPEN_ARRAY, OPEN_OBJECT, parseJsonOrUndefined, QUOTE,
} from './json-bytes.ts';

const textOf = (buf: Uint8Array, start: number, end: number): string => Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8');

function skipSpaces(buf: Uint8Array, i: number): number {
  while (isJsonSpace(buf[i])) i++;
  return i;
}

/** Index just past the string whose opening quote is at `i`, or -1 if it never closes. */
function skipString(buf: Uint8Array, i: number): number {
  for (let q = buf.indexOf(QUOTE, i + 1); q !== -1; q = buf.indexOf(QUOTE, q + 1)) {
    let slashes = 0;
    while (buf[q - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return q + 1;
  }
  return -1;
}

/** Index just past the value starting at `i` (any JSON value), or -1 if the text ends first. */
function skipValue(buf: Uint8Array, i: number): number {
  const first = buf[i];
  if (first === QUOTE) return skipString(buf, i);
  if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) {
    // A number or a literal: it runs to the next delimiter.
    while (i < buf.length && buf[i] !== COMMA && buf[i] !== CLOSE_OBJECT && buf[i] !== CLOSE_ARRAY && !isJsonSpace(buf[i])) i++;
    return i;
  }
  let depth = 0;
  while (i < buf.length) {
    const b = buf[i];
    if (b === QUOTE) {
      i = skipString(buf, i);
      if (i === -1) return -1;
      continue;
    }
    if (b === OPEN_OBJECT || b === OPEN_ARRAY) depth++;
    else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return -1;
}

/** Reads one body: the raw text of each wanted member, or null when the body is not shaped like a JSON object. */
export type MemberReader = (buf: Uint8Array) => Map<string, string> | null;

/** Where each wanted member's value lies in the body: [start, end) byte offsets. */
export type MemberLocator = (buf: Uint8Array) => Map<string, readonly [number, number]> | null;

/**
 * A reader of the named top-level members (the last occurrence wins, as with JSON.parse); the names are encoded once,
 * here. It checks structure only, not that every value is valid JSON: callers parse the small values they read, and
 * a malformed body is the provider's to refuse.
 */
export function createMemberReader(names: readonly string[]): MemberReader {
  const encoded = encodeNames(names);
  return (buf) => {
    const found = new Map<string, string>();
    return walkSafely(buf, encoded, (key, start, end) => found.set(key, textOf(buf, start, end))) ? found : null;
  };
}

/** As createMemberReader, but answers where the values are, so a caller can splice the body without re-encoding it. */
export function createMemberLocator(names: readonly string[]): MemberLocator {
  const encoded = encodeNames(names);
  return (buf) => {
    const found = new Map<string, readonly [number, number]>();
    return walkSafely(buf, encoded, (key, start, end) => found.set(key, [start, end])) ? found : null;
  };
}

const encodeNames = (names: readonly string[]): EncodedName[] => names.map((name) => ({ name, bytes: new TextEncoder().encode(name) }));

// It reads request and response bodies on the client's path, where nothing may throw: a surprise is "unreadable".
function walkSafely(buf: Uint8Array, names: readonly EncodedName[], onMember: (key: string, start: number, end: number) => void): boolean {
  try {
    return walkMembers(buf, names, onMember);
  } catch {
    return false;
  }
}

/** Calls onMember for each wanted top-level member in order; false when the body is not shaped like a JSON object. */
function walkMembers(buf: Uint8Array, names: readonly EncodedName[], onMember: (key: string, start: number, end: number) => void): boolean {
  let i = skipSpaces(buf, 0);
  if (buf[i] !== OPEN_OBJECT) return false;
  i = skipSpaces(buf, i + 1);
  if (buf[i] === CLOSE_OBJECT) return true;
  for (;;) {
    if (buf[i] !== QUOTE) return false;
    const keyEnd = skipString(buf, i);
    if (keyEnd === -1) return false;
    const key = wantedKey(buf, i + 1, keyEnd - 1, names);
    i = skipSpaces(buf, keyEnd);
    if (buf[i] !== COLON) return false;
    const valueStart = skipSpaces(buf, i + 1);
    const valueEnd = skipValue(buf, valueStart);
    if (valueEnd === -1 || valueEnd === valueStart) return false;
    if (key !== undefined) onMember(key, valueStart, valueEnd);
    i = skipSpaces(buf, valueEnd);
    if (buf[i] === CLOSE_OBJECT) return true;
    if (buf[i] !== COMMA) return false;
    i = skipSpaces(buf, i + 1);
  }
}

interface EncodedName {
  name: string;
  bytes: Uint8Array;
}

/** The wanted name a key (bytes start..end, quotes excluded) spells, compared in place: most keys are never decoded. */
function wantedKey(buf: Uint8Array, start: number, end: number, names: readonly EncodedName[]): string | undefined {
  let escaped = false;
  for (let k = start; k < end && !escaped; k++) escaped = buf[k] === BACKSLASH;
  if (escaped) {
    // A key written with escapes ("mod\u0065l") names the same member as its plain spelling.
    const key = parseJsonOrUndefined(textOf(buf, start - 1, end + 1));
    return names.find((n) => n.name === key)?.name;
  }
  const length = end - start;
  return names.find((n) => n.bytes.length === length && equalsAt(buf, start, n.bytes))?.name;
}
