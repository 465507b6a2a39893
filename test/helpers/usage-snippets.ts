// Real usage snippets for worker tests: a recorded provider response through the proxy's own capture, as the proxy builds them.
import { providerBySlug } from '../../src/providers/index.ts';
import type { UsageSnippet } from '../../src/usage/snippet.ts';
import { captureOf, fixtureBytes } from '../unit/usage-wire.ts';

export interface FixtureCall {
  provider: string;
  path: string;
  fixture: string;
  requestModel: string;
}

export const OPENAI_CHAT: FixtureCall = { provider: 'openai', path: '/v1/chat/completions', fixture: 'openai/chat-nonstream.json', requestModel: 'gpt-4.1-nano' };
export const ANTHROPIC_MESSAGES: FixtureCall = { provider: 'anthropic', path: '/v1/messages', fixture: 'anthropic/messages-nonstream.json', requestModel: 'claude-sonnet-4-5' };
export const MISTRAL_CHAT: FixtureCall = { provider: 'mistral', path: '/v1/chat/completions', fixture: 'mistral/chat-nonstream.json', requestModel: 'mistral-small-latest' };

/** A non-streaming JSON response captured exactly as the proxy would, with the provider module's format choice. */
export function fixtureSnippet(call: FixtureCall, ids: { requestId: string; accountId: string; keyId?: string; ts?: number }): UsageSnippet {
  const spec = providerBySlug(call.provider);
  if (!spec) throw new Error(`no provider ${call.provider}`);
  const choice = spec.formatFor(call.path, 'POST');
  return {
    v: 1,
    requestId: ids.requestId,
    ts: ids.ts ?? Date.now(),
    accountId: ids.accountId,
    keyId: ids.keyId ?? 'key_test',
    provider: call.provider,
    format: choice.format,
    ...(choice.options ? { formatOptions: choice.options } : {}),
    requestModel: call.requestModel,
    method: 'POST',
    path: call.path,
    status: 200,
    stream: false,
    outcome: 'complete',
    latencyMs: 420,
    ttfbMs: 400,
    bytesIn: 200,
    bytesOut: 900,
    capture: captureOf(choice.format, 'application/json', [fixtureBytes(call.fixture)]),
  };
}
