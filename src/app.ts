// Composes the HTTP surface (proxy, admin, usage, health, metrics) as one Elysia app, testable with app.handle().
import { Elysia, t } from 'elysia';
import { adminGuard } from './api/admin-auth.ts';
import { ArouterError, errorResponse, keyStoreDown, notFound, storedObjectsRefused, unauthorized, unknownProvider } from './errors.ts';
import type { Authenticator, Principal } from './keys/auth.ts';
import { extractClientKey } from './keys/extract.ts';
import { splitGrant, type UploadGrants } from './keys/upload-grants.ts';
import { ACCOUNT_ID_MAX, ACCOUNT_ID_PATTERN, type KeyStore } from './keys/store.ts';
import type { Logger } from './log.ts';
import { PROVIDERS, providerBySlug } from './providers/index.ts';
import type { ProviderSpec } from './providers/types.ts';
import type { Forwarder } from './proxy/forward.ts';
import { framingError } from './proxy/framing.ts';
import { forwardNamingChecked } from './proxy/checked-forward.ts';
import { namedObjectCheck, type NamedObjectCheck } from './proxy/named-objects.ts';
import { forwardOwned, ownedTarget, type OwnedDeps } from './proxy/owned-objects.ts';
import { refusalRecorder, type RefusalRecorder } from './proxy/refusals.ts';
import { METHOD_OVERRIDES, reachesStoredObjects } from './proxy/stored-objects.ts';
import { checkProviderPath, splitTarget, stripKeyFromQuery } from './proxy/target.ts';

export interface AppDeps {
  forwarder: Forwarder;
  auth: Authenticator;
  keys: KeyStore;
  log: Logger;
  adminToken: string | undefined;
  metrics(): string;
  /** Readiness: key store or outbox usable, and not draining. */
  ready(): Promise<{ ok: boolean; detail: Record<string, boolean> }>;
  /** Extra routes (usage API, unified endpoint) mounted by the runtime. */
  plugins?: ReadonlyArray<(app: Elysia) => unknown>;
  /** The proxy entry, when the caller also serves it ahead of the app (the runtime does); built here otherwise. */
  proxyRoute?: ProxyRoute;
  /** Records every proxied request refused before any provider call (log line and metric); by default the log only. */
  refused?: RefusalRecorder;
  /** Where keys with storedObjects "own" have their objects recorded; without it such keys are kept off entirely. */
  owned?: Omit<OwnedDeps, 'forwarder'>;
  /** Reads restricted keys' request bodies for stored objects they name; built from `owned` when absent. */
  named?: NamedObjectCheck;
  /** Upload grants the forwarder hands out (upload-grants.ts); without them an upload URL needs the arouter key. */
  grants?: UploadGrants;
}

export type ProxyRoute = (req: Request) => Response | Promise<Response> | undefined;

const SLUGS = PROVIDERS.map((p) => p.slug);
/** First path segments that belong to arouter itself, never to a provider. */
const RESERVED = new Set(['healthz', 'readyz', 'metrics', 'admin', 'v1']);

function firstSegment(url: string): string {
  return splitTarget(url).slug;
}

export const newRequestId = (): string => Bun.randomUUIDv7();

const json = (body: unknown, status: number, requestId: string) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'x-arouter-request-id': requestId } });

/**
 * The proxy's entry: a Response (or its promise) for every request that belongs to a provider or must be refused
 * before routing, undefined for arouter's own routes. The server calls it ahead of the framework, so the hot path
 * pays for no routing or context; the app runs it in onRequest too, so app.handle() behaves the same.
 */
