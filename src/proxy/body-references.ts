// Stored objects a request body names (a file in a chat message, a stored response to continue), read for keys kept
// off stored objects or limited to their own: naming an object by id reaches it as surely as its own path does.
import { ArouterError, badRequest } from '../errors.ts';
import { PROVIDERS } from '../providers/index.ts';
import type { BodyReferences, ProviderSpec } from '../providers/types.ts';
import type { ForwardCall, Forwarder } from './forward.ts';
import { objectNotFound, type Ownership } from './owned-objects.ts';
import { prepareJsonBody, readWholeBody } from './request-body.ts';
import { collapseSlashes } from './stored-objects.ts';

/** An object a body names, and where: a member's name, or `*` for a pattern read in any string. */
export interface NamedObject {
  member: string;
  id: string;
}

/** What a body names: objects an account can own, and objects no arouter account owns. */
export interface NamedObjects {
  owned: NamedObject[];
  unowned: NamedObject[];
}

export type BodyReader = (text: string) => NamedObjects;

interface CompiledReference {
  members: ReadonlySet<string>;
  pattern: RegExp | null;
  owned: boolean;
  where: readonly [string, string] | null;
}

/**
 * Compiles a provider's declaration once. The reader takes the body as text and throws an ArouterError (400) when
 * arouter cannot read it the way the provider will: not JSON, or a checked member given twice in one object (JSON
 * allows it, RFC 8259 4; parsers differ on which value wins, so the one arouter checked might not be the one used).
 */
export function bodyReferenceReader(spec: BodyReferences): BodyReader {
  const refs: CompiledReference[] = spec.refs.map((r) => ({
    members: new Set(r.members),
    // Global, so one string naming several objects (`fileid://a,fileid://b`) yields each of them.
    pattern: r.pattern ? new RegExp(r.pattern.source, r.pattern.flags.includes('g') ? r.pattern.flags : `${r.pattern.flags}g`) : null,
    owned: r.owned === true,
    where: r.where ?? null,
  }));
  const byMember = new Map<string, CompiledReference[]>();
  const anywhere: CompiledReference[] = [];
  for (const r of refs) {
    if (r.members.has('*')) anywhere.push(r);
    for (const m of r.members) if (m !== '*') byMember.set(m, [...(byMember.get(m) ?? []), r]);
  }
  // Members whose repetition would let a provider read another value than arouter: the references and their conditions.
  const counted = new Set([...byMember.keys(), ...refs.flatMap((r) => (r.where ? [r.where[0]] : []))]);

  return (text) => {
    let root: unknown;
    try {
      root = JSON.parse(text);
    } catch {
      throw unreadable();
    }
    const found: NamedObjects = { owned: [], unowned: [] };
    const add = (r: CompiledReference, where: string, value: string) => {
      if (value === '') return;
      const into = r.owned ? found.owned : found.unowned;
      if (!r.pattern) return void into.push({ member: where, id: value });
      for (const m of value.matchAll(r.pattern)) into.push({ member: where, id: m[1] ?? m[0] });
    };
    // The parsed body, walked without recursion (a deeply nested body must not overflow the stack).
    let walked = 0;
    const stack: unknown[] = [root];
    while (stack.length > 0) {
      const v = stack.pop();
      if (typeof v !== 'object' || v === null) continue;
      if (Array.isArray(v)) {
        for (const item of v) stack.push(item);
        continue;
      }
      for (const [k, member] of Object.entries(v)) {
        stack.push(member);
        if (counted.has(k)) walked++;
        const rs = byMember.get(k);
        if (!rs) continue;
        for (const r of rs) {
          if (r.where && (v as Record<string, unknown>)[r.where[0]] !== r.where[1]) continue;
          for (const id of idsOf(member)) add(r, k, id);
        }
      }
    }
    // Every string token of the raw text, so a pattern read anywhere also sees the values JSON.parse dropped for a
    // repeated member, and every spelling of a checked member's name is counted.
    let named = 0;
    for (const token of stringTokens(text)) {
      if (token.isName) {
        if (counted.has(token.value)) named++;
      } else {
        for (const r of anywhere) add(r, '*', token.value);
      }
    }
    if (named !== walked) throw badRequest('The request body gives a member naming a stored object twice in one object; send it once.');
    return found;
  };
}

