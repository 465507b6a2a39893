// OpenAI batch output files: JSON lines {custom_id, response: {status_code, body}, error}, usage in each body.
import type { LineUsage, UsageFormat } from './types.ts';
import { countsOf as chatCounts } from './openai-chat.ts';
import { countsOf as responseCounts } from './openai-responses.ts';
import { asObject, linesFormat, parseObject, text } from './common.ts';

function read(line: string): LineUsage | null {
  // Input files and error files hold no usage; a file's lines are parsed only when they might.
  if (!line.includes('"usage"')) return null;
  const response = asObject(parseObject(line)?.response);
  const body = asObject(response?.body);
  const usage = asObject(body?.usage);
  if (!body || !usage) return null;
  // The body is what the batched endpoint answers: a chat completion, an embedding list or a Responses API object.
  const counts = body.object === 'response' ? responseCounts(usage) : chatCounts(usage, false);
  return counts ? { model: text(body.model) ?? '', counts } : null;
}

// The Batch API costs 50% of the synchronous rates (OpenAI's pricing page, "Batch API"); providers may say otherwise.
export const openaiBatchOutput: UsageFormat = linesFormat('openai-batch-output', read, 0.5);
