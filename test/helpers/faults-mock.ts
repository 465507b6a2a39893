// A provider stand-in run as its own process (own event loop) for the chaos bench: replays real fixtures. Prints {"mock_port": N}.
import { anthropicRawSse, fixtureBytes } from './fixtures.ts';

const chat = fixtureBytes('openai/chat-nonstream.json') as Uint8Array<ArrayBuffer>;
const messagesStream = new TextEncoder().encode(anthropicRawSse('anthropic/messages-stream-basic-raw.sse'));

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  idleTimeout: 0,
  async fetch(req) {
    await req.arrayBuffer();
    const path = new URL(req.url).pathname;
    if (path === '/v1/chat/completions') return new Response(chat, { headers: { 'content-type': 'application/json' } });
    if (path === '/v1/messages') {
      // Sent as a stream of its own bytes so the proxy sees an SSE body, as from the real API.
      return new Response(new Blob([messagesStream]).stream(), { headers: { 'content-type': 'text/event-stream' } });
    }
    return new Response('{"error":"no mock route"}', { status: 599, headers: { 'content-type': 'application/json' } });
  },
});
process.stdout.write(`${JSON.stringify({ mock_port: server.port })}\n`);