export function createProxyRoute(d: Pick<AppDeps, 'forwarder' | 'auth' | 'log' | 'refused' | 'owned' | 'named' | 'grants'>): ProxyRoute {
  const recordRefusal = d.refused ?? refusalRecorder(d.log);
  const named = d.named ?? namedObjectCheck(d.owned?.ownership);
  const owned: OwnedDeps | undefined = d.owned && { ...d.owned, forwarder: d.forwarder, named };
  const proxy = async (req: Request, slug: string, rest: string, search: string): Promise<Response> => {
    const requestId = newRequestId();
    const startedAt = Date.now();
    let provider: ProviderSpec | undefined;
    let path: string | undefined;
    let principal: Principal | undefined;
    try {
      provider = providerBySlug(slug);
      if (!provider) throw unknownProvider(slug, SLUGS);
      path = checkProviderPath(rest, req.method === 'GET' && provider.slashedIdReads?.test(rest) === true);
      const hasQuery = search.length > 1;
      // An upload grant is never forwarded; it stands in for the key only when no key came with the request.
      const granted = hasQuery ? splitGrant(search) : NO_GRANT;
      const clientKey = extractClientKey(req.headers, hasQuery ? new URLSearchParams(granted.search) : null);
      principal =
        clientKey === null && granted.token !== null
          ? await grantPrincipal(d, granted.token, req, provider, `${provider.slug}${path}${granted.search}`)
          : await d.auth.authenticate(clientKey);
      const call = { requestId, provider, path, search: hasQuery ? stripKeyFromQuery(granted.search) : '', principal, startedAt };
      if (principal.storedObjects !== true && provider.storedObjects) {
        if (reachesStoredObjects(provider.storedObjects, path, req.method, req.headers)) {
          const target = principal.storedObjects === 'own' ? ownedTarget(provider.storedObjects, path) : null;
          if (!target || !owned) throw storedObjectsRefused(provider.displayName, principal.storedObjects);
          return await forwardOwned(owned, req, call, target);
        }
        if (named.applies(provider, path)) return await forwardNamingChecked(d.forwarder, named, req, call, owned);
      }
      return await d.forwarder.forward(req, call);
    } catch (err) {
      if (err instanceof ArouterError) {
        recordRefusal(req, requestId, err, { provider, path, principal });
        return errorResponse(err, requestId);
      }
      d.log('error', 'proxy failed', { request_id: requestId, error: err instanceof Error ? err.name : 'unknown' });
      return errorResponse(new ArouterError(500, 'internal_error', 'arouter failed to handle this request.'), requestId);
    }
  };
  return (req) => {
    // Before routing too: the router cannot parse a CONNECT's authority-form target (RFC 9112 3.2.3).
    const framing = framingError(req);
    if (framing) {
      const requestId = newRequestId();
      recordRefusal(req, requestId, framing.error, {});
      return errorResponse(framing.error, requestId, framing.headers);
    }
    const { slug, rest, search } = splitTarget(req.url);
    return providerBySlug(slug) ? proxy(req, slug, rest, search) : undefined;
  };
}

const NO_GRANT = { search: '', token: null };

async function grantPrincipal(d: Pick<AppDeps, 'auth' | 'grants'>, token: string, req: Request, provider: ProviderSpec, target: string): Promise<Principal> {
  let keyHash: string | null = null;
  // Only the session's own methods, asked for plainly: a grant sends bytes to its upload, nothing else.
  const methods = provider.uploadSessions?.methods ?? [];
  if (d.grants && methods.includes(req.method) && !METHOD_OVERRIDES.some((h) => req.headers.has(h))) {
    try {
      keyHash = await d.grants.redeem(token, target);
    } catch {
      throw keyStoreDown();
    }
  }
  if (!keyHash) throw unauthorized('This upload URL carries no valid arouter grant (expired, or made for another URL); start the upload again with your arouter key.');
  return d.auth.authenticateGrant(keyHash, token);
}

