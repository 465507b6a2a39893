// Reads and replaces a top-level string member of a JSON body in place: every other byte stays as the client sent it.
import { splice } from '../usage/bytes.ts';
import { bomLength, parseJsonOrUndefined, QUOTE } from '../usage/json-bytes.ts';
import { createMemberLocator, type MemberLocator } from '../usage/json-top-level.ts';

const locators = new Map<string, MemberLocator>();
function locatorFor(key: string): MemberLocator {
  let locate = locators.get(key);
  if (!locate) locators.set(key, (locate = createMemberLocator([key])));
  return locate;
}

export interface TopLevelString {
  value: string;
  /** The body with this member's value set to `next`, JSON-encoded; nothing else re-encoded. */
  replaced(next: string): Uint8Array;
}

/**
 * The top-level string member `key` (its last occurrence, which is the one JSON.parse keeps); undefined when the
 * member is absent or not a string, null when the body is not shaped like a JSON object at all.
 */
export function topLevelString(body: Uint8Array, key: string): TopLevelString | undefined | null {
  // A UTF-8 byte order mark before the JSON is allowed (RFC 8259 8.1 lets a parser ignore it) and kept as sent.
  const skip = bomLength(body);
  const found = locatorFor(key)(body.subarray(skip));
  if (found === null) return null;
  const at = found.get(key);
  if (!at || body[skip + at[0]] !== QUOTE) return undefined;
  const start = skip + at[0];
  const end = skip + at[1];
  const value = parseJsonOrUndefined(Buffer.from(body.buffer, body.byteOffset + start, end - start).toString('utf8'));
  if (typeof value !== 'string') return undefined;
  return {
    value,
    replaced: (next) => splice(body, start, end, Buffer.from(JSON.stringify(next))),
  };
}
