// Removes secrets (the provider credential, the client's key) from response bytes and header values, and turns
// provider URLs in a body into URLs through arouter, with one streaming replacer.
import { equalsAt } from '../usage/bytes.ts';

const MARK = '[redacted]';
const MIN_SECRET = 8;

export interface Redactor {
  /** For header values and short strings. */
  text(s: string): string;
  /** For body chunks; may hold back a few bytes that could start a secret, released by the next call or flush(). */
  chunk(c: Uint8Array): Uint8Array;
  flush(): Uint8Array | null;
}

const enc = new TextEncoder();
const MARK_BYTES = enc.encode(MARK);

/** A string with every secret (of the redactable length) replaced; the same string when none occurs. */
export function redactText(s: string, secrets: readonly string[]): string {
  let out = s;
  for (const secret of secrets) if (secret.length >= MIN_SECRET && out.includes(secret)) out = out.split(secret).join(MARK);
  return out;
}

/** Whether a complete body holds any needle of at least `minLength`: one native search per needle. */
function includesAny(body: Uint8Array, needles: readonly string[], minLength: number): boolean {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  for (const needle of needles) if (needle.length >= minLength && buf.includes(needle)) return true;
  return false;
}

/** Whether a complete body holds any secret: the common answer, no, costs one native search per secret. */
export function containsSecret(body: Uint8Array, secrets: readonly string[]): boolean {
  return includesAny(body, secrets, MIN_SECRET);
}

/** Whether a complete body holds any of the rewrites' needles. */
export function containsAny(body: Uint8Array, rewrites: readonly Replacement[]): boolean {
  return includesAny(body, rewrites.map(([needle]) => needle), 1);
}

/** A literal byte string and what replaces it. */
export type Replacement = readonly [needle: string, replacement: string];

/**
 * The body replacer for one response: `rewrites` first (provider URLs), then every secret masked, so nothing a
 * rewrite puts in can carry a secret out. Null when there is nothing to replace.
 */
export function createRedactor(secrets: readonly string[], rewrites: readonly Replacement[] = []): Redactor | null {
  const list = secrets.filter((s) => s.length >= MIN_SECRET);
  const pairs = [...rewrites.filter(([needle]) => needle.length > 0), ...list.map((s): Replacement => [s, MARK])];
  if (pairs.length === 0) return null;
  const needles = pairs.map(([n]) => Buffer.from(n));
  const marks = pairs.map(([, r]) => (r === MARK ? MARK_BYTES : enc.encode(r)));
  const longest = Math.max(...needles.map((n) => n.length));
  // Bytes that occur in some needle: a needle's prefix at the end of a chunk is made of these alone.
  const secretByte = new Uint8Array(256);
  for (const n of needles) for (const b of n) secretByte[b] = 1;
  let held: Buffer | null = null;

  const replaceAll = (buf: Buffer): Buffer => {
    for (const [k, n] of needles.entries()) {
      let i = buf.indexOf(n);
      if (i < 0) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (i >= 0) {
        parts.push(buf.subarray(from, i), Buffer.from(marks[k] as Uint8Array));
        from = i + n.length;
        i = buf.indexOf(n, from);
      }
      parts.push(buf.subarray(from));
      buf = Buffer.concat(parts);
    }
    return buf;
  };

  // Longest tail of buf that is a proper prefix of some secret: it may complete in the next chunk. Only the run of
  // secret bytes at the end can be one, so a chunk ending in a newline (every SSE event) is settled by one lookup.
  const partialTail = (buf: Buffer): number => {
    const end = buf.length;
    let run = 0;
    while (run < longest - 1 && run < end && secretByte[buf[end - 1 - run] as number] === 1) run++;
    let best = 0;
    for (const n of needles) {
      for (let len = Math.min(n.length - 1, run); len > best; len--) {
        if (equalsAt(buf, end - len, n, len)) {
          best = len;
          break;
        }
      }
    }
    return best;
  };

  return {
    text: (s) => redactText(s, list),
    chunk(c) {
      let buf = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      if (held) {
        buf = Buffer.concat([held, buf]);
        held = null;
      }
      buf = replaceAll(buf);
      const keep = partialTail(buf);
      if (keep > 0) {
        held = Buffer.from(buf.subarray(buf.length - keep));
        buf = buf.subarray(0, buf.length - keep);
      }
      return buf;
    },
    flush() {
      const h = held;
      held = null;
      return h;
    },
  };
}
