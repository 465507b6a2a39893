// Stored objects kept per account for keys with storedObjects "own": who made what, checked on every later use.
import type Redis from 'ioredis';
import { ArouterError, badRequest, checkedBodyTooLarge, objectNotFound, storedObjectsRefused } from '../errors.ts';
import { collapseSlashes, METHOD_OVERRIDES, withoutPathParameters } from './stored-objects.ts';
import { asObject, type JsonObject, parseObject } from '../usage/formats/common.ts';
import type { OwnedCollection, StoredObjectRoutes } from '../providers/types.ts';
import type { ForwardCall, Forwarder } from './forward.ts';
import { checkInputFiles } from './batch-input.ts';
import { fold, unreadable } from './body-references.ts';
import { readCheckedBody, strictUtf8Text, type NamedObjectCheck } from './named-objects.ts';
import { preparedAsRead, readWholeChecked } from './request-body.ts';

/** Which account's requests made each object, per provider. */
export interface Ownership {
  owners(provider: string, ids: readonly string[]): Promise<Array<string | null>>;
  /** Records objects as the account's; an object already recorded keeps its owner. */
  claim(provider: string, ids: readonly string[], accountId: string): Promise<void>;
  /**
   * An operator's word on whose objects are (`cli.ts objects assign`): objects made before an account's keys were
   * limited, by a key with the default, or while Redis was unreachable. Unlike a claim it replaces an owner already
   * recorded. Answers each object's owner before.
   */
  assign(provider: string, ids: readonly string[], accountId: string): Promise<Array<string | null>>;
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
    async assign(provider, ids, accountId) {
      const pipe = redis.pipeline();
      for (const id of ids) pipe.set(key(provider, id), accountId, 'EX', OWNER_TTL_S, 'GET');
      const results = (await pipe.exec()) ?? [];
      return results.map(([err, was]) => {
        if (err) throw err;
        return typeof was === 'string' ? was : null;
      });
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
  // Path parameters dropped as the stored-object check drops them (`/v1;x/files/{id}` is that file).
  const collapsed = collapseSlashes(withoutPathParameters(path));
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

export interface OwnedDeps {
  forwarder: Forwarder;
  ownership: Ownership;
  /** Reads what a request body names (a file in a conversation's new items), as on the generation routes. */
  named?: NamedObjectCheck;
  /** Told of objects the provider made that could not be recorded (logged by the runtime). */
  onUnrecorded?(requestId: string, provider: string, ids: readonly string[], accountId: string): void;
  /** Told of an object the provider made whose id arouter could not read from the answer (logged by the runtime). */
  onUnreadableId?(requestId: string, provider: string, accountId: string): void;
}

/**
 * Records objects after the provider made them. The provider has acted, so a failure here does not turn its answer
 * into an error (a retrying client would create and pay for it again): the answer goes out, the objects stay
 * unreachable for the account's keys, and the failure is reported with their ids for an operator to record by hand.
 */
export async function claimAfter(d: OwnedDeps, provider: string, ids: readonly string[], account: string, requestId: string): Promise<void> {
  try {
    await d.ownership.claim(provider, ids, account);
  } catch {
    d.onUnrecorded?.(requestId, provider, ids, account);
  }
}

/**
 * A create request's body as arouter checked it: decoded as strict UTF-8 JSON (uncompressed, a JSON content type) and
 * encoded again, so the provider reads exactly the object whose references were checked. Re-encoding is what makes
 * that hold: a duplicated member (`"input_file_id"` twice, or once spelled with an escape) means one value to
 * JSON.parse and possibly another to the provider's parser, and the copy carries only the one arouter saw.
 */
function checkedCreate(req: Request, body: Uint8Array, fields: readonly string[]): { ids: string[]; body: Uint8Array; create: JsonObject } {
  // A form or other type would be read by the provider's own rules, not as the JSON arouter checked.
  if (!(req.headers.get('content-type') ?? '').toLowerCase().includes('json')) throw unreadable();
  const o = parseObject(strictUtf8Text(req.headers, body));
  if (!o) throw unreadable();
  // A provider whose JSON reader ignores case (Go's encoding/json does) would take `INPUT_FILE_ID` as the reference
  // arouter did not check: a reference field is accepted spelled exactly as declared, and only so.
  const folded = new Set(fields.map(fold));
  const misspelt = Object.keys(o).find((k) => folded.has(fold(k)) && !fields.includes(k));
  if (misspelt !== undefined) {
    throw badRequest(`"${misspelt.slice(0, 64)}" is refused for a key limited to its own objects: write it as ${fields.map((f) => `"${f}"`).join(' or ')}, the only spelling arouter checks.`);
  }
  return { ids: idsIn(o, fields), body: new TextEncoder().encode(JSON.stringify(o)), create: o };
}

/**
 * Forwards a request on an owned collection for a key limited to its account's objects. An object is reached only
 * when the account made it (others get 404, as if it did not exist); a create names only the account's objects and
 * records the new one as the account's; a list answers with the account's objects only (see listOwned). Anything
 * else on an owned collection (a DELETE of the whole collection, a method override) is refused.
 */
export async function forwardOwned(d: OwnedDeps, req: Request, call: ForwardCall, target: OwnedTarget): Promise<Response> {
  const slug = call.provider.slug;
  const account = call.principal.accountId;
  const { collection } = target;
  // A POST run as a GET by the provider's front end would be a list arouter never filtered.
  if (METHOD_OVERRIDES.some((h) => req.headers.has(h))) throw storedObjectsRefused(call.provider.displayName, 'own');
  if (target.id !== null) {
    const [owner] = await d.ownership.owners(slug, [target.id]);
    if (owner !== account) throw objectNotFound();
    const read = await bodyChecked(d, req, call);
    const res = await d.forwarder.forward(req, read ? withBody(call, read, d.forwarder.maxBodyBytes) : call);
    if (collection.derived && req.method === 'GET' && res.ok) await claimAfter(d, slug, idsIn(await answerOf(res), collection.derived), account, call.requestId);
    return res;
  }
  if (req.method === 'POST') {
    const read = await bodyChecked(d, req, call);
    let forwarded = read ? withBody(call, read, d.forwarder.maxBodyBytes) : call;
    if (collection.references) {
      // Bounded like every body arouter reads whole to check (32 MiB): a create is a few hundred bytes.
      const body = read ?? (await readWholeChecked(req, d.forwarder.maxBodyBytes, checkedBodyTooLarge));
      const checked = checkedCreate(req, body, collection.references);
      const owners = await d.ownership.owners(slug, checked.ids);
      if (owners.some((o) => o !== account)) throw objectNotFound();
      // The account's own files, but their lines are requests the provider will run: read like requests.
      if (collection.inputLines && d.named) await checkInputFiles({ forwarder: d.forwarder, named: d.named }, req, call, collection.inputLines, checked.ids);
      forwarded = withBody(call, checked.body, d.forwarder.maxBodyBytes);
    }
    const res = await d.forwarder.forward(req, forwarded);
    if (res.ok) {
      const created = await answerOf(res);
      await claimAfter(d, slug, [...idsIn(created, ['id']), ...idsIn(created, collection.derived ?? [])], account, call.requestId);
    }
    return res;
  }
  if (req.method === 'GET' || req.method === 'HEAD') return listOwned(d, req, call, collection, account);
  throw storedObjectsRefused(call.provider.displayName, 'own');
}

/** The body of a request whose path is read for the stored objects it names (a conversation's new items), checked;
 *  undefined for any other request, which goes on as it came. */
async function bodyChecked(d: OwnedDeps, req: Request, call: ForwardCall): Promise<Uint8Array | undefined> {
  if (!d.named?.applies(call.provider, call.path) || req.method === 'GET' || req.method === 'HEAD') return undefined;
  return readCheckedBody(d.named, req, call, d.forwarder.maxBodyBytes);
}

function withBody(call: ForwardCall, body: Uint8Array, maxBytes: number): ForwardCall {
  return { ...call, preparedBody: preparedAsRead(body, { maxBytes, injectUsage: false }) };
}

/** Upstream pages a list reads for the first of the account's objects before it answers with none: each is a
 *  provider call of its own (a usage row with no tokens), so the walk is short. */
const MAX_LIST_PAGES = 5;

/**
 * The provider's list with only the account's objects, its cursors (`first_id`, `last_id`) remade from them: a
 * cursor naming another account's object would hand its id out. A page holding none of the account's objects would
 * end an SDK's paging, so later pages are read (up to MAX_LIST_PAGES, where the collection declares its cursor
 * parameter) until one holds some; the client's next page then starts after the last object it got.
 */
async function listOwned(d: OwnedDeps, req: Request, call: ForwardCall, collection: OwnedCollection, account: string): Promise<Response> {
  const res = await d.forwarder.forward(req, call);
  if (!res.ok || req.method === 'HEAD') return res;
  const headers = new Headers(res.headers);
  headers.delete('content-length');
  let page = listOf(await res.text(), call);
  let kept = await ownedItems(d, call.provider.slug, page.items, account);
  // Forward only: a client paging backwards (`before_id`) gets the page it asked for.
  const walk = collection.after !== undefined && !/[?&]before/.test(call.search);
  for (let n = 1; walk && kept.length === 0 && page.more && page.lastId && n < MAX_LIST_PAGES; n++) {
    const search = withParam(call.search, collection.after!, page.lastId);
    const next = await d.forwarder.forward(req, { ...call, requestId: Bun.randomUUIDv7(), search });
    // A page that fails, or a provider that ignores the cursor, ends the walk with what was read.
    if (!next.ok) {
      await next.body?.cancel();
      break;
    }
    const following = listOf(await next.text(), call);
    if (following.lastId === page.lastId) break;
    page = following;
    kept = await ownedItems(d, call.provider.slug, page.items, account);
  }
  if (collection.derived) await claimAfter(d, call.provider.slug, kept.flatMap((item) => idsIn(item, collection.derived ?? [])), account, call.requestId);
  const answer: JsonObject = { ...page.answer, data: kept };
  if ('first_id' in answer) answer.first_id = kept[0]?.id ?? null;
  if ('last_id' in answer) answer.last_id = kept.at(-1)?.id ?? null;
  // Mistral's lists count the whole shared account.
  if (typeof answer.total === 'number') answer.total = kept.length;
  return new Response(JSON.stringify(answer), { status: res.status, headers });
}

interface ListPage {
  answer: JsonObject;
  items: Array<JsonObject>;
  more: boolean;
  /** The provider's cursor past this page: used only to ask for the next one, never shown. */
  lastId: string | undefined;
}

function listOf(text: string, call: ForwardCall): ListPage {
  const answer = parseObject(text);
  const data = answer?.data;
  // A list arouter cannot read is not passed on: it would show every account's objects.
  if (!answer || !Array.isArray(data)) throw new ArouterError(502, 'provider_unreadable_list', `Could not read ${call.provider.displayName}'s list to keep it to this account's objects.`);
  const items = data.map(asObject).filter((o): o is JsonObject => o !== undefined);
  const last = typeof answer.last_id === 'string' ? answer.last_id : idOf(items.at(-1));
  return { answer, items, more: answer.has_more === true, lastId: last };
}

async function ownedItems(d: OwnedDeps, provider: string, items: Array<JsonObject>, account: string): Promise<Array<JsonObject>> {
  const owners = await d.ownership.owners(provider, items.map((item) => idOf(item) ?? ''));
  return items.filter((item, i) => idOf(item) !== undefined && owners[i] === account);
}

function withParam(search: string, name: string, value: string): string {
  const q = new URLSearchParams(search);
  q.set(name, value);
  return `?${q.toString()}`;
}

/** The JSON object of a small answer, read from a copy so the client still gets every byte. */
async function answerOf(res: Response): Promise<JsonObject | undefined> {
  return parseObject(await res.clone().text());
}

function idOf(item: unknown): string | undefined {
  const id = asObject(item)?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** The ids named by `fields` of an object: each field one id or a list of them. */
export function idsIn(o: JsonObject | undefined, fields: readonly string[]): string[] {
  if (!o) return [];
  const out: string[] = [];
  for (const f of fields) {
    const v = o[f];
    for (const id of Array.isArray(v) ? v : [v]) if (typeof id === 'string' && id !== '') out.push(id);
  }
  return out;
}
