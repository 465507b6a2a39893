// Errors arouter raises itself: each carries a stable `code` (the JSON error type) and an HTTP status.

export class ArouterError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ArouterError';
  }
}

/** A genuine key refused (revoked, over its limit): whose it is is known, for the log line (the account never reaches the response). */
export class KeyRefusedError extends ArouterError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly keyId: string,
    readonly accountId: string,
    /** Seconds until the key may try again (a 429's Retry-After, RFC 9110 10.2.3; the SDKs wait that long). */
    readonly retryAfterS?: number,
  ) {
    super(status, code, message);
    this.name = 'KeyRefusedError';
  }
}

export const unauthorized = (message = 'Missing arouter key. Send it as "Authorization: Bearer lr_live_..." or the header your SDK uses.') =>
  new ArouterError(401, 'authentication_error', message);
export const unknownProvider = (slug: string, known: readonly string[]) =>
  new ArouterError(404, 'unknown_provider', `Unknown provider "${slug.slice(0, 64)}". Known providers: ${known.join(', ')}.`);
export const badPath = (why: string) => new ArouterError(400, 'invalid_path', `Path refused: ${why}. The path must stay under the provider's base URL.`);
export const badRequest = (message: string) => new ArouterError(400, 'invalid_request', message);
export const bodyTooLarge = (limit: number) =>
  new ArouterError(413, 'request_too_large', `Request body exceeds the limit of ${limit} bytes (AROUTER_MAX_BODY_BYTES).`);
export const storedObjectsRefused = (displayName: string, access: false | 'own' = false) =>
  new ArouterError(
    403,
    'stored_objects_not_allowed',
    access === 'own'
      ? `This arouter key may use only the ${displayName} stored objects its own account made (files, batches and the like), by id, list, create and cancel ` +
          "(storedObjects: \"own\"); this request reaches another stored-object API or asks for another method."
      : `This arouter key may not use ${displayName}'s stored-object APIs (files, batches, stored responses and the like): ` +
          "their objects belong to the operator's provider account, which every arouter account shares. The key was created with storedObjects: false.",
  );
export const providerNotConfigured = (slug: string, envVar: string) =>
  new ArouterError(503, 'provider_not_configured', `Provider "${slug}" has no credential configured on this arouter (set ${envVar}).`);
export const providerUnreachable = (slug: string, detail: string) =>
  new ArouterError(502, 'provider_unreachable', `Could not reach provider "${slug}": ${detail}.`);
export const providerInvalidStatus = (slug: string, status: number) =>
  new ArouterError(502, 'provider_invalid_response', `Provider "${slug}" answered with HTTP status ${status}, outside the 200-599 a final answer may carry.`);
export const providerUnreadableHead = (slug: string, code: string) =>
  new ArouterError(502, 'provider_invalid_response', `Provider "${slug}" answered with a response head arouter cannot read (${code}).`);
export const providerUnreadableEncoding = (slug: string) =>
  new ArouterError(502, 'provider_invalid_response', `Provider "${slug}" answered in a content encoding arouter cannot decode (it asks for one of gzip, deflate or br): the answer could not be checked before relaying it.`);
export const providerTimeout = (slug: string, phase: string, ms: number) =>
  new ArouterError(504, 'provider_timeout', `Provider "${slug}" timed out ${phase} after ${ms} ms.`);
export const keyStoreDown = () => new ArouterError(503, 'key_store_unavailable', 'The key store (Redis) is unreachable; retry shortly.');
export const keyStoreUnavailable = () =>
  new ArouterError(503, 'key_store_unavailable', 'The key store is unreachable and this key is not cached on this pod; retry shortly.');
export const notFound = (path: string) => new ArouterError(404, 'not_found', `No route for ${path.slice(0, 200)}.`);
export const methodNotAllowed = (method: string) => new ArouterError(405, 'method_not_allowed', `Method ${method.slice(0, 16)} is not allowed here.`);

/** The JSON error body of the contract: {"error": {"type", "message"}}. */
export function errorBody(err: ArouterError, requestId?: string): string {
  return JSON.stringify({ error: { type: err.code, message: err.message, ...(requestId ? { request_id: requestId } : {}) } });
}

/** RFC 9110 15.5.2: a 401 must say how to authenticate. */
const CHALLENGE = { 'www-authenticate': 'Bearer realm="arouter"' };

export function errorResponse(err: ArouterError, requestId: string, extraHeaders?: Record<string, string>): Response {
  return new Response(errorBody(err, requestId), {
    status: err.status,
    headers: {
      'content-type': 'application/json',
      'x-arouter-request-id': requestId,
      ...(err.status === 401 ? CHALLENGE : undefined),
      ...(err instanceof KeyRefusedError && err.retryAfterS ? { 'retry-after': String(err.retryAfterS) } : undefined),
      ...extraHeaders,
    },
  });
}

export const objectNotFound = () =>
  new ArouterError(404, 'object_not_found', "No such object for this arouter account: this key reaches only the stored objects its own account's requests made.");

export const storedObjectNamed = (displayName: string, member: string, access: false | 'own') =>
  new ArouterError(
    403,
    'stored_objects_not_allowed',
    `This arouter key may not name or start ${displayName} stored objects in a request (${member === '*' ? 'a stored file' : `"${member.slice(0, 64)}"`}): ` +
      (access === 'own'
        ? 'it reaches only the stored objects its own account made (storedObjects: "own").'
        : "they belong to the operator's provider account, which every arouter account shares (storedObjects: false).") +
      ' Send the request without it: the content itself rather than an id, a response in the foreground.',
  );

export const bodyChunksTooSmall = (bytes: number, chunks: number) =>
  new ArouterError(400, 'body_chunks_too_small', `The request body arrives in chunks of under ${bytes} bytes on average (over ${chunks} chunks): send it in larger writes.`);
export const unifiedBodyTooLarge = (limit: number) =>
  new ArouterError(413, 'request_too_large', `The unified endpoint reads a chat request whole to pick its provider, so it is limited to ${limit} bytes; larger ones stream through /<provider>/... routes.`);
export const checkedBodyTooLarge = (limit: number) =>
  new ArouterError(413, 'request_too_large', `This key's request bodies are read whole to check the stored objects they name, so they are limited to ${limit} bytes.`);
