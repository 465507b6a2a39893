// Builds the outbound URL: always the provider's base plus the client's path; anything that could leave the base is refused.
import { badPath } from '../errors.ts';
import { KEY_QUERY_PARAM, queryParamName } from '../keys/extract.ts';

// Encoded dot, slash, backslash or NUL: legitimate provider paths never need them, and
// RFC 3986 section 6.2.2.2 lets an intermediary decode them, which would let a path climb out of the base. Encoded
// again (%252e) too: a chain that decodes twice would read them the same way.
const ENCODED_DANGER = /%(?:25)*(?:2e|2f|5c|00)/i;
// RFC 3986 section 5.2.4: "." and ".." segments are removed by normalization, i.e. they move across the base.
const DOT_SEGMENT = /(^|\/)\.{1,2}(\/|$)/;
const CONTROL = /[\u0000-\u001f\u007f\s]/;

const PERCENT_OCTET = /%[0-9a-f]{2}/gi;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * A percent-encoded unreserved character (RFC 3986 section 2.3: letters, digits, "-", ".", "_", "~") means the same
 * as the character, and section 6.2.2.2 has normalizers decode it. Decoded here, so the path arouter matches (its
 * usage format: batch results are billed by path) is the path the provider serves: `/v1/files/f/%63ontent` must not
 * read a batch's results without being counted. Every other escape stays as the client wrote it.
 */
function decodeUnreserved(path: string): string {
  if (!path.includes('%')) return path;
  return path.replace(PERCENT_OCTET, (octet) => {
    const c = String.fromCharCode(Number.parseInt(octet.slice(1), 16));
    return UNRESERVED.test(c) ? c : octet;
  });
}

const ENCODED_SLASH = /%2f/i;
/** A part of an id that holds slashes, once its escapes of unreserved characters are read: a name, not dots alone. */
const SLASHED_ID_PART = /^(?!\.+$)[A-Za-z0-9\-._~:@+]+$/;

/**
 * Validates the raw path after the slug ("" or starting with "/") and returns it, unreserved escapes decoded.
 * `slashedId`: the path reads one object by an id that may hold a "/" (Groq's model `openai/gpt-oss-20b`, which SDKs
 * send as `openai%2Fgpt-oss-20b`). Its last segment may then carry %2F, kept as written, between plain names: reading
 * each %2F as a "/", as a provider may, still names a path below the base.
 */
export function checkProviderPath(rest: string, slashedId = false): string {
  if (rest === '') return '/';
  if (rest[0] !== '/') throw badPath('it must start with "/"');
  if (rest.startsWith('//')) throw badPath('"//" would name another host');
  if (rest.includes('\\')) throw badPath('backslashes are not allowed');
  const checked = slashedId ? checkSlashedId(rest) : rest;
  if (ENCODED_DANGER.test(checked)) throw badPath('encoded dots, slashes, backslashes or NUL are not allowed');
  if (DOT_SEGMENT.test(rest)) throw badPath('"." and ".." segments are not allowed');
  if (CONTROL.test(rest)) throw badPath('control characters and spaces are not allowed');
  return decodeUnreserved(rest);
}

/**
 * Refuses a last segment with encoded slashes unless every part between them is a plain name; returns what is left to
 * check for other escapes: the path before it, or the whole path when it holds no encoded slash.
 */
function checkSlashedId(rest: string): string {
  const lastSegment = rest.slice(rest.lastIndexOf('/') + 1);
  if (!ENCODED_SLASH.test(lastSegment)) return rest;
  for (const part of lastSegment.split(ENCODED_SLASH)) {
    if (!SLASHED_ID_PART.test(decodeUnreserved(part))) throw badPath('an id with encoded slashes must be plain names between them');
  }
  return rest.slice(0, rest.length - lastSegment.length);
}

/**
 * Query string without the arouter key parameter (`?key=` is how the Gemini SDK may send it). Every other pair is
 * kept byte for byte: the query reaches the provider as the client wrote it.
 */
export function stripKeyFromQuery(search: string): string {
  if (!search || search === '?') return '';
  // A name can only decode to "key" when spelled out or percent-encoded (k%65y authenticates too).
  if (!search.includes(`${KEY_QUERY_PARAM}=`) && !search.includes('%')) return search;
  const kept = search
    .slice(1)
    .split('&')
    .filter((pair) => !namesKey(pair));
  const s = kept.join('&');
  return s ? `?${s}` : '';
}

/** Decoded as extractClientKey decodes it, so whatever name authenticates is removed. */
function namesKey(pair: string): boolean {
  return queryParamName(pair) === KEY_QUERY_PARAM;
}

/**
 * Splits a request target into slug, path and search without normalizing it
 * (WHATWG URL parsing would silently resolve ".." before we could refuse it).
 */
export function splitTarget(rawUrl: string): { slug: string; rest: string; search: string } {
  let start = 0;
  if (rawUrl[0] !== '/') {
    const scheme = rawUrl.indexOf('://');
    start = scheme >= 0 ? rawUrl.indexOf('/', scheme + 3) : -1;
    if (start < 0) return { slug: '', rest: '', search: '' };
  }
  const q = rawUrl.indexOf('?', start);
  const hash = rawUrl.indexOf('#', start);
  const end = q >= 0 ? q : hash >= 0 ? hash : rawUrl.length;
  const path = rawUrl.slice(start, end);
  const search = q >= 0 ? rawUrl.slice(q, hash > q ? hash : rawUrl.length) : '';
  const slash = path.indexOf('/', 1);
  const slug = slash < 0 ? path.slice(1) : path.slice(1, slash);
  const rest = slash < 0 ? '' : path.slice(slash);
  return { slug, rest, search };
}
