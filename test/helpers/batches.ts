// Batch bodies as the providers document them, each result carrying a real fixture answer (there is no recorded batch).
import { fixtureText } from './fixtures.ts';

const compact = (rel: string) => JSON.stringify(JSON.parse(fixtureText(rel)));

/** Anthropic results: JSON lines {custom_id, result}; result.type succeeded (with the message), errored, expired. */
export function anthropicResults(): string {
  const message = compact('anthropic/messages-nonstream.json');
  return [
    `{"custom_id":"req-1","result":{"type":"succeeded","message":${message}}}`,
    `{"custom_id":"req-2","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}}}`,
    `{"custom_id":"req-3","result":{"type":"succeeded","message":${message}}}`,
    `{"custom_id":"req-4","result":{"type":"expired"}}`,
  ].join('\n') + '\n';
}

/** The usage the Anthropic results carry: two succeeded lines of the fixture (12 input, 29 output each). */
export const ANTHROPIC_RESULTS_USAGE = { model: 'claude-sonnet-4-5-20250929', requests: 2, input: 24, output: 58 };

/** A message batch object (the documented shape), ended, naming its results by absolute URL as Anthropic does. */
export function anthropicBatch(id: string, resultsBase: string): string {
  return JSON.stringify({
    id,
    type: 'message_batch',
    processing_status: 'ended',
    request_counts: { processing: 0, succeeded: 2, errored: 1, canceled: 0, expired: 1 },
    ended_at: '2026-11-20T10:00:00.000000Z',
    created_at: '2026-11-20T09:00:00.000000Z',
    expires_at: '2026-11-21T09:00:00.000000Z',
    archived_at: null,
    cancel_initiated_at: null,
    results_url: `${resultsBase}/v1/messages/batches/${id}/results`,
  });
}

/** OpenAI batch output: JSON lines {id, custom_id, response: {status_code, request_id, body}, error}. */
export function openaiOutput(): string {
  const chat = compact('openai/chat-nonstream.json');
  const responses = compact('openai/responses-nonstream.json');
  return [
    `{"id":"batch_req_1","custom_id":"r1","response":{"status_code":200,"request_id":"req_a1","body":${chat}},"error":null}`,
    `{"id":"batch_req_2","custom_id":"r2","response":{"status_code":200,"request_id":"req_a2","body":${responses}},"error":null}`,
    `{"id":"batch_req_3","custom_id":"r3","response":{"status_code":200,"request_id":"req_a3","body":${chat}},"error":null}`,
    `{"id":"batch_req_4","custom_id":"r4","response":null,"error":{"code":"batch_expired","message":"This request could not be executed before the completion window expired."}}`,
  ].join('\n') + '\n';
}

/** The usage in the OpenAI output, per model: the chat fixture twice, the Responses fixture once. */
export const OPENAI_OUTPUT_USAGE = [
  { model: 'gpt-4.1-nano-2025-04-14', requests: 2, input: 32, cached: 0, output: 726, reasoning: 0 },
  { model: 'gpt-5.3-codex', requests: 1, input: 7243, cached: 3072, output: 423, reasoning: 58 },
];

/** Gemini batch mode's responses file: a line keyed by its request ({key, response}), a bare GenerateContentResponse
 *  line, both the recorded generateContent answer, and a status line for a failed request. */
export function geminiOutput(): string {
  const response = compact('gemini/generateContent.json');
  return [
    `{"key":"request-1","response":${response}}`,
    response,
    `{"key":"request-3","error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}`,
  ].join('\n') + '\n';
}

/** The usage in the Gemini file: the recorded answer twice (9 prompt, 28 candidates and 244 thoughts tokens each). */
export const GEMINI_OUTPUT_USAGE = { model: 'gemini-3-pro-preview', requests: 2, input: 18, output: 544, reasoning: 488 };
