// Builder for the many providers whose native API is OpenAI-style chat completions.
import type { FormatChoice, ProviderSpec, StoredObjectRoutes } from './types.ts';

export interface OpenAiStyleOptions {
  slug: string;
  displayName: string;
  baseUrl: string;
  chatCompletionsPath: string;
  chatCompletionsSource: string;
  /** Inject include_usage on streamed chat completions (providers that only report stream usage when asked). */
  injectUsageOn?: RegExp;
  /** Path-specific formats (checked first), e.g. the Responses API. */
  formats?: ReadonlyArray<readonly [RegExp, FormatChoice]>;
  /** Options for the default openai-chat format. */
  chatOptions?: FormatChoice['options'];
  /**
   * GET paths that read back a stored object (a response, a stored completion) with the usage of the request that
   * created it: that usage was recorded then, so the read is marked a retrieval and does not count it again.
   */
  retrievals?: ReadonlyArray<readonly [RegExp, FormatChoice]>;
  /** Where a batch's output file (JSON lines with each request's usage) is read (GET of a file's content), and the
   *  share of the synchronous price that batched requests cost. */
  batchOutput?: BatchOutput;
  storedObjects?: StoredObjectRoutes;
  /** See ProviderSpec.slashedIdReads. */
  slashedIdReads?: RegExp;
}

const BEARER = { header: 'authorization', prefix: 'Bearer ' } as const;

/** A stored response read back: the whole Response object again, usage included, which its creation already counted. */
export const RESPONSE_READ: FormatChoice = { format: 'openai-responses', options: { retrieval: true } };

/** GET {base}/responses/{id} (the Responses API's stored response), for a provider whose API lives under `base`. */
export const responseRetrieval = (base: string) => [new RegExp(`^${base.replaceAll('/', '\\/')}\\/responses\\/[^/]+$`), RESPONSE_READ] as const;

/** GET /v1/responses/{id}. */
export const RESPONSE_RETRIEVAL = responseRetrieval('/v1');

/** GET /v1/files/{id}/content: a file's bytes, where OpenAI-style batch APIs hand out their output files. */
export const FILE_CONTENT = /^\/v1\/files\/[^/]+\/content$/;

/** OpenAI's files and batches as owned collections: a batch names its input file and gets output and error files. */
export const OPENAI_STYLE_OWNED = (base: string) => [
  { path: `${base}/files`, after: 'after' },
  {
    path: `${base}/batches`,
    references: ['input_file_id'],
    derived: ['output_file_id', 'error_file_id'],
    after: 'after',
    inputLines: { body: 'body', content: `${base}/files/{id}/content` },
  },
];

/** GET and DELETE of a stored response (`/v1/responses/{id}`, its input items): the POST that makes one is not. */
export const STORED_RESPONSE = { methods: ['GET', 'DELETE'], path: /^\/v1\/responses\/[^/]+/ } as const;

export interface BatchOutput {
  path: RegExp;
  priceFactor: number;
}

/** The usage format of a batch output file read at `path`, priced at `priceFactor` of the synchronous rates. */
export function batchOutputChoice(priceFactor: number): FormatChoice {
  return { format: 'openai-batch-output', options: { priceFactor } };
}

export function openAiStyle(o: OpenAiStyleOptions): ProviderSpec {
  const chat: FormatChoice = o.chatOptions ? { format: 'openai-chat', options: o.chatOptions } : { format: 'openai-chat' };
  const formats = o.formats ?? [];
  const batch = o.batchOutput ? { path: o.batchOutput.path, choice: batchOutputChoice(o.batchOutput.priceFactor) } : null;
  return {
    slug: o.slug,
    displayName: o.displayName,
    baseUrl: o.baseUrl,
    credential: BEARER,
    chatCompletionsPath: o.chatCompletionsPath,
    chatCompletionsSource: o.chatCompletionsSource,
    formatFor(path, method) {
      if (method === 'GET' && batch?.path.test(path)) return batch.choice;
      if (method === 'GET' && o.retrievals) for (const [re, choice] of o.retrievals) if (re.test(path)) return choice;
      for (const [re, choice] of formats) if (re.test(path)) return choice;
      return chat;
    },
    ...(o.injectUsageOn ? { injectStreamUsage: { paths: o.injectUsageOn } } : {}),
    ...(o.storedObjects ? { storedObjects: o.storedObjects } : {}),
    ...(o.slashedIdReads ? { slashedIdReads: o.slashedIdReads } : {}),
  };
}
