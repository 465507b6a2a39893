// Google Gemini: x-goog-api-key auth; the model is in the path; usageMetadata is cumulative in streams.
import type { ProviderSpec } from './types.ts';

const MODEL_IN_PATH = /^\/v1(?:beta|alpha)?\/(?:tunedModels|models)\/([^/:]+):/;
const FILE_DOWNLOAD = /^\/download\/v1(?:beta|alpha)?\/files\/[^/:]+:download$/;
// The Batch API costs 50% of the standard rates (https://ai.google.dev/gemini-api/docs/batch-api).
const BATCH_OUTPUT = { format: 'gemini-batch-output', options: { priceFactor: 0.5 } } as const;

/** The stored-object collections of each API version (lower case: matched against the folded path), and where
 *  files are uploaded and downloaded. */
const STORED_COLLECTIONS = ['files', 'batches', 'cachedcontents', 'tunedmodels', 'corpora', 'filesearchstores', 'generatedfiles', 'operations', 'openai/files', 'openai/batches'];
const STORED_PREFIXES = [
  ...['v1', 'v1beta', 'v1alpha'].flatMap((v) => [
    ...STORED_COLLECTIONS.map((c) => `/${v}/${c}`),
    `/upload/${v}/files`,
    `/upload/${v}/filesearchstores`,
    `/download/${v}/files`,
  ]),
  // Google's front ends also serve every method as RPC over HTTP (`/$rpc/<service>/<method>`) and in multipart batches.
  '/$rpc',
  '/batch',
];

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
  // Google's upload steps and its Python SDK send the bytes to that URL with no credential, by POST (or PUT); the
  // session ends with x-goog-upload-status final or cancelled.
  uploadSessions: {
    url: /^\/upload\/v1(?:beta|alpha)?\/[a-z]+\?(?:[^#&]*&)*upload_id=[^&#]+(?:&[^#]*)?$/i,
    methods: ['POST', 'PUT'],
    done: ['x-goog-upload-status', /^\s*(?:final|cancelled)\s*$/i],
  },
  storedObjects: {
    prefixes: STORED_PREFIXES,
    routes: [
      // Batch mode and long-running generations (video) start on a model; the latter are polled under it. A job
      // that a kept-off key could start but never collect would be billed for nothing, so its start is refused too.
      { methods: ['POST'], path: /^\/v1[a-z]*\/(?:models|tunedmodels)\/[^/]+:(?:batchgeneratecontent|asyncbatchembedcontent|predictlongrunning)(?![a-z0-9_-])/ },
      { methods: ['GET', 'DELETE'], path: /^\/v1[a-z]*\/(?:models|tunedmodels)\/[^/]+\/operations(\/|$)/ },
      // A stored interaction (store defaults to true) is read, deleted and cancelled by id; creating one is not.
      { methods: ['GET', 'DELETE'], path: /^\/v1[a-z]*\/interactions\/./ },
      { methods: ['POST'], path: /^\/v1[a-z]*\/interactions\/[^/]+[/:]cancel(?![a-z0-9_-])/ },
    ],
    // Every method on a model (generateContent, countTokens, embedContent...), an interaction's creation and the
    // OpenAI-compatible chat endpoint. proto3's JSON mapping accepts both spellings of each name.
    bodyReferences: {
      paths: /^\/v1[a-z0-9]*\/(?:models|tunedmodels|interactions|openai\/chat\/completions)(?![a-z0-9_-])/,
      refs: [
        // A file from the Files API (`files/{id}`, a path to it or its URI on googleapis.com) in a part's file data or
        // an interaction's content; other URIs (YouTube, public URLs, Cloud Storage) are not stored objects. Anchored
        // and without nested repetition, so a long string is matched in linear time.
        {
          members: ['fileUri', 'file_uri', 'uri'],
          pattern: /^(?:(?:https?:)?\/\/[a-z0-9.-]*googleapis\.com(?::\d+)?\/|\/)?(?:upload\/)?(?:v1[a-z0-9]*\/)?files\//i,
        },
        { members: ['cachedContent', 'cached_content', 'fileSearchStoreNames', 'file_search_store_names'] },
        { members: ['previous_interaction_id', 'previousInteractionId'] },
        // A background interaction is collected by reading the stored interaction (not a function call's argument).
        { members: ['background'], parents: [''], pattern: /^(?:true|1)$/i },
        // An OpenAI-style file part on the compatible endpoint: Gemini has no files an account can own.
        { members: ['file_id'], parents: ['file'] },
      ],
    },
    source: 'https://ai.google.dev/api (Files, Batch mode, Caching, Tuning, Semantic retrieval, File search stores, Operations, Interactions)',
  },
};
