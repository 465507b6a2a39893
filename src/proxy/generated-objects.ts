// Objects a generation request makes (OpenAI's stored responses), recorded as the account's for keys limited to
// their own: the id is read from the answer before the client gets it, without holding the answer back.
import type { OwnedCollection, StoredObjectRoutes } from '../providers/types.ts';
import { asObject, parseObject } from '../usage/formats/common.ts';
import { createSseParser } from '../usage/sse.ts';
import type { ForwardCall } from './forward.ts';
import { claimAfter, idsIn, type OwnedDeps } from './owned-objects.ts';
import { lenientPath } from './stored-objects.ts';

/** How much of an answer is read for the made object's id: a stream's first event repeats the request's
 *  instructions and tools, which can be large. */
const GENERATED_ID_MAX_BYTES = 4 * 1024 * 1024;

/** A JSON answer that opens with its `id` (OpenAI's do) is read no further than that. */
const LEADING_ID = /^\s*\{\s*"id"\s*:\s*"([^"\\]{1,256})"/;

type Generated = NonNullable<OwnedCollection['generated']>;

/** The owned collection whose objects a POST to this very path generates (OpenAI's `/v1/responses`), if any. */
function generatedAt(routes: StoredObjectRoutes | undefined, path: string): Generated | undefined {
  const p = lenientPath(path).replace(/\/$/, '');
  return routes?.owned?.find((c) => c.generated && c.path === p)?.generated;
}

/**
 * After a key limited to its own objects made a generation request: the object the provider made becomes the
 * account's before the client holds its id. The answer is read through a tee up to the id (a stream's first event
 * naming it, a JSON answer's leading `id`, else the whole JSON up to the limit). The client gets the answer's
 * headers at once and its bytes, every one of them, once the record is made: a provider that answers and then stalls
 * is seen stalling. An id that cannot be read leaves the object unreachable for the account, and is reported.
 */
export function claimGenerated(d: OwnedDeps, req: Request, call: ForwardCall, res: Response): Response {
  const generated = generatedAt(call.provider.storedObjects, call.path);
  if (!generated || req.method !== 'POST' || !res.ok || !res.body) return res;
  const sse = (res.headers.get('content-type') ?? '').toLowerCase().includes('text/event-stream');
  const [mine, client] = res.body.tee();
  const recorded = (sse ? firstEventId(mine, generated) : jsonId(mine)).then(async (id) => {
    if (id) await claimAfter(d, call.provider.slug, [id], call.principal.accountId, call.requestId);
    else d.onUnreadableId?.(call.requestId, call.provider.slug, call.principal.accountId);
  }).catch(() => {
    // A reporting callback that throws must not keep the answer from the client.
  });
  return new Response(after(recorded, client), { status: res.status, statusText: res.statusText, headers: res.headers });
}

/** The stream's bytes, none of them before `first` settles. */
function after(first: Promise<void>, stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  let ready = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        if (!ready) {
          await first;
          ready = true;
        }
        const r = await reader.read();
        if (r.done) ctrl.close();
        else ctrl.enqueue(r.value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Reads a branch until `enough` says so, the limit, its end or its failure; then lets it go. */
async function readUntil(stream: ReadableStream<Uint8Array>, enough: (chunk: Uint8Array) => boolean): Promise<boolean> {
  const reader = stream.getReader();
  let read = 0;
  try {
    while (read < GENERATED_ID_MAX_BYTES) {
      const r = await reader.read();
      if (r.done) return true;
      read += r.value.byteLength;
      if (enough(r.value)) return false;
    }
    return false;
  } catch {
    // The client's branch sees the same failure.
    return false;
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** The id in the first event of the given type (by its `event:` field or its JSON `type`). */
async function firstEventId(stream: ReadableStream<Uint8Array>, generated: Generated): Promise<string | undefined> {
  let id: string | undefined;
  let found = false;
  const parser = createSseParser((event, data) => {
    if (found) return;
    const o = parseObject(data);
    if (event !== generated.event && o?.type !== generated.event) return;
    found = true;
    let v: unknown = o;
    for (const k of generated.idPath) v = asObject(v)?.[k];
    if (typeof v === 'string' && v !== '') id = v;
  });
  await readUntil(stream, (chunk) => {
    parser.push(chunk);
    return found;
  });
  return id;
}

/** A JSON answer's `id`: from its opening bytes when it leads, else from the whole answer within the limit. */
async function jsonId(stream: ReadableStream<Uint8Array>): Promise<string | undefined> {
  const parts: Uint8Array[] = [];
  let size = 0;
  let leading: string | undefined;
  const ended = await readUntil(stream, (chunk) => {
    parts.push(chunk);
    // Only the opening bytes can hold a leading id: looked at until there are enough of them.
    if (size < 512) leading = LEADING_ID.exec(new TextDecoder().decode(Buffer.concat(parts).subarray(0, 512)))?.[1];
    size += chunk.byteLength;
    return leading !== undefined;
  });
  if (leading !== undefined) return leading;
  return ended ? idsIn(parseObject(new TextDecoder().decode(Buffer.concat(parts))), ['id'])[0] : undefined;
}
