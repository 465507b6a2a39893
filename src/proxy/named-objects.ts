// Restricted keys' requests that may name stored objects in their body, headers or form: refused, or checked against
// the account's own objects, before any provider call. Naming an object by id reaches it as surely as its path does.
import { badRequest, checkedBodyTooLarge, objectNotFound, storedObjectNamed } from '../errors.ts';
import { PROVIDERS } from '../providers/index.ts';
import type { ProviderSpec } from '../providers/types.ts';
import { bodyReferenceReader, fold, unreadable, type BodyReader, type NamedObjects } from './body-references.ts';
import type { ForwardCall } from './forward.ts';
import type { Ownership } from './owned-objects.ts';
import { CHECKED_BODY_MAX_BYTES, readWholeChecked } from './request-body.ts';
import { lenientPath } from './stored-objects.ts';

/** Distinct owned objects one body may name: each is looked up in Redis. */
const MAX_NAMED = 256;

export interface NamedObjectCheck {
  /** Whether a restricted key's request has its body read: a path the provider declares, whatever the method (a
   *  method override could have a provider run any of them as a POST). */
  applies(provider: ProviderSpec, path: string): boolean;
  /** Throws when the request names an object the key may not reach (403, or 404 for another account's own object). */
  check(call: ForwardCall, headers: Headers, body: Uint8Array): Promise<void>;
  /** The same for a request in a batch input file's line (its path already known to be read). */
  checkLine(call: ForwardCall, text: string, bodyMember: string): Promise<void>;
}

/** Readers compiled once per provider. Without an ownership store a key limited to its own names nothing stored. */
export function namedObjectCheck(ownership: Ownership | undefined): NamedObjectCheck {
  const readers = new Map<string, BodyReader>();
  for (const p of PROVIDERS) {
    const spec = p.storedObjects?.bodyReferences;
    if (spec) readers.set(p.slug, bodyReferenceReader(spec));
  }
  return {
    applies(provider, path) {
      const spec = provider.storedObjects?.bodyReferences;
      return !!spec && spec.paths.test(lenientPath(path));
    },
    async check(call, headers, body) {
      const read = readers.get(call.provider.slug);
      const spec = call.provider.storedObjects?.bodyReferences;
      const access = call.principal.storedObjects;
      if (!read || !spec || access === true) return;
      const { displayName } = call.provider;
      const header = spec.headers?.find((h) => headers.has(h));
      if (header) throw storedObjectNamed(displayName, header, access);
      // Both callers read bodies with readWholeChecked, which stops at this limit; kept for any caller that does not.
      if (body.byteLength > CHECKED_BODY_MAX_BYTES) throw checkedBodyTooLarge(CHECKED_BODY_MAX_BYTES);
      // No body names nothing (the provider refuses it for its own reasons).
      if (body.byteLength === 0) return;
      if (isForm(headers)) {
        const field = formFieldNaming(headers, body, spec.formFields ?? []);
        if (field) throw storedObjectNamed(displayName, field, access);
        return;
      }
      await judge(call, read(strictUtf8Text(headers, body)));
    },
    async checkLine(call, text, bodyMember) {
      const read = readers.get(call.provider.slug);
      if (read) await judge(call, read(text, bodyMember));
    },
  };

  /** Refuses what the key may not name; the objects an own key may name must be its account's. */
  async function judge(call: ForwardCall, found: NamedObjects): Promise<void> {
    const access = call.principal.storedObjects;
    if (access === true) return;
    const ownKey = access === 'own' && ownership !== undefined;
    const refused = found.unowned[0] ?? (ownKey ? undefined : (found.owned[0] ?? found.ownerCollects[0]));
    if (refused) throw storedObjectNamed(call.provider.displayName, refused.member, access);
    if (found.owned.length === 0 || !ownership) return;
    const ids = [...new Set(found.owned.map((o) => o.id))];
    if (ids.length > MAX_NAMED) throw badRequest(`The request names more than ${MAX_NAMED} stored files.`);
    const owners = await ownership.owners(call.provider.slug, ids);
    if (owners.some((o) => o !== call.principal.accountId)) throw objectNotFound();
  }
}

