// A restricted key's request on a path whose bodies are read: checked, forwarded as read, and for a key limited to
// its own objects, what it generates (a stored response) recorded as its account's.
import type { ForwardCall, Forwarder } from './forward.ts';
import { claimGenerated } from './generated-objects.ts';
import { readCheckedBody, type NamedObjectCheck } from './named-objects.ts';
import type { OwnedDeps } from './owned-objects.ts';
import { NO_BODY, preparedAsRead } from './request-body.ts';

export async function forwardNamingChecked(forwarder: Forwarder, named: NamedObjectCheck, req: Request, call: ForwardCall, owned?: OwnedDeps): Promise<Response> {
  const body = await readCheckedBody(named, req, call, forwarder.maxBodyBytes);
  // A GET or HEAD goes without a body, as on every route (a list of models on a declared path, say).
  const preparedBody =
    req.method === 'GET' || req.method === 'HEAD'
      ? NO_BODY
      : preparedAsRead(body, { maxBytes: forwarder.maxBodyBytes, injectUsage: !!call.provider.injectStreamUsage?.paths.test(call.path) });
  const res = await forwarder.forward(req, { ...call, preparedBody });
  return owned && call.principal.storedObjects === 'own' ? claimGenerated(owned, req, call, res) : res;
}
