// Reads which stored objects a JSON request body names (a file in a chat message, a stored response to continue), as
// each provider module declares them.
import { badRequest } from '../errors.ts';
import type { BodyReferences } from '../providers/types.ts';

/** An object a body names, and where: a member's name, or `*` for a pattern read in any string. */
export interface NamedObject {
  member: string;
  id: string;
}

/** What a body names: objects an account can own, objects no arouter account owns, and flags that make an object
 *  the account will own (refused only to keys kept off stored objects). */
export interface NamedObjects {
  owned: NamedObject[];
  unowned: NamedObject[];
  ownerCollects: NamedObject[];
}

/**
 * Reads a JSON text. With `lineBody`, the text is a batch input file's line (`{custom_id, url, body}`): the request
 * is its `lineBody` member, read as a body of its own, which must not be repeated either.
 */
export type BodyReader = (text: string, lineBody?: string) => NamedObjects;

/** The parent of a batch line's own members: matches no declared parent. */
const LINE = '\u0000line';

interface CompiledReference {
  pattern: RegExp | null;
  kind: keyof NamedObjects;
  where: { member: string; values: ReadonlySet<string | null> } | null;
  without: string | null;
  parents: ReadonlySet<string> | null;
}

/**
 * Member names as the most lenient provider parser matches them: Go's encoding/json ignores case with Unicode simple
 * folding, where the long s (U+017F) is an s and the Kelvin sign (U+212A, lowered by toLowerCase) a k.
 */
export const fold = (name: string) => name.toLowerCase().replace(/\u017f/g, 's');

/** A non-empty string: what a member such as `encrypted_content` must hold to stand in for the stored item. */
const hasContent = (v: unknown): boolean => typeof v === 'string' && v.length > 0;

/**
 * Compiles a provider's declaration once. The reader takes the body as text and throws an ArouterError (400) when
 * arouter cannot read it the way the provider will: not a JSON object, or a checked member given twice in one object
 * (JSON allows it, RFC 8259 4; parsers differ on which value wins, so the one arouter checked might not be the one
 * used), in any spelling or case.
 */
export function bodyReferenceReader(spec: BodyReferences): BodyReader {
  const byMember = new Map<string, CompiledReference[]>();
  const anywhere: CompiledReference[] = [];
  // Members whose repetition would let a provider read another value than arouter: the references and their conditions.
  const counted = new Set<string>();
  for (const r of spec.refs) {
    const compiled: CompiledReference = {
      // Global, so one string naming several objects (`fileid://a,fileid://b`) yields each of them.
      pattern: r.pattern ? new RegExp(r.pattern.source, r.pattern.flags.includes('g') ? r.pattern.flags : `${r.pattern.flags}g`) : null,
      kind: r.owned ? 'owned' : r.collectedByOwner ? 'ownerCollects' : 'unowned',
      where: r.where ? { member: fold(r.where[0]), values: new Set(r.where[1]) } : null,
      without: r.without ? fold(r.without) : null,
      parents: r.parents ? new Set(r.parents.map(fold)) : null,
    };
    if (compiled.where) counted.add(compiled.where.member);
    if (compiled.without) counted.add(compiled.without);
    for (const m of r.members) {
      if (m === '*') anywhere.push(compiled);
      else {
        counted.add(fold(m));
        byMember.set(fold(m), [...(byMember.get(fold(m)) ?? []), compiled]);
      }
    }
  }

  // With a batch line's body member counted too, made once per member name rather than once per line.
  const countedInLines = new Map<string, ReadonlySet<string>>();
  const countedWith = (member: string) => {
    let set = countedInLines.get(member);
    if (!set) countedInLines.set(member, (set = new Set([...counted, member])));
    return set;
  };

  return (text, lineBody) => {
    const line = lineBody !== undefined;
    const bodyMember = line ? fold(lineBody) : '';
    const countedHere = line ? countedWith(bodyMember) : counted;
    let root: unknown;
    try {
      root = JSON.parse(text);
    } catch {
      throw unreadable();
    }
    // An array is how Google's `application/json+protobuf` spells an object, with no member names to read.
    if (typeof root !== 'object' || root === null || Array.isArray(root)) throw unreadable();
    const found: NamedObjects = { owned: [], unowned: [], ownerCollects: [] };
    const add = (r: CompiledReference, where: string, value: string) => {
      if (value === '') return;
      const into = found[r.kind];
      if (!r.pattern) return void into.push({ member: where, id: value });
      for (const m of value.matchAll(r.pattern)) into.push({ member: where, id: m[1] ?? m[0] });
    };
    // The parsed body, walked without recursion (a deeply nested body must not overflow the stack), each value with
    // the folded name of the member it sits in ('' for the root; an array's items sit in the array's member).
    let walked = 0;
    const values: unknown[] = [root];
    const parents: string[] = [line ? LINE : ''];
    while (values.length > 0) {
      const v = values.pop();
      const parent = parents.pop()!;
      if (typeof v !== 'object' || v === null) continue;
      if (Array.isArray(v)) {
        for (const item of v) {
          values.push(item);
          parents.push(parent);
        }
        continue;
      }
      const members = Object.entries(v);
      // Checked members by folded name, with the name as the client spelt it (for the error message).
      let seen: Map<string, [string, unknown]> | null = null;
      for (const [k, member] of members) {
        const name = fold(k);
        values.push(member);
        // A batch line's body is a request of its own: its object sits where a body's root does.
        parents.push(parent !== LINE ? name : name === bodyMember ? '' : LINE);
        if (!countedHere.has(name)) continue;
        walked++;
        seen ??= new Map();
        if (seen.has(name)) throw repeated();
        seen.set(name, [k, member]);
      }
      if (!seen || parent === LINE) continue;
      for (const [name, [spelt, member]] of seen) {
        for (const r of byMember.get(name) ?? []) {
          if (r.parents && !r.parents.has(parent)) continue;
          if (r.where && !r.where.values.has(whereValue(seen.get(r.where.member)?.[1]))) continue;
          // Only content that is there spares the lookup: a null or empty one makes the provider read it by id.
          if (r.without && hasContent(seen.get(r.without)?.[1])) continue;
          for (const id of idsOf(member)) add(r, spelt, id);
        }
      }
    }
    // Every string token of the raw text, so a pattern read anywhere also sees the values JSON.parse dropped for a
    // repeated member, and every spelling of a checked member's name is counted.
    let named = 0;
    for (const token of stringTokens(text)) {
      if (token.isName) {
        if (countedHere.has(fold(token.value))) named++;
      } else {
        for (const r of anywhere) add(r, '*', token.value);
      }
    }
    if (named !== walked) throw repeated();
    return found;
  };
}

