// A batch's input files read before the batch is made: each line's request checked, a file that cannot be read refused.
import { describe, expect, test } from 'bun:test';
import { ArouterError } from '../../src/errors.ts';
import type { Principal } from '../../src/keys/auth.ts';
import { providerBySlug } from '../../src/providers/index.ts';
import { checkInputFiles } from '../../src/proxy/batch-input.ts';
import type { ForwardCall, Forwarder } from '../../src/proxy/forward.ts';
import { namedObjectCheck } from '../../src/proxy/named-objects.ts';

const openai = providerBySlug('openai')!;
const principal: Principal = { accountId: 'acct-a', keyId: 'k', storedObjects: 'own', secret: 's' };
const call: ForwardCall = { requestId: 'r', provider: openai, path: '/v1/batches', search: '', principal, startedAt: 0 };
const named = namedObjectCheck({ owners: async (_p, ids) => ids.map((id) => (id.startsWith('mine') ? 'acct-a' : 'acct-b')), claim: async () => {}, assign: async () => [] });
const spec = openai.storedObjects!.owned!.find((c) => c.inputLines)!.inputLines!;
const req = new Request('http://x/openai/v1/batches', { method: 'POST' });

/** A forwarder whose stored reads answer with the given bodies, counting them. */
function files(body: (id: string) => ReadableStream<Uint8Array> | string) {
  const fetched: string[] = [];
  const forwarder = {
    fetchStored: async (_p: unknown, path: string) => {
      const id = /files\/([^/]+)\/content/.exec(path)![1]!;
      fetched.push(id);
      return new Response(body(id));
    },
  } as unknown as Forwarder;
  return { deps: { forwarder, named }, fetched };
}

const line = (body: unknown) => JSON.stringify({ custom_id: 'c', method: 'POST', url: '/v1/responses', body });
const outcome = (p: Promise<void>) => p.then(() => 'ok', (e: unknown) => (e instanceof ArouterError ? `${e.status} ${e.code}` : String(e)));

describe('checkInputFiles', () => {
  test("lines naming the account's own file pass (CRLF too); another account's file is a 404", async () => {
    const mine = `${line({ input: [{ type: 'input_file', file_id: 'mine-1' }] })}\r\n${line({ input: 'hi' })}\r\n`;
    expect(await outcome(checkInputFiles(files(() => mine).deps, req, call, spec, ['f1']))).toBe('ok');
    const theirs = `${line({ input: 'hi' })}\n${line({ input: [{ type: 'input_file', file_id: 'theirs' }] })}\n`;
    expect(await outcome(checkInputFiles(files(() => theirs).deps, req, call, spec, ['f1']))).toBe('404 object_not_found');
  });

  test('a file named twice is read once; more than 20 files is a 400 before any read', async () => {
    const f = files(() => `${line({ input: 'hi' })}\n`);
    await checkInputFiles(f.deps, req, call, spec, ['f1', 'f1', 'f2']);
    expect(f.fetched).toEqual(['f1', 'f2']);
    const many = files(() => '');
    expect(await outcome(checkInputFiles(many.deps, req, call, spec, Array.from({ length: 21 }, (_, i) => `f${i}`)))).toBe('400 invalid_request');
    expect(many.fetched).toEqual([]);
  });

  test("a file whose read fails midway is the provider's failure (502), not arouter's", async () => {
    const cut = () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode(`${line({ input: 'hi' })}\n{"custom_id":`));
          c.error(new Error('connection reset'));
        },
      });
    expect(await outcome(checkInputFiles(files(cut).deps, req, call, spec, ['f1']))).toBe('502 provider_unreadable_input');
  });
});