const isForm = (headers: Headers) => (headers.get('content-type') ?? '').toLowerCase().startsWith('multipart/form-data');

/**
 * The first form field whose name or one of its bracketed parts (`images[0][file_id]`) is a declared one. Forms are
 * refused where none are declared: a body labelled a form is then not read as JSON, which a lenient provider might.
 */
function formFieldNaming(headers: Headers, body: Uint8Array, fields: readonly string[]): string | undefined {
  if (fields.length === 0) throw badRequest('This endpoint takes JSON: a restricted key may not send it a form.');
  const wanted = new Set(fields.map(fold));
  return formFieldNames(headers, body).find((name) => fold(name).split(/[[\]]+/).some((part) => wanted.has(part)))?.slice(0, 64);
}

/**
 * Every part's field name (RFC 7578 4.2, `Content-Disposition: form-data; name="..."`), read the way the most lenient
 * parser could: header lines unfolded, bare LF line ends taken, parameters split with quoted strings kept whole. A form
 * that could be read more than one way (no boundary, a part with no name, two names or an extended `name*` that
 * RFC 7578 leaves out, no closing delimiter) is refused. Latin-1, so file contents cannot fail the decoding.
 */
function formFieldNames(headers: Headers, body: Uint8Array): string[] {
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(headers.get('content-type') ?? '');
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw unreadableForm();
  const text = new TextDecoder('latin1').decode(body);
  const delimiter = `--${boundary}`;
  const names: string[] = [];
  let at = text.indexOf(delimiter);
  while (at >= 0) {
    at += delimiter.length;
    if (text.startsWith('--', at)) return names;
    const ends = [text.indexOf('\r\n\r\n', at), text.indexOf('\n\n', at)].filter((n) => n >= 0);
    if (ends.length === 0) throw unreadableForm();
    const head = text.slice(at, Math.min(...ends)).replace(/\r?\n[ \t]+/g, ' ');
    const dispositions = head.split(/\r?\n/).filter((line) => /^\s*content-disposition\s*:/i.test(line));
    if (dispositions.length !== 1) throw unreadableForm();
    names.push(nameOf(dispositions[0]!));
    const next = text.indexOf(`\n${delimiter}`, at);
    at = next < 0 ? -1 : next + 1;
  }
  throw unreadableForm();
}

/** The one `name` parameter of a Content-Disposition line. */
function nameOf(line: string): string {
  const names: string[] = [];
  for (const p of line.matchAll(/;\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g)) {
    const key = fold(p[1]!);
    if (key.startsWith('name*')) throw unreadableForm();
    if (key !== 'name') continue;
    const raw = p[2]!.trim();
    names.push(raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
  }
  if (names.length !== 1) throw unreadableForm();
  return names[0]!;
}

const unreadableForm = () => badRequest('This key may not name stored objects it does not own, so its form must give each part one plain name.');

/**
 * The body as the provider will read it: strict UTF-8 (the JSON encoding, RFC 8259 8.1), uncompressed. Another
 * charset or a content coding would have the provider read other text than arouter checked.
 */
export function strictUtf8Text(headers: Headers, body: Uint8Array): string {
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

/**
 * A restricted key's request body on a path whose bodies are read: read whole (up to the checked limit, the lower of
 * it and maxBodyBytes) and checked. Answers the bytes, to be forwarded as read.
 */
export async function readCheckedBody(named: NamedObjectCheck, req: Request, call: ForwardCall, maxBodyBytes: number): Promise<Uint8Array> {
  const body = await readWholeChecked(req, maxBodyBytes, checkedBodyTooLarge);
  await named.check(call, req.headers, body);
  return body;
}
