// Anthropic: x-api-key auth, anthropic-version default, messages usage cumulative over message_start/message_delta.
import type { ProviderSpec } from './types.ts';

const BATCH_RESULTS = /^\/v1\/messages\/batches\/[^/]+\/results$/;

export const anthropic: ProviderSpec = {
  slug: 'anthropic',
  displayName: 'Anthropic',
  baseUrl: 'https://api.anthropic.com',
  credential: { header: 'x-api-key', prefix: '' },
  defaultHeaders: { 'anthropic-version': '2023-06-01' },
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://platform.claude.com/docs/en/cli-sdks-libraries/libraries/openai-sdk',
  formatFor(path, method) {
    // A batch's usage is known only when its results are read: JSON lines, one batched request each.
    if (method === 'GET' && BATCH_RESULTS.test(path)) return { format: 'anthropic-batch-results' };
    return path === '/v1/chat/completions' ? { format: 'openai-chat' } : { format: 'anthropic-messages' };
  },
  // Its OpenAI compatibility layer documents stream_options as fully supported.
  injectStreamUsage: { paths: /^\/v1\/chat\/completions$/ },
  // A message batch names its results by absolute URL (`results_url`), and the SDK's batches.results() fetches that
  // URL as given: left alone, it would send the arouter key to Anthropic and the results would bypass arouter.
  // Batch objects only (create, list, retrieve, cancel): the results themselves are model output, left untouched.
  bodyUrlPaths: /^\/v1\/messages\/batches(\/[^/]+(\/cancel)?)?$/,
  storedObjects: {
    // Managed Agents' vaults hold the credentials a session uses, and a session can name any vault by id.
    prefixes: ['/v1/messages/batches', '/v1/files', '/v1/skills', '/v1/agents', '/v1/sessions', '/v1/environments', '/v1/vaults'],
    owned: [
      { path: '/v1/messages/batches', after: 'after_id' },
      { path: '/v1/files', after: 'after_id' },
    ],
    bodyReferences: {
      // The OpenAI-compatible chat endpoint too (the unified endpoint's way in).
      paths: /^\/v1\/(?:messages|chat\/completions)(?![a-z0-9_-])/,
      refs: [
        // A document or image whose source is a file, a file uploaded into the code-execution container, an
        // OpenAI-style file part. Not the file_id of a code-execution result sent back: Anthropic made that file.
        { members: ['file_id'], owned: true, where: ['type', ['file', 'container_upload']] },
        { members: ['file_id'], owned: true, parents: ['file'] },
        // A container kept from an earlier request, in a message or a batch's request params (not a tool's input of
        // that name), and custom skills (Anthropic's own, like "pptx", are not stored).
        { members: ['container'], parents: ['', 'params'] },
        { members: ['skill_id'], where: ['type', ['custom']] },
      ],
    },
    source: 'https://docs.claude.com/en/api (Message Batches, Files, Skills, Managed Agents: agents, sessions, environments, vaults)',
  },
};
