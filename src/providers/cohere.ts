// Cohere: Bearer auth; v2 chat bills on usage.billed_units, embed on meta.billed_units; no model in responses.
import type { ProviderSpec } from './types.ts';

export const cohere: ProviderSpec = {
  slug: 'cohere',
  displayName: 'Cohere',
  baseUrl: 'https://api.cohere.com',
  credential: { header: 'authorization', prefix: 'Bearer ' },
  chatCompletionsPath: '/compatibility/v1/chat/completions',
  chatCompletionsSource: 'https://docs.cohere.com/docs/compatibility-api',
  formatFor(path) {
    return path.startsWith('/compatibility/') ? { format: 'openai-chat' } : { format: 'cohere' };
  },
  storedObjects: {
    prefixes: ['/v1/datasets', '/v1/embed-jobs', '/v1/finetuning', '/v1/connectors', '/v1/batches', '/v2/batches'],
    // v1 chat continues a conversation Cohere stored, by id.
    bodyReferences: { paths: /^\/v1\/chat(?![a-z0-9_-])/, refs: [{ members: ['conversation_id'], parents: [''] }] },
    source: 'https://docs.cohere.com/reference (Datasets, Embed Jobs, Finetuning, Connectors, Batches)',
  },
};
