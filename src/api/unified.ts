// One OpenAI-compatible endpoint for every provider: `model: "provider/model"` picks the provider, nothing else changes.
import type { Elysia } from 'elysia';
import { ArouterError, badRequest, errorResponse, providerNotConfigured, storedObjectsRefused, unifiedBodyTooLarge } from '../errors.ts';
import type { Authenticator, Principal } from '../keys/auth.ts';
import { extractClientKey } from '../keys/extract.ts';
import { envName, PROVIDERS, providerBySlug } from '../providers/index.ts';
import { namedObjectCheck, type NamedObjectCheck } from '../proxy/named-objects.ts';
import type { Forwarder } from '../proxy/forward.ts';
import type { RefusalRecorder } from '../proxy/refusals.ts';
import type { ProviderSpec } from '../providers/types.ts';
import { prepareJsonBody, readWholeChecked } from '../proxy/request-body.ts';
import { reachesStoredObjects } from '../proxy/stored-objects.ts';
import { topLevelString } from './json-field.ts';

export interface UnifiedDeps {
  forwarder: Forwarder;
  auth: Authenticator;
  providerKeys: ReadonlyMap<string, string>;
  maxBodyBytes: number;
  newRequestId(): string;
  /** Models per provider slug known to the price table. */
  knownModels(): ReadonlyArray<{ provider: string; model: string }>;
  /** Logs (and counts) a request refused before any provider call; nothing when absent. */
  refused?: RefusalRecorder;
  /** Reads restricted keys' bodies for stored objects they name, as on the provider routes; such keys are refused
   *  any body naming one when absent. */
  named?: NamedObjectCheck;
}

const PREFIXES = PROVIDERS.map((p) => `${p.slug}/`).join(', ');
/** The unified route's own path, logged for its refusals (the provider's path is only chosen from the body). */
const UNIFIED_PATH = '/v1/chat/completions';

export function unifiedRoutes(d: UnifiedDeps) {
  const named = d.named ?? namedObjectCheck(undefined);
  const chat = async (req: Request): Promise<Response> => {
    const requestId = d.newRequestId();
    const startedAt = Date.now();
    let principal: Principal | undefined;
    let provider: ProviderSpec | undefined;
    try {
      principal = await d.auth.authenticate(extractClientKey(req.headers, queryOf(req)));
      // Read whole (the model picks the provider), so bounded as any body arouter reads whole, not by the streaming limit.
      const body = await readWholeChecked(req, d.maxBodyBytes, unifiedBodyTooLarge);
      const member = topLevelString(body, 'model');
      if (member === null) throw badRequest('The body must be a JSON chat completions request.');
      if (member === undefined || !member.value.includes('/')) {
        throw badRequest(`"model" must be "provider/model", e.g. "openai/gpt-4.1-nano". Accepted prefixes: ${PREFIXES}.`);
      }
      const model = member.value;
      const slash = model.indexOf('/');
      provider = providerBySlug(model.slice(0, slash));
      const bare = model.slice(slash + 1);
      if (!provider) throw badRequest(`Unknown provider prefix in model "${model.slice(0, 100)}". Accepted prefixes: ${PREFIXES}.`);
      if (!bare) throw badRequest(`"model" names no model after "${provider.slug}/", e.g. "openai/gpt-4.1-nano".`);
      if (!d.providerKeys.has(provider.slug)) throw providerNotConfigured(provider.slug, `${envName(provider.slug)}_API_KEY`);
      const path = provider.chatCompletionsPath;
      const forwarded = member.replaced(bare);
      const call = { requestId, provider, path, search: '', principal, startedAt };
      if (principal.storedObjects !== true) {
        // As on the provider route: a method override can make this POST a read of the operator's stored objects.
        if (provider.storedObjects && reachesStoredObjects(provider.storedObjects, path, req.method, req.headers)) {
          throw storedObjectsRefused(provider.displayName, principal.storedObjects);
        }
        if (named.applies(provider, path)) await named.check(call, req.headers, forwarded);
      }
      const preparedBody = prepareJsonBody(forwarded, {
        maxBytes: d.maxBodyBytes,
        injectUsage: !!provider.injectStreamUsage?.paths.test(path),
      });
      return await d.forwarder.forward(req, { ...call, preparedBody });
    } catch (err) {
      if (!(err instanceof ArouterError)) throw err;
      d.refused?.(req, requestId, err, { provider, principal, path: UNIFIED_PATH });
      return errorResponse(err, requestId);
    }
  };

  const models = async (req: Request): Promise<Response> => {
    const requestId = d.newRequestId();
    try {
      await d.auth.authenticate(extractClientKey(req.headers, queryOf(req)));
    } catch (err) {
      if (!(err instanceof ArouterError)) throw err;
      d.refused?.(req, requestId, err, { path: '/v1/models' });
      return errorResponse(err, requestId);
    }
    const data = d
      .knownModels()
      .filter((m) => d.providerKeys.has(m.provider))
      .map((m) => ({ id: `${m.provider}/${m.model}`, object: 'model', created: 0, owned_by: m.provider }));
    return new Response(JSON.stringify({ object: 'list', data }), {
      headers: { 'content-type': 'application/json', 'x-arouter-request-id': requestId },
    });
  };

  return (app: Elysia) =>
    app.post('/v1/chat/completions', ({ request }) => chat(request), { parse: 'none' }).get('/v1/models', ({ request }) => models(request));
}

/** The query's parameters when there is a query (a key may ride in ?key=, as on the provider routes). */
function queryOf(req: Request): URLSearchParams | null {
  const q = req.url.indexOf('?');
  return q < 0 ? null : new URLSearchParams(req.url.slice(q));
}
