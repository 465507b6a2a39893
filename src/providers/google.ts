// Google Gemini: x-goog-api-key auth; the model is in the path; usageMetadata is cumulative in streams.
import type { ProviderSpec } from './types.ts';

const MODEL_IN_PATH = /^\/v1(?:beta|alpha)?\/(?:tunedModels|models)\/([^/:]+):/;
const FILE_DOWNLOAD = /^\/download\/v1(?:beta|alpha)?\/files\/[^/:]+:download$/;
// The Batch API costs 50% of the standard rates (https://ai.google.dev/gemini-api/docs/batch-api).
const BATCH_OUTPUT = { format: 'gemini-batch-output', options: { priceFactor: 0.5 } } as const;

export const google: ProviderSpec = {
  slug: 'google',
  displayName: 'Google Gemini',
  baseUrl: 'https://generativelanguage.googleapis.com',
  credential: { header: 'x-goog-api-key', prefix: '' },
  chatCompletionsPath: '/v1beta/openai/chat/completions',
  chatCompletionsSource: 'https://ai.google.dev/gemini-api/docs/openai',
  formatFor(path, method) {
    // Batch mode writes its responses to a file, downloaded from the Files API: where the batch's usage is first seen.
    if (method === 'GET' && FILE_DOWNLOAD.test(path)) return BATCH_OUTPUT;
    return path.startsWith('/v1beta/openai/') ? { format: 'openai-chat' } : { format: 'gemini' };
  },
  modelFromPath(path) {
    const m = MODEL_IN_PATH.exec(path);
    if (!m?.[1]) return undefined;
    try {
      return decodeURIComponent(m[1]);
    } catch {
      // A malformed escape (g%zz) is the provider's to refuse; the row keeps the segment as sent.
      return m[1];
    }
  },
  streamRequested: (req) => req.path.endsWith(':streamGenerateContent'),
  injectStreamUsage: { paths: /^\/v1beta\/openai\/chat\/completions$/ },
  // The Files API's resumable upload answers its start request with the URL to send the bytes to.
  urlHeaders: ['x-goog-upload-url'],
};