export function createApp(d: AppDeps) {
  const requireAdmin = adminGuard(d.adminToken);
  const recordRefusal = d.refused ?? refusalRecorder(d.log);
  const route = d.proxyRoute ?? createProxyRoute(d);

  const extra = new Elysia();
  for (const plugin of d.plugins ?? []) plugin(extra);
  return (
    // normalize off: a body with a property its schema does not allow is refused, not quietly stripped of it.
    new Elysia({ normalize: false })
      // Proxy routes are claimed before routing: the router never sees them (so a "/:slug/*" pattern cannot shadow
      // static routes) and no framework body parsing happens on them.
      .onRequest(({ request }) => route(request))
      // Admin routes are guarded before the framework parses or validates a body: a caller without the token learns
      // nothing about the API, not even its validation rules.
      .onRequest(({ request }) => (firstSegment(request.url) === 'admin' ? (requireAdmin(request, newRequestId()) ?? undefined) : undefined))
      .onError(({ code, error, request }) => {
        const id = newRequestId();
        if (code === 'NOT_FOUND') {
          const seg = firstSegment(request.url);
          if (!seg || RESERVED.has(seg)) return errorResponse(notFound(new URL(request.url).pathname), id);
          // Meant for a provider: refused like the provider routes' other refusals (the slug is the client's text).
          const unknown = unknownProvider(seg, SLUGS);
          recordRefusal(request, id, unknown, {});
          return errorResponse(unknown, id);
        }
        if (code === 'VALIDATION') return errorResponse(new ArouterError(400, 'invalid_request', `Request body failed validation: ${validationSummary(error)}`), id);
        if (code === 'PARSE') return errorResponse(new ArouterError(400, 'invalid_request', 'Request body is not valid JSON.'), id);
        if (error instanceof ArouterError) return errorResponse(error, id);
        d.log('error', 'unhandled error', { request_id: id, code: String(code) });
        return errorResponse(new ArouterError(500, 'internal_error', 'arouter failed to handle this request.'), id);
      })
      .get('/healthz', () => json({ ok: true }, 200, newRequestId()))
      .get('/readyz', async () => {
        const r = await d.ready();
        return json(r, r.ok ? 200 : 503, newRequestId());
      })
      .get('/metrics', () => new Response(d.metrics(), { headers: { 'content-type': 'text/plain; version=0.0.4', 'x-arouter-request-id': newRequestId() } }))
      .post(
        '/admin/keys',
        async ({ body }) => {
          const id = newRequestId();
          const created = await keyStore(() => d.keys.create(body.account, body));
          d.log('info', 'key created', { request_id: id, key_id: created.id, account: created.account });
          return json(created, 201, id);
        },
        {
          body: t.Object({
            account: t.String({ minLength: 1, maxLength: ACCOUNT_ID_MAX, pattern: ACCOUNT_ID_PATTERN }),
            name: t.Optional(t.String({ maxLength: 256 })),
            rpm: t.Optional(t.Integer({ minimum: 0, maximum: RPM_MAX, error: `rpm must be a whole number from 0 to ${RPM_MAX} (0: the pod default)` })),
            storedObjects: t.Optional(t.Union([t.Boolean(), t.Literal('own')])),
          },
          // A misspelt option (stored_objects) must not quietly make a key with the default access.
          { additionalProperties: false }),
        },
      )
      .get('/admin/keys', async ({ query }) => {
        const id = newRequestId();
        const account = typeof query.account === 'string' ? query.account : '';
        if (!account) return errorResponse(new ArouterError(400, 'invalid_request', 'Pass ?account=<account id>.'), id);
        const keys = (await keyStore(() => d.keys.list(account))).map(({ hash: _hash, ...rest }) => rest);
        return json({ account, keys }, 200, id);
      })
      .delete('/admin/keys/:id', async ({ params }) => {
        const id = newRequestId();
        // Elysia hands a malformed percent-escape over as null: no key has such an id.
        const keyId = params.id;
        if (typeof keyId !== 'string') return errorResponse(new ArouterError(404, 'key_not_found', 'No key with that id.'), id);
        const ok = await keyStore(() => d.keys.revoke(keyId));
        if (!ok) return errorResponse(new ArouterError(404, 'key_not_found', `No key with id ${keyId.slice(0, 64)}.`), id);
        d.log('info', 'key revoked', { request_id: id, key_id: keyId });
        return json({ id: keyId, revoked: true }, 200, id);
      })
      .use(extra)
  );
}

/** The CLI's --rpm bound (nine digits). */
const RPM_MAX = 999_999_999;

/** A key-store call of the admin API: Redis unreachable is a 503 the operator can act on, not a 500. */
async function keyStore<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ArouterError) throw err;
    throw keyStoreDown();
  }
}

function validationSummary(error: unknown): string {
  const all = (error as { all?: Array<{ path?: string; message?: string; schema?: { error?: unknown } }> }).all;
  // A field whose schema words its own error says that; the rest are named by path with the validator's message.
  const say = (e: { path?: string; message?: string; schema?: { error?: unknown } }) =>
    typeof e.schema?.error === 'string' ? e.schema.error : `${e.path || '/'} ${e.message ?? ''}`.trim();
  if (Array.isArray(all) && all.length) return all.slice(0, 3).map(say).join('; ');
  return 'see the API docs';
}

export type App = ReturnType<typeof createApp>;
