// Byte helpers: compare and splice in place, and a growable buffer with a hard cap (partial lines and captured values
// can never grow memory without bound).

const NONE = new Uint8Array(0);

/** Whether `length` bytes of buf from `at` equal the first `length` bytes of `expected` (compared in place, no copies). */
export function equalsAt(buf: Uint8Array, at: number, expected: Uint8Array, length = expected.length): boolean {
  for (let k = 0; k < length; k++) if (buf[at + k] !== expected[k]) return false;
  return true;
}

/** a followed by b, in a buffer of its own; a itself when b is empty or absent. */
export function concat(a: Uint8Array, b: Uint8Array | null): Uint8Array {
  if (!b || b.byteLength === 0) return a;
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

/** A copy of buf with bytes [from, to) replaced by insert: bodies are edited without decoding or re-encoding them. */
export function splice(buf: Uint8Array, from: number, to: number, insert: Uint8Array = NONE): Uint8Array {
  const out = new Uint8Array(buf.byteLength - (to - from) + insert.byteLength);
  out.set(buf.subarray(0, from), 0);
  out.set(insert, from);
  out.set(buf.subarray(to), from + insert.byteLength);
  return out;
}

export class CappedBytes {
  // Allocated on first use: most streams never split a line or hold an event, and a parser is made per response.
  private buf: Uint8Array = NONE;
  /** Bytes currently held (at most the cap). */
  length = 0;
  /** Some appended bytes were dropped because the cap was reached. */
  overflowed = false;

  constructor(readonly cap: number) {}

  append(src: Uint8Array): void {
    const room = this.cap - this.length;
    if (src.length > room) {
      this.overflowed = true;
      src = src.subarray(0, room);
    }
    if (src.length === 0) return;
    const need = this.length + src.length;
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.min(this.cap, Math.max(need, this.buf.length * 2, 1024)));
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
    }
    this.buf.set(src, this.length);
    this.length = need;
  }

  /** The held bytes; only valid until the next append or reset. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  /** The held bytes in a buffer of their own, safe to hand to someone else. */
  copy(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  /** Bytes of memory reserved, for tests asserting that memory stays bounded. */
  get reserved(): number {
    return this.buf.length;
  }

  reset(): void {
    this.length = 0;
    this.overflowed = false;
    // One huge line must not pin its buffer for the rest of a long stream.
    if (this.buf.length > 64 * 1024) this.buf = NONE;
  }
}
