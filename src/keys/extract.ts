// Finds the client's arouter key wherever an SDK puts one, and lists every place it must be stripped from.

/** Headers SDKs put a key in; all are removed before forwarding, whatever they hold. */
export const KEY_HEADERS = ['authorization', 'x-api-key', 'x-goog-api-key', 'api-key'] as const;
/** Query parameter the Gemini SDK (and curl users) may use. */
export const KEY_QUERY_PARAM = 'key';

const BEARER = /^Bearer\s+(.+)$/i;

/**
 * The name of one `name=value` pair of a query string, decoded as URLSearchParams decodes it (so as extractClientKey
 * reads it): what a parameter is called however the client escaped it.
 */
export function queryParamName(pair: string): string {
  const eq = pair.indexOf('=');
  for (const [name] of new URLSearchParams(`${eq < 0 ? pair : pair.slice(0, eq)}=`)) return name;
  return '';
}

/** The first key-looking credential the client sent, preferring an lr_live_ key. */
export function extractClientKey(headers: Headers, searchParams: URLSearchParams | null): string | null {
  let fallback: string | null = null;
  for (const h of KEY_HEADERS) {
    let v = headers.get(h);
    if (!v) continue;
    if (h === 'authorization') {
      const m = BEARER.exec(v);
      if (!m?.[1]) continue;
      v = m[1];
    }
    v = v.trim();
    if (v.startsWith('lr_live_')) return v;
    fallback ??= v;
  }
  const q = searchParams?.get(KEY_QUERY_PARAM);
  if (q) {
    if (q.startsWith('lr_live_')) return q;
    fallback ??= q;
  }
  return fallback;
}
