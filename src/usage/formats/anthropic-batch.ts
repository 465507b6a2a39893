// Anthropic message batch results: JSON lines {custom_id, result: {type, message}}, usage in each succeeded message.
import type { LineUsage, UsageFormat } from './types.ts';
import { countsOf } from './anthropic-messages.ts';
import { asObject, linesFormat, parseObject, text } from './common.ts';

function read(line: string): LineUsage | null {
  // Errored, canceled and expired requests are not billed and carry no message.
  if (!line.includes('"succeeded"')) return null;
  const result = asObject(parseObject(line)?.result);
  if (result?.type !== 'succeeded') return null;
  const message = asObject(result.message);
  const usage = asObject(message?.usage);
  return usage ? { model: text(message?.model) ?? '', counts: countsOf(usage) } : null;
}

// Batch processing is billed at 50% of the standard rates (Anthropic's pricing page, "Batch processing").
export const anthropicBatchResults: UsageFormat = linesFormat('anthropic-batch-results', read, 0.5);
