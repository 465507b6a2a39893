// CORS for browsers calling arouter with an arouter key: preflights answered without a key, the policy set by the operator.
import { ArouterError, errorResponse } from '../errors.ts';
import { splitTarget } from '../proxy/target.ts';

export type Handler = (req: Request) => Response | Promise<Response>;

export interface CorsOptions {
  /** `*`, or origins separated by commas (`https://app.example.com,http://localhost:5173`); '' turns CORS off. */
  origins: string;
  newRequestId(): string;
  /** Records a refused preflight (log line and metric), like every other refusal before a provider call. */
  refused?(req: Request, requestId: string, err: ArouterError): void;
}

/** How long a browser may cache a preflight's answer (Fetch standard, Access-Control-Max-Age); Chromium caps it at 2 h. */
const PREFLIGHT_MAX_AGE_S = '7200';
const ORIGIN = /^https?:\/\/[^/?#\s@]+$/i;
/**
 * The operator's own routes: the admin API takes the operator's token, and health and metrics answer anyone on the
 * network without a key, so a page on any site could read them through a visitor's browser. Never opened to pages.
 */
const OPERATOR_ONLY = new Set(['admin', 'metrics', 'healthz', 'readyz']);
const operatorOnly = (req: Request): boolean => OPERATOR_ONLY.has(splitTarget(req.url).slug);

/** Parses the origins once; throws a message naming the bad entry (never a secret: origins are public). */
export function parseCorsOrigins(origins: string): '*' | ReadonlySet<string> | null {
  const list = origins.split(',').map((o) => o.trim()).filter((o) => o !== '');
  if (list.length === 0) return null;
  if (list.includes('*')) {
    if (list.length > 1) throw new Error('AROUTER_CORS_ORIGINS: "*" stands alone');
    return '*';
  }
  const set = new Set<string>();
  for (const o of list) {
    const url = ORIGIN.test(o) ? URL.parse(o) : null;
    if (!url) throw new Error(`AROUTER_CORS_ORIGINS: ${JSON.stringify(o.slice(0, 100))} is not an origin (scheme://host[:port], no path)`);
    // As browsers serialize it (WHATWG URL): lower case, and no port when it is the scheme's default.
    set.add(url.origin);
  }
  return set;
}

/**
 * Wraps the server's handler with the CORS protocol (Fetch standard, "CORS protocol"). Off (no origins): the handler
 * itself, untouched, so a proxy without browser clients pays nothing. On: a preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) never reaches a route, so it needs no key (browsers send none on it); an allowed
 * origin gets 204 with the method and headers it asked for, any other a 403. Answers to an allowed origin carry
 * arouter's policy, with the provider's own Access-Control-* headers replaced: the browser talks to arouter, and the
 * provider gets no Origin, so it does not apply its own browser rules to the operator's key.
 */
export function withCors(handler: Handler, o: CorsOptions): Handler {
  const allowed = parseCorsOrigins(o.origins);
  if (allowed === null) return handler;
  const allows = (origin: string): boolean => allowed === '*' || allowed.has(origin.toLowerCase());
  const allowOrigin = (origin: string): string => (allowed === '*' ? '*' : origin);
  // With a list, an answer depends on the Origin sent, so caches must key on it, even when none was sent
  // (Fetch standard, "CORS protocol and HTTP caches").
  const varyOnOrigin = allowed !== '*';

  const preflight = (req: Request, origin: string, method: string): Response => {
    const requestId = o.newRequestId();
    if (!allows(origin) || operatorOnly(req)) {
      const err = new ArouterError(403, 'cors_origin_not_allowed', `Origin ${JSON.stringify(origin.slice(0, 200))} may not call this route from a browser: its operator lists the allowed origins in AROUTER_CORS_ORIGINS (the admin API, health and metrics are never open to browsers).`);
      o.refused?.(req, requestId, err);
      return errorResponse(err, requestId, varyOnOrigin ? { vary: 'Origin' } : undefined);
    }
    const headers = new Headers({
      'access-control-allow-origin': allowOrigin(origin),
      'access-control-allow-methods': method,
      'access-control-max-age': PREFLIGHT_MAX_AGE_S,
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
      'x-arouter-request-id': requestId,
    });
    const asked = req.headers.get('access-control-request-headers');
    if (asked) headers.set('access-control-allow-headers', asked);
    // Chromium's Private Network Access: a public page calling an arouter on a private address asks first.
    if (req.headers.get('access-control-request-private-network') === 'true') headers.set('access-control-allow-private-network', 'true');
    return new Response(null, { status: 204, headers });
  };

  const stamped = (res: Response, policy: (h: Headers) => void): Response => {
    try {
      policy(res.headers);
      return res;
    } catch {
      // The Fetch standard makes a fetch() Response's headers immutable (Bun does not): answer with a copy sharing the body.
      const copy = new Response(res.body, res);
      policy(copy.headers);
      return copy;
    }
  };
  const after = (res: Response | Promise<Response>, policy: (h: Headers) => void): Response | Promise<Response> =>
    res instanceof Promise ? res.then((r) => stamped(r, policy)) : stamped(res, policy);
  const varyOnly = (h: Headers): void => h.append('vary', 'Origin');

  return (req) => {
    const origin = req.headers.get('origin');
    if (origin === null) return varyOnOrigin ? after(handler(req), varyOnly) : handler(req);
    const method = req.method === 'OPTIONS' ? req.headers.get('access-control-request-method') : null;
    if (method !== null) return preflight(req, origin, method);
    const granted = allows(origin) && !operatorOnly(req) ? allowOrigin(origin) : null;
    // arouter answers the browser; the provider sees a server's request (Anthropic refuses one with an Origin unless
    // the client opts in with a header of its own, which an OpenAI SDK on the unified endpoint never sends).
    req.headers.delete('origin');
    return after(handler(req), (h) => stampPolicy(h, granted, varyOnOrigin));
  };
}

/** Drops the provider's Access-Control-* headers and, for an allowed origin, sets arouter's. */
function stampPolicy(h: Headers, allowOrigin: string | null, varyOnOrigin: boolean): void {
  const providers: string[] = [];
  h.forEach((_v, name) => {
    if (name.startsWith('access-control-')) providers.push(name);
  });
  for (const name of providers) h.delete(name);
  if (varyOnOrigin) h.append('vary', 'Origin');
  if (allowOrigin === null) return;
  h.set('access-control-allow-origin', allowOrigin);
  // Non-credentialed requests (an arouter key is a header, not a cookie) may read every response header.
  h.set('access-control-expose-headers', '*');
}
