// Whether a request reaches a provider's stored objects (files, batches, stored responses), for keys kept off them.
import type { StoredObjectRoutes } from '../providers/types.ts';

/**
 * A prefix matches whole segments: what may follow it is the end, or anything but a letter, digit, `-` or `_` (a
 * slash, Gemini's `:method`, and `;params` or `.json` suffixes that a lenient server could strip).
 */
const SEGMENT_CHAR = /[a-z0-9_-]/;

/** Headers Google's front ends (and other frameworks) honour to run a POST as another method. */
export const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'];

/**
 * The path as the most lenient provider router could read it: empty segments collapsed, path parameters dropped from
 * every segment (servlet stacks serve `/v1;x/files` as `/v1/files`, RFC 3986 3.3) and letters folded, so such a
 * server does not let a kept-off key through. Refusing a path that only differs from a stored-object one by case
 * costs nothing; letting one through would leak another account's data.
 */
export function lenientPath(path: string): string {
  return collapseSlashes(withoutPathParameters(path)).toLowerCase();
}

/** Every segment's `;parameters` dropped (RFC 3986 3.3), letters as they are. */
export function withoutPathParameters(path: string): string {
  return path.replace(/;[^/]*/g, '');
}

/** Empty segments collapsed (`/v1//files` is `/v1/files`), letters as they are: ids keep their case. */
export function collapseSlashes(path: string): string {
  return path.replace(/\/{2,}/g, '/');
}

/** The request's method and any it asks to be run as; HEAD is a GET without the content (RFC 9110 9.3.2). */
function methodsOf(method: string, headers: Headers): string[] {
  const out = [method];
  for (const name of METHOD_OVERRIDES) {
    const m = headers.get(name);
    if (m) out.push(m.trim().toUpperCase());
  }
  return out.map((m) => (m === 'HEAD' ? 'GET' : m));
}

export function reachesStoredObjects(routes: StoredObjectRoutes, path: string, method: string, headers: Headers): boolean {
  const p = lenientPath(path);
  for (const prefix of routes.prefixes) {
    if (p.startsWith(prefix) && (p.length === prefix.length || !SEGMENT_CHAR.test(p[prefix.length]!))) return true;
  }
  if (!routes.routes) return false;
  const methods = methodsOf(method, headers);
  return routes.routes.some(
    (r) => methods.some((m) => r.methods.includes(m)) && r.path.test(p) && (!r.header || r.header[1].test(headers.get(r.header[0]) ?? '')),
  );
}