/** A condition member's value as declared: a string, or null for none (absent or null). */
function whereValue(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

const repeated = () => badRequest('The request body gives a member arouter reads for stored objects twice in one object (in any spelling or case); send it once.');

/** The ids a member's value names: a string or number (MiniMax's file ids), a list of them, or an object's `id`
 *  (`conversation: {id}`). `true` reads as "true", for flags that make a stored object (`background: true`). */
function idsOf(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap(idOf);
  if (typeof v === 'object' && v !== null) return Object.entries(v).flatMap(([k, x]) => (fold(k) === 'id' ? idOf(x) : []));
  return idOf(v);
}

function idOf(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (v === true) return ['true'];
  return typeof v === 'number' && Number.isFinite(v) ? [String(v)] : [];
}

interface StringToken {
  value: string;
  /** Followed by a colon: a member's name rather than a value. */
  isName: boolean;
}

/** Every string of a JSON text that parsed, decoded, in order. Outside strings every quote opens one. */
function* stringTokens(text: string): Generator<StringToken> {
  // The next backslash, found once and reused, so telling escaped strings apart stays linear in the text.
  let slash = text.indexOf('\\');
  let i = text.indexOf('"');
  while (i >= 0) {
    let end = text.indexOf('"', i + 1);
    for (;;) {
      let slashes = 0;
      for (let j = end - 1; text.charCodeAt(j) === 0x5c; j--) slashes++;
      if (slashes % 2 === 0) break;
      end = text.indexOf('"', end + 1);
    }
    if (slash >= 0 && slash < i) slash = text.indexOf('\\', i);
    const escaped = slash >= 0 && slash < end;
    const value = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end);
    let k = end + 1;
    while (k < text.length && isSpace(text.charCodeAt(k))) k++;
    yield { value, isName: text.charCodeAt(k) === 0x3a };
    i = text.indexOf('"', k);
  }
}

/** RFC 8259 2: the four insignificant whitespace characters. */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

export const unreadable = () =>
  badRequest('This key may not name stored objects it does not own, so its request body must be uncompressed UTF-8 JSON.');
