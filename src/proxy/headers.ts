// Header hygiene both ways: hop-by-hop headers (RFC 9110 section 7.6.1) dropped, client keys stripped, credential set.
import { KEY_HEADERS } from '../keys/extract.ts';
import type { ProviderSpec } from '../providers/types.ts';
import { redactText } from './redact.ts';

// RFC 9110 7.6.1 names Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding and Upgrade;
// Trailer and the proxy auth pair are connection-scoped too (RFC 9110 11.7). Host and
// Content-Length are recomputed by fetch for the new connection.
const HOP_BY_HOP = new Set([
  'connection', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate', 'host', 'content-length',
]);
// HTTP2-Settings goes with an h2c offer (RFC 9113 3.2.1), which arouter declines and does not pass on.
const STRIP_OUTBOUND = new Set<string>([...HOP_BY_HOP, ...KEY_HEADERS, 'accept-encoding', 'forwarded', 'http2-settings']);
/**
 * What load balancers and CDNs in front of arouter say about the client and about themselves: end users' addresses
 * and the gateway's own host names are not the provider's business. Every `x-forwarded-*` goes too.
 */
const CLIENT_ADDRESS = new Set([
  'x-real-ip', 'x-client-ip', 'x-cluster-client-ip', 'cf-connecting-ip', 'cf-connecting-ipv6', 'true-client-ip',
  'fastly-client-ip', 'x-envoy-external-address',
]);

const VIA = '1.1 arouter';

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

/** Headers for the upstream request: the client's list copied natively, then trimmed (cheaper than rebuilding it). */
export function outboundHeaders(incoming: Headers, provider: ProviderSpec, credential: string, contentLength: number | null): Headers {
  const out = new Headers(incoming);
  for (const name of STRIP_OUTBOUND) out.delete(name);
  const listed = connectionListed(incoming);
  if (listed) for (const name of listed) out.delete(name);
  let own: string[] | null = null;
  for (const name of out.keys()) {
    if (name.startsWith('x-arouter-') || name.startsWith('x-forwarded-') || CLIENT_ADDRESS.has(name)) (own ??= []).push(name);
  }
  if (own) for (const name of own) out.delete(name);
  if (provider.defaultHeaders) {
    for (const [name, value] of Object.entries(provider.defaultHeaders)) if (!out.has(name)) out.set(name, value);
  }
  out.set(provider.credential.header, provider.credential.prefix + credential);
  // We decode upstream bodies to read usage, so ask only for encodings the runtime decodes natively.
  out.set('accept-encoding', 'gzip, deflate, br');
  if (contentLength !== null) out.set('content-length', String(contentLength));
  // RFC 9110 7.6.3: a gateway MUST send Via in each inbound request message. Its received-by is a pseudonym, and the
  // entries of hops before arouter are not passed on: the section has an intermediary at a network's edge replace
  // inner host names by pseudonyms, and arouter keeps its clients' network to itself as it does their addresses. The
  // protocol is the one the request came in: Bun's server speaks HTTP/1.1 (a rare HTTP/1.0 request is labelled 1.1).
  out.set('via', VIA);
  return out;
}

/** Codings the runtime's fetch decodes (RFC 9110 8.4.1); x-gzip is gzip's old name. */
const DECODED_CODINGS = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'zstd']);

/**
 * Whether the runtime hands over the answer's body decoded: no coding, or a single one it decodes. A stack of codings
 * (`gzip, gzip`) is decoded once and an unknown one not at all; relayed as they are, such bytes would reach the client
 * unmasked and no longer labelled (the content-encoding is dropped below), so they are refused.
 */
export function bodyDecoded(contentEncoding: string | null): boolean {
  if (contentEncoding === null) return true;
  let codings = 0;
  for (const part of contentEncoding.split(',')) {
    const coding = part.trim().toLowerCase();
    if (coding === '' || coding === 'identity') continue;
    if (!DECODED_CODINGS.has(coding) || ++codings > 1) return false;
  }
  return true;
}

/**
 * Headers for the client's response. The body has been decoded, so the upstream's content-encoding and
 * content-length no longer describe it. The upstream's list is copied natively and then trimmed: building a new
 * list name by name costs more than the rest of the header work together.
 */
export function inboundHeaders(upstream: Headers, requestId: string, secrets: readonly string[]): Headers {
  const out = new Headers(upstream);
  const encoded = upstream.has('content-encoding');
  for (const name of HOP_BY_HOP) if (!(name === 'content-length' && !encoded)) out.delete(name);
  const listed = connectionListed(upstream);
  if (listed) for (const name of listed) out.delete(name);
  if (encoded) out.delete('content-encoding');
  let dirty: string[] | null = null;
  for (const [name, value] of out) if (redactText(value, secrets) !== value) (dirty ??= []).push(name);
  if (dirty) {
    for (const name of dirty) {
      const values = name === 'set-cookie' ? out.getSetCookie() : [out.get(name) ?? ''];
      out.delete(name);
      for (const v of values) out.append(name, redactText(v, secrets));
    }
  }
  out.set('x-arouter-request-id', requestId);
  return out;
}

/**
 * URLs the provider hands out that point back at itself are turned into the same URLs through arouter, as nginx's
 * `proxy_redirect default` does: a client that follows one keeps talking to arouter with its arouter key, instead of
 * sending that key to the provider. Location becomes a path-absolute reference (RFC 9110 10.2.2 allows one), which
 * survives a TLS-terminating load balancer; a provider's URL header must stay absolute, so it gets the client's
 * origin. Anything pointing elsewhere is left as it is.
 */
export function rewriteProviderUrls(
  headers: Headers,
  urlHeaders: readonly string[] | undefined,
  bases: readonly string[],
  slug: string,
  clientOrigin: () => string,
): Array<{ name: string; path: string; url: string }> {
  const location = headers.get('location');
  if (location !== null) {
    const path = providerPath(location, bases);
    if (path !== null) headers.set('location', `/${slug}${path}`);
  }
  const rewritten: Array<{ name: string; path: string; url: string }> = [];
  if (!urlHeaders) return rewritten;
  for (const name of urlHeaders) {
    const value = headers.get(name);
    const path = value === null ? null : providerPath(value, bases);
    if (path === null) continue;
    const url = `${clientOrigin()}/${slug}${path}`;
    headers.set(name, url);
    rewritten.push({ name, path, url });
  }
  return rewritten;
}

/** The path-and-query of a URL on one of the provider's bases (or already path-absolute), else null. */
function providerPath(url: string, bases: readonly string[]): string | null {
  if (url.startsWith('/')) return url.startsWith('//') ? null : url;
  for (const base of bases) if (url.startsWith(base) && (url.length === base.length || '/?#'.includes(url[base.length] as string))) return url.slice(base.length) || '/';
  return null;
}
