// Header hygiene both ways: hop-by-hop headers (RFC 9110 section 7.6.1) dropped, client keys stripped, credential set.
import { KEY_HEADERS } from '../keys/extract.ts';
import type { ProviderSpec } from '../providers/types.ts';

// RFC 9110 7.6.1 names Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding and Upgrade;
// Trailer and the proxy auth pair are connection-scoped too (RFC 9110 11.7). Host and
// Content-Length are recomputed by fetch for the new connection.
const HOP_BY_HOP = new Set([
  'connection', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate', 'host', 'content-length',
]);
const STRIP_OUTBOUND = new Set<string>([...HOP_BY_HOP, ...KEY_HEADERS, 'accept-encoding', 'forwarded', 'x-forwarded-for', 'x-real-ip']);

/** Extra names listed in a Connection header are hop-by-hop for this message only (RFC 9110 7.6.1). */
function connectionListed(headers: Headers): Set<string> | null {
  const c = headers.get('connection');
  if (!c) return null;
  const out = new Set<string>();
  for (const part of c.split(',')) {
    const n = part.trim().toLowerCase();
    if (n) out.add(n);
  }
  return out;
}

/** Headers for the upstream request. */
export function outboundHeaders(incoming: Headers, provider: ProviderSpec, credential: string, contentLength: number | null): Headers {
  const listed = connectionListed(incoming);
  const out = new Headers();
  incoming.forEach((value, name) => {
    if (STRIP_OUTBOUND.has(name) || listed?.has(name) || name.startsWith('x-arouter-')) return;
    out.append(name, value);
  });
  if (provider.defaultHeaders) {
    for (const [name, value] of Object.entries(provider.defaultHeaders)) if (!out.has(name)) out.set(name, value);
  }
  out.set(provider.credential.header, provider.credential.prefix + credential);
  // We decode upstream bodies to read usage, so ask only for encodings the runtime decodes natively.
  out.set('accept-encoding', 'gzip, deflate, br');
  if (contentLength !== null) out.set('content-length', String(contentLength));
  return out;
}

/**
 * Headers for the client's response. The body has been decoded, so the upstream's
 * content-encoding and content-length no longer describe it.
 */
export function inboundHeaders(upstream: Headers, requestId: string, redact: (s: string) => string): Headers {
  const listed = connectionListed(upstream);
  const out = new Headers();
  const encoded = upstream.has('content-encoding');
  upstream.forEach((value, name) => {
    if (HOP_BY_HOP.has(name) && !(name === 'content-length' && !encoded)) return;
    if (listed?.has(name)) return;
    if (encoded && name === 'content-encoding') return;
    out.append(name, redact(value));
  });
  out.set('x-arouter-request-id', requestId);
  return out;
}
