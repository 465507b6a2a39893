// Objects a generation request makes, recorded for keys limited to their own: the id read from the answer as it
// streams, the answer handed on whole, never held back until it ends.
import { describe, expect, test } from 'bun:test';
import type { Principal } from '../../src/keys/auth.ts';
import { providerBySlug } from '../../src/providers/index.ts';
import type { ForwardCall } from '../../src/proxy/forward.ts';
import { claimGenerated } from '../../src/proxy/generated-objects.ts';
import type { OwnedDeps } from '../../src/proxy/owned-objects.ts';
import { fixtureText } from '../helpers/fixtures.ts';

const principal: Principal = { accountId: 'acct-a', keyId: 'k', storedObjects: 'own', secret: 's' };
const call = (path = '/v1/responses'): ForwardCall => ({ requestId: 'r1', provider: providerBySlug('openai')!, path, search: '', principal, startedAt: 0 });
const post = new Request('http://x/openai/v1/responses', { method: 'POST' });

function deps() {
  const claimed: string[] = [];
  const unread: string[] = [];
  const d = {
    forwarder: undefined as never,
    ownership: { owners: async () => [], claim: async (_p: string, ids: readonly string[]) => void claimed.push(...ids), assign: async () => [] },
    onUnreadableId: (requestId: string) => void unread.push(requestId),
  } satisfies OwnedDeps;
  return { d, claimed, unread };
}

/** A body pulled chunk by chunk, counting the chunks the reader asked for. */
function pulled(text: string, size: number) {
  const bytes = new TextEncoder().encode(text);
  const state = { pulls: 0, chunks: Math.ceil(bytes.byteLength / size) };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        const at = state.pulls++ * size;
        if (at >= bytes.byteLength) return c.close();
        c.enqueue(bytes.subarray(at, at + size));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

/** A body handed out in chunks of the given size; with `open`, it stays open after them until `close()`. */
function chunked(text: string, size: number, open = false) {
  const bytes = new TextEncoder().encode(text);
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      ctrl = c;
      for (let i = 0; i < bytes.byteLength; i += size) c.enqueue(bytes.subarray(i, i + size));
      if (!open) c.close();
    },
  });
  return { stream, close: () => ctrl.close(), fail: () => ctrl.error(new Error('cut')) };
}

const response = JSON.parse(fixtureText('openai/responses-nonstream.json')) as { id: string } & Record<string, unknown>;
const sse = (type: string, r: unknown) => `event: ${type}\ndata: ${JSON.stringify({ type, response: r })}\n\n`;

describe('claimGenerated', () => {
  test("a stream's first event names the response even when it is larger than a chunk many times over; the client gets every byte", async () => {
    const { d, claimed } = deps();
    const tools = Array.from({ length: 60 }, (_, i) => ({ type: 'function', name: `tool_${i}`, description: 'x'.repeat(1100), parameters: {} }));
    const text = sse('response.created', { ...response, tools, status: 'in_progress', output: [] }) + sse('response.completed', response);
    const body = chunked(text, 16 * 1024);
    const res = claimGenerated(d, post, call(), new Response(body.stream, { headers: { 'content-type': 'text/event-stream' } }));
    expect(await res.text()).toBe(text);
    expect(claimed).toEqual([response.id]);
  });

  test('a JSON answer is read only up to its leading id: the claim does not wait for the rest', async () => {
    const { d, claimed } = deps();
    const body = pulled(JSON.stringify(response), 64);
    const res = claimGenerated(d, post, call(), new Response(body.stream, { headers: { 'content-type': 'application/json' } }));
    const reader = res.body!.getReader();
    const parts = [(await reader.read()).value!];
    // The client's first byte comes once the claim is made, and the rest is read as the client reads it.
    expect(claimed).toEqual([response.id]);
    expect(body.state.pulls).toBeLessThan(body.state.chunks / 2);
    for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
    expect(JSON.parse(Buffer.concat(parts).toString())).toEqual(response);
    expect(body.state.pulls).toBeGreaterThan(body.state.chunks);
  });

  test('an id that is not first is read from the whole answer; a cut answer, an error status, another path or no id claims nothing', async () => {
    const { d, claimed, unread } = deps();
    const later = JSON.stringify({ object: 'response', id: 'resp_later' });
    await claimGenerated(d, post, call(), new Response(chunked(later, 5).stream, { headers: { 'content-type': 'application/json' } })).text();
    expect(claimed).toEqual(['resp_later']);
    const cut = chunked('{"object":"response","output":[', 8, true);
    const res = claimGenerated(d, post, call(), new Response(cut.stream, { headers: { 'content-type': 'application/json' } }));
    cut.fail();
    expect(await res.text().then(() => 'read', () => 'cut')).toBe('cut');
    expect(unread).toEqual(['r1']);
    await claimGenerated(d, post, call(), new Response(JSON.stringify(response), { status: 400, headers: { 'content-type': 'application/json' } })).text();
    await claimGenerated(d, post, call('/v1/responses/input_tokens'), new Response(JSON.stringify(response))).text();
    expect(claimed).toEqual(['resp_later']);
    expect(unread).toEqual(['r1']);
    // A whole answer without an id: nothing to claim, and said so.
    await claimGenerated(d, post, call(), new Response('{"object":"response"}', { headers: { 'content-type': 'application/json' } })).text();
    expect(unread).toEqual(['r1', 'r1']);
  });

  test('a provider that answers and then stalls: the client has the headers at once, and no byte before the record', async () => {
    const { d, claimed } = deps();
    const body = chunked('', 1, true);
    const res = claimGenerated(d, post, call(), new Response(body.stream, { headers: { 'content-type': 'text/event-stream' } }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(claimed).toEqual([]);
    body.close();
    expect(await res.text()).toBe('');
  });
});
