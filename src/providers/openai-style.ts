// Builder for the many providers whose native API is OpenAI-style chat completions.
import type { FormatChoice, ProviderSpec } from './types.ts';

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
}

const BEARER = { header: 'authorization', prefix: 'Bearer ' } as const;

export function openAiStyle(o: OpenAiStyleOptions): ProviderSpec {
  const chat: FormatChoice = o.chatOptions ? { format: 'openai-chat', options: o.chatOptions } : { format: 'openai-chat' };
  const formats = o.formats ?? [];
  return {
    slug: o.slug,
    displayName: o.displayName,
    baseUrl: o.baseUrl,
    credential: BEARER,
    chatCompletionsPath: o.chatCompletionsPath,
    chatCompletionsSource: o.chatCompletionsSource,
    formatFor(path) {
      for (const [re, choice] of formats) if (re.test(path)) return choice;
      return chat;
    },
    ...(o.injectUsageOn ? { injectStreamUsage: { paths: o.injectUsageOn } } : {}),
  };
}
