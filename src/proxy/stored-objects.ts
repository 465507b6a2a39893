// Whether a request reaches a provider's stored objects (files, batches, stored responses), for keys kept off them.
import type { StoredObjectRoutes } from '../providers/types.ts';

/** What may follow a prefix for it to match a whole segment (Gemini names methods after a colon: `files/f:download`). */
const SEGMENT_END = new Set(['/', ':']);

/**
 * The path as the most lenient provider router could read it: empty segments collapsed and letters folded, so a
 * server that serves `/v1//Files/` as `/v1/files` does not let a kept-off key through. Refusing a path that only
 * differs from a stored-object one by case costs nothing; letting one through would leak another account's data.
 */
function lenient(path: string): string {
  return path.replace(/\/{2,}/g, '/').toLowerCase();
}

export function reachesStoredObjects(routes: StoredObjectRoutes, path: string, method: string): boolean {
  const p = lenient(path);
  for (const prefix of routes.prefixes) {
    if (p.startsWith(prefix) && (p.length === prefix.length || SEGMENT_END.has(p[prefix.length]!))) return true;
  }
  if (!routes.routes) return false;
  // RFC 9110 9.3.2: HEAD is a GET without the content, so it reaches whatever the GET would.
  const m = method === 'HEAD' ? 'GET' : method;
  return routes.routes.some((r) => r.methods.includes(m) && r.path.test(p));
}
