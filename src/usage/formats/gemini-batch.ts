// Gemini batch mode's responses file: JSON lines, each a GenerateContentResponse (or one wrapped with its request key
// as {key, response}) or a status object for a failed request; usage in usageMetadata.
import type { LineUsage, UsageFormat } from './types.ts';
import { countsOf } from './gemini.ts';
import { asObject, linesFormat, parseObject, text } from './common.ts';

function read(line: string): LineUsage | null {
  if (!line.includes('"usageMetadata"')) return null;
  const o = parseObject(line);
  // The guide documents bare GenerateContentResponse lines; files keyed by request wrap each in `response`.
  const response = asObject(o?.response) ?? o;
  const usage = asObject(response?.usageMetadata);
  return usage ? { model: text(response?.modelVersion) ?? '', counts: countsOf(usage) } : null;
}

// The Batch API costs 50% of the standard rates (https://ai.google.dev/gemini-api/docs/batch-api).
export const geminiBatchOutput: UsageFormat = linesFormat('gemini-batch-output', read, 0.5);
