// Mistral: OpenAI-style; streams carry usage on the final chunk without being asked.
import { FILE_CONTENT, openAiStyle } from './openai-style.ts';

export const mistral = openAiStyle({
  slug: 'mistral',
  displayName: 'Mistral',
  baseUrl: 'https://api.mistral.ai',
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://docs.mistral.ai/api/#tag/chat',
  // Batch output files, lines {custom_id, response: {status_code, body}, error}, billed at 50%
  // (https://docs.mistral.ai/capabilities/batch). A line of another shape counts no usage rather than a wrong one.
  batchOutput: { path: FILE_CONTENT, priceFactor: 0.5 },
  storedObjects: {
    prefixes: ['/v1/files', '/v1/batch', '/v1/fine_tuning', '/v1/libraries', '/v1/agents', '/v1/conversations'],
    // A fine-tuned model is deleted by its id.
    routes: [{ methods: ['DELETE'], path: /^\/v1\/models\/./ }],
    // A batch job names its input files in a list and gets one output and one error file.
    owned: [
      { path: '/v1/files' },
      {
        path: '/v1/batch/jobs',
        references: ['input_files'],
        derived: ['output_file', 'error_file'],
        inputLines: { body: 'body', content: '/v1/files/{id}/content' },
      },
    ],
    // OCR reads an uploaded file by id (`document: {type: "file", file_id}`), as a chat file chunk does; a
    // transcription takes one as a form field.
    bodyReferences: {
      // A batch job's create too: its requests may be given inline instead of in a file.
      paths: /^\/v1\/(?:chat\/completions|ocr|audio\/transcriptions|batch\/jobs)(?![a-z0-9_-])/,
      refs: [
        // A file chunk's type may be left out.
        { members: ['file_id'], owned: true, where: ['type', ['file', null]] },
        // An agent (a batch job may run one), kept off like the agents API.
        { members: ['agent_id'] },
      ],
      formFields: ['file_id'],
    },
    source: 'https://docs.mistral.ai/api/ (Files, Batch, Fine Tuning, Libraries, Agents, Conversations)',
  },
});
