// OpenAI: Bearer auth; chat completions report stream usage only when asked; Responses API has its own usage shape.
import { FILE_CONTENT, OPENAI_STYLE_OWNED, openAiStyle, RESPONSE_RETRIEVAL, STORED_RESPONSE } from './openai-style.ts';

export const openai = openAiStyle({
  slug: 'openai',
  displayName: 'OpenAI',
  baseUrl: 'https://api.openai.com',
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://platform.openai.com/docs/api-reference/chat/create',
  injectUsageOn: /^\/v1\/chat\/completions$/,
  formats: [[/^\/v1\/responses(\/|$)/, { format: 'openai-responses' }]],
  // A batch's output file (GET /v1/files/{output_file_id}/content) is where its usage is first seen; the Batch API
  // costs 50% of the synchronous rates (https://openai.com/api/pricing/, "Batch API").
  batchOutput: { path: FILE_CONTENT, priceFactor: 0.5 },
  // Stored completions (store: true) are read back at GET /v1/chat/completions/{id}.
  retrievals: [RESPONSE_RETRIEVAL, [/^\/v1\/chat\/completions\/[^/]+$/, { format: 'openai-chat', options: { retrieval: true } }]],
  storedObjects: {
    prefixes: [
      '/v1/files', '/v1/uploads', '/v1/batches', '/v1/vector_stores', '/v1/assistants', '/v1/threads', '/v1/containers',
      '/v1/conversations', '/v1/fine_tuning', '/v1/evals', '/v1/videos', '/v1/chatkit/threads',
    ],
    routes: [
      STORED_RESPONSE,
      { methods: ['POST'], path: /^\/v1\/responses\/[^/]+\/cancel$/ },
      // Stored chat completions (store: true): listed and read by GET, updated by POST and deleted by id.
      { methods: ['GET'], path: /^\/v1\/chat\/completions(\/|$)/ },
      { methods: ['POST', 'DELETE'], path: /^\/v1\/chat\/completions\/[^/]+$/ },
      // A fine-tuned model is deleted by its id (listing models stays open: SDKs call it to check a model exists).
      { methods: ['DELETE'], path: /^\/v1\/models\/./ },
    ],
    owned: OPENAI_STYLE_OWNED('/v1'),
    bodyReferences: {
      paths: /^\/v1\/(?:chat\/completions|responses)(?![a-z0-9_-])/,
      refs: [
        // A file in a message (a chat file part, a Responses input_file or input_image, an image tool's mask) or
        // handed to a code interpreter's new container.
        { members: ['file_id', 'file_ids'], owned: true },
        // Earlier turns kept by OpenAI, and stores and containers holding other files (a container may be "auto").
        { members: ['previous_response_id', 'conversation', 'vector_store_ids', 'container_id'] },
        { members: ['container'], pattern: /^(?!auto$)./ },
        // An input item taken by id from an earlier stored response.
        { members: ['id'], where: ['type', 'item_reference'] },
        // A background response is collected by reading the stored response, which restricted keys cannot.
        { members: ['background'], pattern: /^true$/ },
      ],
    },
    source: 'https://platform.openai.com/docs/api-reference (Files, Uploads, Batch, Vector stores, Assistants, Containers, Conversations, Fine-tuning, Evals, Videos, ChatKit, Responses, Chat Completions, Models)',
  },
});
