// A batch's input files, read line by line before the batch is made, for keys limited to their own objects: the
// provider runs each line's request as it is, so a line naming another account's object reaches it like a request.
import { ArouterError, badRequest } from '../errors.ts';
import type { OwnedCollection } from '../providers/types.ts';
import { asObject } from '../usage/formats/common.ts';
import type { ForwardCall, Forwarder } from './forward.ts';
import type { NamedObjectCheck } from './named-objects.ts';
import { CHECKED_BODY_MAX_BYTES } from './request-body.ts';

type InputLines = NonNullable<OwnedCollection['inputLines']>;

/** Distinct input files one create may have read: each is a download from the provider. */
const MAX_INPUT_FILES = 20;

/**
 * Line ends other than LF that some JSON-lines readers split on (Python's `str.splitlines()` takes all of these): a
 * line holding one could be two lines to the provider, so it is refused rather than read one way.
 */
const OTHER_LINE_ENDS = /[\r\v\f\u001c-\u001e\u0085\u2028\u2029]/;

/**
 * Checks every request line of the input files (the account's own, already checked) against what the key may name.
 * Every line's body is read, whatever its url: the references are the provider's, and a url arouter did not
 * recognise would otherwise leave a body unread. A line arouter cannot read as a request is refused (400), and so is
 * a file it cannot fetch (502): the batch is not made unchecked.
 */
export async function checkInputFiles(
  deps: { forwarder: Forwarder; named: NamedObjectCheck },
  req: Request,
  call: ForwardCall,
  spec: InputLines,
  fileIds: readonly string[],
): Promise<void> {
  const ids = [...new Set(fileIds)];
  if (ids.length > MAX_INPUT_FILES) throw badRequest(`A batch made by this key may name at most ${MAX_INPUT_FILES} input files.`);
  for (const id of ids) {
    const res = await deps.forwarder.fetchStored(call.provider, spec.content.replace('{id}', encodeURIComponent(id)), req.signal);
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw unreadableInput(call);
    }
    for await (const text of readLines(res.body, req, call)) {
      if (OTHER_LINE_ENDS.test(text)) throw unreadableLine('it holds a line end other than LF');
      let line: unknown;
      try {
        line = JSON.parse(text);
      } catch {
        throw unreadableLine('it is not JSON');
      }
      if (!asObject(asObject(line)?.[spec.body])) throw unreadableLine(`it is not an object with a "${spec.body}" object`);
      await deps.named.checkLine(call, text, spec.body);
    }
  }
}

const unreadableInput = (call: ForwardCall) =>
  new ArouterError(502, 'provider_unreadable_input', `Could not read the batch's input file from ${call.provider.displayName} to check the requests in it.`);

/** The file's lines; a read that fails midway (the deadline, the provider) is the provider's failure, not arouter's. */
async function* readLines(body: ReadableStream<Uint8Array>, req: Request, call: ForwardCall): AsyncGenerator<string> {
  try {
    yield* lines(body);
  } catch (err) {
    if (err instanceof ArouterError) throw err;
    if (req.signal?.aborted) throw new ArouterError(499, 'client_closed_request', 'The client closed the request.');
    throw unreadableInput(call);
  }
}

const unreadableLine = (why: string) =>
  badRequest(`A line of the batch's input file is not a request arouter can read (${why}); this key's batches are read before they are made.`);

/** The non-empty lines of a JSON-lines body (LF or CRLF), decoded; a line longer than a request may be is refused. */
async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      // Only the new text is searched for line ends: a long line read in many chunks is not searched again.
      const searched = pending.length;
      pending += r.done ? decoder.decode() : decoder.decode(r.value, { stream: true });
      let start = 0;
      for (let nl = pending.indexOf('\n', searched); nl >= 0; nl = pending.indexOf('\n', start)) {
        const line = pending.slice(start, nl).replace(/\r$/, '').trim();
        if (line) yield line;
        start = nl + 1;
      }
      pending = pending.slice(start);
      if (pending.length > CHECKED_BODY_MAX_BYTES) throw badRequest(`A line of the batch's input file is over ${CHECKED_BODY_MAX_BYTES} bytes.`);
      if (r.done) {
        if (pending.trim()) yield pending.replace(/\r$/, '').trim();
        return;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