/** The ids a member's value names: a string or number (MiniMax's file ids), a list of them, or an object's `id`
 *  (`conversation: {id}`). `true` reads as "true", for flags that make a stored object (`background: true`). */
function idsOf(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap(idOf);
  if (typeof v === 'object' && v !== null) return idOf((v as { id?: unknown }).id);
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

export const storedObjectNamed = (displayName: string, member: string, access: false | 'own') =>
  new ArouterError(
    403,
    'stored_objects_not_allowed',
    `This arouter key may not name or start ${displayName} stored objects in a request (${member === '*' ? 'a stored file' : `"${member.slice(0, 64)}"`}): ` +
      (access === 'own'
        ? 'it reaches only the files and batches its own account made (storedObjects: "own").'
        : "they belong to the operator's provider account, which every arouter account shares (storedObjects: false).") +
      ' Send the request without it: the content itself rather than an id, a response in the foreground.',
  );

export interface NamedObjectCheck {
  /** Whether a restricted key's request has its body read: a method with a body, on a path the provider declares. */
  applies(provider: ProviderSpec, path: string, method: string): boolean;
  /** Throws when the body names an object the key may not reach (403, or 404 for another account's own object). */
  check(call: ForwardCall, headers: Headers, body: Uint8Array): Promise<void>;
}

/** Readers compiled once per provider. Without an ownership store a key limited to its own names nothing stored. */
export function namedObjectCheck(ownership: Ownership | undefined): NamedObjectCheck {
  const readers = new Map<string, BodyReader>();
  for (const p of PROVIDERS) {
    const spec = p.storedObjects?.bodyReferences;
    if (spec) readers.set(p.slug, bodyReferenceReader(spec));
  }
  return {
    applies(provider, path, method) {
      const spec = provider.storedObjects?.bodyReferences;
      return !!spec && (method === 'POST' || method === 'PUT' || method === 'PATCH') && spec.paths.test(collapseSlashes(path).toLowerCase());
    },
    async check(call, headers, body) {
      const read = readers.get(call.provider.slug);
      const access = call.principal.storedObjects;
      if (!read || access === true) return;
      const { displayName, slug } = call.provider;
      const header = call.provider.storedObjects?.bodyReferences?.headers?.find((h) => headers.has(h));
      if (header) throw storedObjectNamed(displayName, header, access);
      // No body names nothing (the provider refuses it for its own reasons).
      if (body.byteLength === 0) return;
      const found = read(decodedBody(headers, body));
      const refused = found.unowned[0] ?? (access === 'own' && ownership ? undefined : found.owned[0]);
      if (refused) throw storedObjectNamed(displayName, refused.member, access);
      if (found.owned.length === 0 || !ownership) return;
      const owners = await ownership.owners(slug, found.owned.map((o) => o.id));
      if (owners.some((o) => o !== call.principal.accountId)) throw objectNotFound();
    },
  };
}

/**
 * The body as the provider will read it: strict UTF-8 (the JSON encoding, RFC 8259 8.1), uncompressed. Another
 * charset or a content coding would have the provider read other text than arouter checked.
 */
function decodedBody(headers: Headers, body: Uint8Array): string {
  const type = (headers.get('content-type') ?? '').toLowerCase();
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/.exec(type)?.[1];
  const coding = headers.get('content-encoding')?.trim().toLowerCase();
  if ((charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') || (coding && coding !== 'identity')) throw unreadable();
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw unreadable();
  }
}

const unreadable = () =>
  badRequest('This key may not name stored objects it does not own, so its request body must be uncompressed UTF-8 JSON.');

/** A restricted key's request whose body may name stored objects: read whole, checked, then forwarded as sent. */
export async function forwardChecked(forwarder: Forwarder, named: NamedObjectCheck, req: Request, call: ForwardCall): Promise<Response> {
  const body = await readWholeBody(req, forwarder.maxBodyBytes);
  await named.check(call, req.headers, body);
  const injectUsage = !!call.provider.injectStreamUsage?.paths.test(call.path);
  return forwarder.forward(req, { ...call, preparedBody: prepareJsonBody(body, { maxBytes: forwarder.maxBodyBytes, injectUsage }) });
}
