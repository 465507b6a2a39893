// Requests refused before routing: arouter opens no tunnels and reflects nothing, whatever the path.
import { ArouterError, methodNotAllowed } from '../errors.ts';

/** The contract's methods, plus HEAD and OPTIONS, which carry no risk for a forwarder. */
const ALLOWED = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const ALLOWED_SET = new Set<string>(ALLOWED);
const ALLOW_HEADER = ALLOWED.join(', ');

/**
 * Why arouter must not forward a request (with the headers its answer needs), or null.
 * - CONNECT asks for a tunnel (RFC 9110 9.3.6) and TRACE for a reflection of the request (RFC 9110 9.3.8), which
 *   would echo the provider credential arouter adds; both get 405 with Allow (RFC 9110 15.5.6), as any other method.
 * - An Upgrade header asks to switch protocols (RFC 9110 7.8). A server may ignore it, but a WebSocket client would
 *   then see a plain HTTP answer from the provider; a clear 400 that names the reason is better, and the provider
 *   never sees the request. An offer of h2c alone is ignored, as RFC 9113 3.1's clients expect: Java's HttpClient
 *   makes it on every http:// request and reads the HTTP/1.1 answer (Upgrade and HTTP2-Settings are not forwarded).
 */
export function framingError(req: Request): { error: ArouterError; headers?: Record<string, string> } | null {
  if (!ALLOWED_SET.has(req.method)) {
    // After a CONNECT head Bun reads the rest of the connection as that request's body, so nothing more can be
    // served on it: close it rather than leave it open and deaf.
    const close: Record<string, string> = req.method === 'CONNECT' ? { connection: 'close' } : {};
    return { error: methodNotAllowed(req.method), headers: { allow: ALLOW_HEADER, ...close } };
  }
  const upgrade = req.headers.get('upgrade');
  if (upgrade !== null && !onlyH2c(upgrade)) {
    return {
      error: new ArouterError(400, 'upgrade_not_supported', 'arouter does not switch protocols (WebSocket, h2c): send a plain HTTP/1.1 request without an Upgrade header.'),
    };
  }
  return null;
}

/** Whether every protocol an Upgrade header offers is h2c (HTTP/2 over cleartext), which a server may decline by answering in HTTP/1.1. */
function onlyH2c(upgrade: string): boolean {
  const offers = upgrade.split(',').map((p) => p.trim().toLowerCase()).filter((p) => p !== '');
  return offers.length > 0 && offers.every((p) => p === 'h2c');
}
