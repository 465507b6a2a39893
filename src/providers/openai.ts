// OpenAI: Bearer auth; chat completions report stream usage only when asked; Responses API has its own usage shape.
import { FILE_CONTENT, OPENAI_STYLE_OWNED, openAiStyle, RESPONSE_RETRIEVAL, STORED_RESPONSE } from './openai-style.ts';

export const openai = openAiStyle({
  slug: 'openai',
  displayName: 'OpenAI',
  baseUrl: 'https://api.openai.com',
  chatCompletionsPath: '/v1/chat/completions',
  chatCompletionsSource: 'https://platform.openai.com/docs/api-reference/chat/create',
  // Legacy completions stream usage only when asked too (stream_options is on both create calls).
  injectUsageOn: /^\/v1\/(chat\/)?completions$/,
  formats: [
    [/^\/v1\/responses(\/|$)/, { format: 'openai-responses' }],
    // A stored chat completion (store: true) comes back whole, usage included, when read (GET) and when its metadata
    // is updated (POST): its usage was recorded when it was created.
    [/^\/v1\/chat\/completions\/[^/]+$/, { format: 'openai-chat', options: { retrieval: true } }],
  ],
  // A batch's output file (GET /v1/files/{output_file_id}/content) is where its usage is first seen; the Batch API
  // costs 50% of the synchronous rates (https://openai.com/api/pricing/, "Batch API").
  batchOutput: { path: FILE_CONTENT, priceFactor: 0.5 },
  retrievals: [RESPONSE_RETRIEVAL],
  storedObjects: {
    prefixes: [
      '/v1/files', '/v1/uploads', '/v1/batches', '/v1/vector_stores', '/v1/assistants', '/v1/threads', '/v1/containers',
      '/v1/conversations', '/v1/fine_tuning', '/v1/evals', '/v1/videos', '/v1/chatkit/threads',
      // Custom voices and the consent recordings they are made from (https://developers.openai.com/api/docs/guides/custom-voices).
      '/v1/audio/voices', '/v1/audio/voice_consents',
    ],
    routes: [
      STORED_RESPONSE,
      // Matched as a prefix like the others: a lenient router serves `/cancel/` and `/cancel.json` too.
      { methods: ['POST'], path: /^\/v1\/responses\/[^/]+\/cancel(?![a-z0-9_-])/ },
      // Stored chat completions (store: true): listed and read by GET, updated by POST and deleted by id.
      { methods: ['GET'], path: /^\/v1\/chat\/completions(?![a-z0-9_-])/ },
      { methods: ['POST', 'DELETE'], path: /^\/v1\/chat\/completions\/[^/]+(?:\/|$)/ },
      // A fine-tuned model is deleted by its id (listing models stays open: SDKs call it to check a model exists).
      { methods: ['DELETE'], path: /^\/v1\/models\/./ },
    ],
    // Stored responses too (store defaults to true): an account's keys continue, read, cancel and delete their own;
    // and conversations, made by a POST of their own and named by responses.
    owned: [
      ...OPENAI_STYLE_OWNED('/v1'),
      { path: '/v1/responses', generated: { event: 'response.created', idPath: ['response', 'id'] } },
      { path: '/v1/conversations' },
    ],
    bodyReferences: {
      // A conversation's items, given at its creation or added later, are read like a response's input.
      paths: /^\/v1\/(?:chat\/completions|responses|images\/edits|conversations|audio\/speech)(?![a-z0-9_-])/,
      refs: [
        // A file in a message: a Responses input_file, input_image or computer screenshot, a chat file part (`file: {file_id}`), an image
        // edit's images and mask, an image tool's mask, the files of a code interpreter's new container. Not the
        // file_id of a citation in an earlier answer sent back, which OpenAI made and no account owns.
        { members: ['file_id'], owned: true, where: ['type', ['input_file', 'input_image', 'computer_screenshot']] },
        { members: ['file_id'], owned: true, parents: ['file', 'images', 'mask', 'input_image_mask'] },
        { members: ['file_ids'], owned: true, where: ['type', ['auto', 'container_auto']] },
        // Earlier turns kept by OpenAI: the account's own stored responses and conversations.
        { members: ['previous_response_id', 'conversation'], parents: [''], owned: true },
        // A background response, collected by reading the stored response: only a key that reaches its own.
        { members: ['background'], parents: [''], pattern: /^(?:true|1)$/i, collectedByOwner: true },
        // Stores and containers holding other files (a code interpreter's container may be "auto").
        { members: ['vector_store_ids'], where: ['type', ['file_search']] },
        { members: ['container'], where: ['type', ['code_interpreter']], pattern: /^(?!auto$)./ },
        { members: ['container_id'], where: ['type', ['container_reference']] },
        // An input item taken by id from a stored response (its type may be left out), and an earlier audio answer.
        { members: ['id'], parents: ['input', 'items'], where: ['type', ['item_reference', null]] },
        // A reasoning item sent back by id alone is read from storage; with its encrypted content it is not.
        { members: ['id'], parents: ['input', 'items'], where: ['type', ['reasoning']], without: 'encrypted_content' },
        { members: ['id'], parents: ['audio'] },
        // A custom voice, named by id (a built-in one is a plain name): in speech and in a chat's audio output.
        { members: ['id'], parents: ['voice'] },
      ],
      formFields: ['file_id'],
    },
    source: 'https://platform.openai.com/docs/api-reference (Files, Uploads, Batch, Vector stores, Assistants, Containers, Conversations, Fine-tuning, Evals, Videos, ChatKit, Responses, Chat Completions, Models)',
  },
});
