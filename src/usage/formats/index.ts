// The registry of usage formats, looked up by the id a provider module chose for a path.
import { anthropicBatchResults } from './anthropic-batch.ts';
import { anthropicMessages } from './anthropic-messages.ts';
import { cohere } from './cohere.ts';
import { dashscopeNative } from './dashscope-native.ts';
import { gemini } from './gemini.ts';
import { geminiBatchOutput } from './gemini-batch.ts';
import { minimaxNative } from './minimax-native.ts';
import { openaiBatchOutput } from './openai-batch.ts';
import { openaiChat } from './openai-chat.ts';
import { openaiResponses } from './openai-responses.ts';
import type { UsageFormat } from './types.ts';

export const USAGE_FORMATS: readonly UsageFormat[] = [
  openaiChat, openaiResponses, anthropicMessages, gemini, cohere, dashscopeNative, minimaxNative,
  anthropicBatchResults, openaiBatchOutput, geminiBatchOutput,
];

const byId = new Map(USAGE_FORMATS.map((f) => [f.id, f]));

export function formatById(id: string): UsageFormat | undefined {
  return byId.get(id);
}

export type { LineFormat, SseKeep, UsageFormat } from './types.ts';
