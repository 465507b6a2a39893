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
/** The admin API takes the operator's token, which has no business in a browser page: never opened to one. */
const isAdmin = (req: Request): boolean => splitTarget(req.url).slug === 'admin';

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
    if (!ORIGIN.test(o)) throw new Error(`AROUTER_CORS_ORIGINS: ${JSON.stringify(o.slice(0, 100))} is not an origin (scheme://host[:port], no path)`);
    // Browsers send the origin serialized: scheme and host in lower case (WHATWG URL).
    set.add(o.toLowerCase());
  }
  return set;
}

/**
 * Wraps the server's handler with the CORS protocol (Fetch standard, "CORS protocol"). Off (no origins): the handler
 * itself, untouched, so a proxy without browser clients pays nothing. On: a preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) never reaches a route, so it needs no key (browsers send none on it); an allowed
 * origin gets 204 with the method and headers it asked for, any other a 403. Answers to an allowed origin carry
 * arouter's policy, with the provider's own Access-Control-* headers replaced: the browser talks to arouter.
 */
export function withCors(handler: Handler, o: CorsOptions): Handler {
  const allowed = parseCorsOrigins(o.origins);
  if (allowed === null) return handler;
  const allows = (origin: string): boolean => allowed === '*' || allowed.has(origin.toLowerCase());
  const allowOrigin = (origin: string): string => (allowed === '*' ? '*' : origin);

  const preflight = (req: Request, origin: string, method: string): Response => {
    if (!allows(origin) || isAdmin(req)) {
      const requestId = o.newRequestId();
      const err = new ArouterError(403, 'cors_origin_not_allowed', `Origin ${JSON.stringify(origin.slice(0, 200))} may not call this arouter from a browser: its operator lists the allowed origins in AROUTER_CORS_ORIGINS (the admin API is never open to browsers).`);
      o.refused?.(req, requestId, err);
      return errorResponse(err, requestId);
    }
    const headers = new Headers({
      'access-control-allow-origin': allowOrigin(origin),
      'access-control-allow-methods': method,
      'access-control-max-age': PREFLIGHT_MAX_AGE_S,
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    });
    const asked = req.headers.get('access-control-request-headers');
    if (asked) headers.set('access-control-allow-headers', asked);
    return new Response(null, { status: 204, headers });
  };

  const decorate = (res: Response, origin: string, req: Request): Response => {
    const policy = allows(origin) && !isAdmin(req) ? allowOrigin(origin) : null;
    try {
      stampPolicy(res.headers, origin, policy);
      return res;
    } catch {
      // The Fetch standard makes a fetch() Response's headers immutable (Bun does not): answer with a copy sharing the body.
      const copy = new Response(res.body, res);
      stampPolicy(copy.headers, origin, policy);
      return copy;
    }
  };

  return (req) => {
    const origin = req.headers.get('origin');
    if (origin === null) return handler(req);
    const method = req.method === 'OPTIONS' ? req.headers.get('access-control-request-method') : null;
    if (method !== null) return preflight(req, origin, method);
    const res = handler(req);
    return res instanceof Promise ? res.then((r) => decorate(r, origin, req)) : decorate(res, origin, req);
  };
}

/** Drops the provider's Access-Control-* headers and, for an allowed origin, sets arouter's. */
function stampPolicy(h: Headers, origin: string, allowOrigin: string | null): void {
  const providers: string[] = [];
  h.forEach((_v, name) => {
    if (name.startsWith('access-control-')) providers.push(name);
  });
  for (const name of providers) h.delete(name);
  if (allowOrigin === null) return;
  h.set('access-control-allow-origin', allowOrigin);
  // Non-credentialed requests (an arouter key is a header, not a cookie) may read every response header.
  h.set('access-control-expose-headers', '*');
  if (allowOrigin === origin) h.append('vary', 'Origin');
}
