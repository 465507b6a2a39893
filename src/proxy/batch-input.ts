// A batch's input files, read line by line before the batch is made, for keys limited to their own objects: the
// provider runs each line's request as it is, so a line naming another account's object reaches it like a request.
import { ArouterError, badRequest } from '../errors.ts';
import type { OwnedCollection } from '../providers/types.ts';
import { asObject, type JsonObject } from '../usage/formats/common.ts';
import type { ForwardCall, Forwarder } from './forward.ts';
import type { NamedObjectCheck } from './named-objects.ts';
import { CHECKED_BODY_MAX_BYTES } from './request-body.ts';

type InputLines = NonNullable<OwnedCollection['inputLines']>;

/**
 * Checks every request line of the input files (the account's own, already checked) against what the key may name,
 * as if each were a request at its path. A file arouter cannot read is refused (502): the batch is not made unchecked.
 */
export async function checkInputFiles(
  deps: { forwarder: Forwarder; named: NamedObjectCheck },
  req: Request,
  call: ForwardCall,
  spec: InputLines,
  create: JsonObject,
  fileIds: readonly string[],
): Promise<void> {
  const endpoint = spec.endpoint ? create[spec.endpoint] : undefined;
  for (const id of fileIds) {
    const res = await deps.forwarder.fetchStored(call.provider, spec.content.replace('{id}', encodeURIComponent(id)), req.signal);
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw unreadableInput(call);
    }
    for await (const text of lines(res.body)) {
      let line: JsonObject | undefined;
      try {
        line = asObject(JSON.parse(text));
      } catch {
        line = undefined;
      }
      // A line that is not a JSON object is not a request the provider can run: it fails there, naming nothing.
      if (!line) continue;
      const url = spec.url ? line[spec.url] : endpoint;
      if (typeof url !== 'string' || !deps.named.applies(call.provider, spec.urlPrefix + url)) continue;
      await deps.named.checkLine(call, text, { body: 'body', counted: spec.url ? [spec.url] : [] });
    }
  }
}

const unreadableInput = (call: ForwardCall) =>
  new ArouterError(502, 'provider_unreadable_input', `Could not read the batch's input file from ${call.provider.displayName} to check the requests in it.`);

/** The non-empty lines of a JSON-lines body (LF or CRLF), decoded; a line longer than a request may be is refused. */
async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      pending += r.done ? decoder.decode() : decoder.decode(r.value, { stream: true });
      let start = 0;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
        const line = pending.slice(start, nl).trim();
        if (line) yield line;
        start = nl + 1;
      }
      pending = pending.slice(start);
      if (pending.length > CHECKED_BODY_MAX_BYTES) throw badRequest(`A line of the batch's input file is over ${CHECKED_BODY_MAX_BYTES} bytes.`);
      if (r.done) {
        if (pending.trim()) yield pending.trim();
        return;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
