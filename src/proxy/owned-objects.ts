// Stored objects kept per account for keys with storedObjects "own": who made what, checked on every later use.
import type Redis from 'ioredis';
import { ArouterError, storedObjectsRefused } from '../errors.ts';
import type { OwnedCollection, StoredObjectRoutes } from '../providers/types.ts';
import type { ForwardCall, Forwarder } from './forward.ts';
import { prepareJsonBody, readWholeBody } from './request-body.ts';

/** Which account's requests made each object, per provider. */
export interface Ownership {
  owners(provider: string, ids: readonly string[]): Promise<Array<string | null>>;
  /** Records objects as the account's; an object already recorded keeps its owner. */
  claim(provider: string, ids: readonly string[], accountId: string): Promise<void>;
}

/** Longer than any provider keeps a file or a batch's results (OpenAI's files live until deleted: a year is the
 *  horizon after which an unused record lapses). */
const OWNER_TTL_S = 400 * 86_400;

const storeUnavailable = () =>
  new ArouterError(503, 'ownership_store_unavailable', 'The record of which account made which stored object is unreachable; retry shortly.');

/** In the key store's Redis. Unreachable, it refuses with a 503 rather than guess whose an object is. */
export function redisOwnership(redis: Redis, prefix: string): Ownership {
  const key = (provider: string, id: string) => `${prefix}:owner:${provider}:${id}`;
  return {
    async owners(provider, ids) {
      if (ids.length === 0) return [];
      try {
        return await redis.mget(ids.map((id) => key(provider, id)));
      } catch {
        throw storeUnavailable();
      }
    },
    async claim(provider, ids, accountId) {
      if (ids.length === 0) return;
      const pipe = redis.pipeline();
      for (const id of ids) pipe.set(key(provider, id), accountId, 'EX', OWNER_TTL_S, 'NX');
      const results = await pipe.exec().catch(() => null);
      if (!results || results.some(([err]) => err)) throw storeUnavailable();
    },
  };
}

/** A request on an owned collection: the collection itself (id null) or one of its objects. */
export interface OwnedTarget {
  collection: OwnedCollection;
  id: string | null;
}

/** The owned collection a path reaches, read as leniently as the stored-object check reads it; ids keep their case. */
export function ownedTarget(routes: StoredObjectRoutes, path: string): OwnedTarget | null {
  const collapsed = path.replace(/\/{2,}/g, '/');
  const folded = collapsed.toLowerCase();
  for (const collection of routes.owned ?? []) {
    const p = collection.path;
    if (!folded.startsWith(p)) continue;
    const rest = collapsed.slice(p.length);
    if (rest === '' || rest === '/') return { collection, id: null };
    if (rest[0] !== '/') continue;
    // The id runs to the next segment or method (`/v1/batches/{id}/cancel`, xAI's `{id}:cancel`).
    const id = /^[^/:;]+/.exec(rest.slice(1))?.[0];
    if (id) return { collection, id };
  }
  return null;
}

export const objectNotFound = () =>
  new ArouterError(404, 'object_not_found', "No such object for this arouter account: this key reaches only the stored objects its own account's requests made.");

export interface OwnedDeps {
  forwarder: Forwarder;
  ownership: Ownership;
  maxBodyBytes: number;
}

/**
 * Forwards a request on an owned collection for a key limited to its account's objects. An object is reached only
 * when the account made it (others get 404, as if it did not exist); a create names only the account's objects and
 * records the new one as the account's; a list answers with the account's objects only. The lists keep their
 * cursors (`has_more`, `last_id`), so a page may hold fewer objects, or none, while more follow.
 */
export async function forwardOwned(d: OwnedDeps, req: Request, call: ForwardCall, target: OwnedTarget): Promise<Response> {
  const slug = call.provider.slug;
  const account = call.principal.accountId;
  const { collection } = target;
  if (target.id !== null) {
    const [owner] = await d.ownership.owners(slug, [target.id]);
    if (owner !== account) throw objectNotFound();
    const res = await d.forwarder.forward(req, call);
    if (collection.derived && req.method === 'GET' && res.ok) await d.ownership.claim(slug, idsIn(await answerOf(res), collection.derived), account);
    return res;
  }
  if (req.method === 'POST') {
    let forwarded = call;
    if (collection.references) {
      const body = await readWholeBody(req, d.maxBodyBytes);
      const named = idsIn(parsed(new TextDecoder().decode(body)), collection.references);
      const owners = await d.ownership.owners(slug, named);
      if (owners.some((o) => o !== account)) throw objectNotFound();
      forwarded = { ...call, preparedBody: prepareJsonBody(body, { maxBytes: d.maxBodyBytes, injectUsage: false }) };
    }
    const res = await d.forwarder.forward(req, forwarded);
    if (res.ok) {
      const created = await answerOf(res);
      await d.ownership.claim(slug, [...idsIn(created, ['id']), ...idsIn(created, collection.derived ?? [])], account);
    }
    return res;
  }
  if (req.method === 'GET' || req.method === 'HEAD') return listOwned(d, req, call, account);
  throw storedObjectsRefused(call.provider.displayName);
}

async function listOwned(d: OwnedDeps, req: Request, call: ForwardCall, account: string): Promise<Response> {
  const res = await d.forwarder.forward(req, call);
  if (!res.ok || req.method === 'HEAD') return res;
  const answer = parsed(await res.text());
  const items = answer && Array.isArray(answer.data) ? (answer.data as unknown[]) : null;
  // A list arouter cannot read is not passed on: it would show every account's objects.
  if (!answer || !items) throw new ArouterError(502, 'provider_unreadable_list', `Could not read ${call.provider.displayName}'s list to keep it to this account's objects.`);
  const owners = await d.ownership.owners(call.provider.slug, items.map((item) => idOf(item) ?? ''));
  const kept = items.filter((item, i) => idOf(item) !== undefined && owners[i] === account);
  const headers = new Headers(res.headers);
  headers.delete('content-length');
  return new Response(JSON.stringify({ ...answer, data: kept }), { status: res.status, headers });
}

/** The JSON object of a small answer, read from a copy so the client still gets every byte. */
async function answerOf(res: Response): Promise<Record<string, unknown> | null> {
  return parsed(await res.clone().text());
}

function parsed(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function idOf(item: unknown): string | undefined {
  const id = item !== null && typeof item === 'object' ? (item as { id?: unknown }).id : undefined;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** The ids named by `fields` of an object: each field one id or a list of them. */
function idsIn(o: Record<string, unknown> | null, fields: readonly string[]): string[] {
  if (!o) return [];
  const out: string[] = [];
  for (const f of fields) {
    const v = o[f];
    for (const id of Array.isArray(v) ? v : [v]) if (typeof id === 'string' && id !== '') out.push(id);
  }
  return out;
}
