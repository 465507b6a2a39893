// What arouter knows about one provider, declared as data plus a few small functions.

export interface CredentialPlacement {
  /** Lower-case header name the provider reads its key from. */
  header: string;
  /** Prefix before the key, e.g. 'Bearer '. */
  prefix: string;
}

/** The usage format a request path speaks, with provider-specific options as data. */
export interface FormatChoice {
  format: string;
  options?: Record<string, boolean | number | string>;
}

export interface StreamUsageInjection {
  /** Paths (no query) of OpenAI-style chat completions where stream_options.include_usage is added when absent. */
  paths: RegExp;
}

export interface RequestFacts {
  path: string;
  headers: Headers;
  search: string;
}

/** A route of a provider's stored-object APIs that only some methods take there (the GET that lists stored
 *  completions, beside the POST that makes a completion). Patterns see the path with letters in lower case. */
export interface MethodRoute {
  methods: readonly string[];
  path: RegExp;
  /** Only when the request carries this header (lower-case name) with a matching value (Dashscope's async switch). */
  header?: readonly [name: string, value: RegExp];
}

/**
 * A provider's stored-object APIs: files, batches, stored responses and the like. Their objects live in the
 * operator's provider account, so every arouter key that reaches them shares them; a key created with
 * `storedObjects: false` is refused them (src/proxy/stored-objects.ts).
 */
/**
 * A collection whose objects arouter can keep per account for keys with `storedObjects: "own"`: a POST to `path`
 * creates one, named by the answer's `id`; a GET of `path` lists them (in `data`); `path/{id}...` reaches one.
 */
export interface OwnedCollection {
  /** Lower case, like the prefixes. */
  path: string;
  /** Fields of a create request's JSON body that name other objects, which must be the account's own (a batch's
   *  input file). A field may hold one id or a list. */
  references?: readonly string[];
  /** Fields of the object's answers naming objects the provider made for it (a batch's output and error files):
   *  they become the account's too when the owner reads or lists the object. */
  derived?: readonly string[];
  /** The list's cursor parameter (the id after which a page starts), so a list can read on past pages that hold
   *  none of the account's objects. */
  after?: string;
  /** The objects are made by a generation request, a POST to `path` itself that is not a stored-object API (a stored
   *  response): the answer's `id`, or in a stream the first `event` event's member at `idPath`, becomes the
   *  account's. */
  generated?: { event: string; idPath: readonly string[] };
  /** The create names input files of one request a line (`{"custom_id", "url", "body"}`), which the provider runs as
   *  they are: each line's `body` member is read for the stored objects it names, like a request of its own.
   *  `content` is the file content path, `{id}` standing for the file. */
  inputLines?: { body: string; content: string };
}

/** Members of a request body that name a stored object (a file in a chat message, a stored response to continue). */
export interface BodyReference {
  /** Member names, exactly as the provider documents them (matched in any case, as lenient parsers do); `*` reads
   *  every string of the body against the pattern. A member's value names objects as a string or number, a list of
   *  them or an `{id}`. */
  members: readonly string[];
  /** Only values matching it name an object; its first group (else the whole match) is the id. A `true` value
   *  reads as "true": a flag that makes the provider store its answer (`background: true`) is declared that way. */
  pattern?: RegExp;
  /** The objects are of an owned collection: a key limited to its own may name its account's. Others name objects
   *  no arouter account owns, refused to every restricted key. */
  owned?: boolean;
  /** Only in objects whose member (first) has one of these string values, null for none: a reference is told from
   *  the same member name elsewhere (a file part's `file_id` from a citation's in an earlier answer sent back). */
  where?: readonly [member: string, values: readonly (string | null)[]];
  /** Not in objects that have this member (a reasoning item carrying its own encrypted content is not looked up). */
  without?: string;
  /** A flag that makes an object the account will own and collect (`background: true`, collected from the stored
   *  response): refused only to keys kept off stored objects. */
  collectedByOwner?: boolean;
  /** Only in objects that sit in one of these members ('' for the body itself; a list's items sit in the list's
   *  member): request-level members are told from a tool call's arguments that happen to share the name. */
  parents?: readonly string[];
}

export interface BodyReferences {
  /** Lower-case paths (read as leniently as the stored-object prefixes) whose request bodies are read. */
  paths: RegExp;
  refs: readonly BodyReference[];
  /** Request headers (lower-case names) that name a stored object on these paths, refused to restricted keys. */
  headers?: readonly string[];
  /** Form fields (multipart/form-data bodies, also as `a[0][file_id]`) that name a stored object, refused to
   *  restricted keys: arouter reads forms only for their field names. */
  formFields?: readonly string[];
}

export interface StoredObjectRoutes {
  /** Lower-case path prefixes matched on whole segments (`/v1/files` covers `/v1/files/f/content`, not
   *  `/v1/filesystem`), for every method. */
  prefixes: readonly string[];
  routes?: readonly MethodRoute[];
  /** The collections keys with `storedObjects: "own"` may use, each for its account's objects only; every other
   *  stored-object path is refused to such keys. */
  owned?: readonly OwnedCollection[];
  /** Where request bodies name stored objects: read for keys kept off them or limited to their own. */
  bodyReferences?: BodyReferences;
  /** Where the list comes from (docs pages), recorded for maintainers. */
  source: string;
}

export interface ProviderSpec {
  slug: string;
  displayName: string;
  /** The provider's real base URL, no trailing slash. */
  baseUrl: string;
  credential: CredentialPlacement;
  /** Headers added when the client sent none (lower-case names). */
  defaultHeaders?: Readonly<Record<string, string>>;
  /** Path of its OpenAI-compatible chat completions endpoint, relative to baseUrl (unified /v1/chat/completions). */
  chatCompletionsPath: string;
  /** Source for chatCompletionsPath (docs page), recorded for maintainers. */
  chatCompletionsSource: string;
  /** Which usage format a request speaks (by path, and by method where a GET reads back a stored object). */
  formatFor(path: string, method: string): FormatChoice;
  /** Model named by the path (Gemini), when the body has none. */
  modelFromPath?(path: string): string | undefined;
  /** Whether the request asks for a stream in a way other than body `stream: true` (Dashscope's header, Gemini's path). */
  streamRequested?(req: RequestFacts): boolean;
  /** When set, OpenAI-style streams without include_usage get it injected and the usage-only chunk removed. */
  injectStreamUsage?: StreamUsageInjection;
  /** Response headers (lower-case) besides Location whose value is an absolute URL of the provider's own, which a
   *  client calls next (Gemini's resumable upload URL): rewritten to go through arouter. */
  urlHeaders?: readonly string[];
  /**
   * Upload sessions among those URLs, which clients follow with no credential (the provider's session id is the
   * capability): a handed-out URL matching `url` (path and query) gets an upload grant (src/keys/upload-grants.ts),
   * usable with `methods` only, and dropped once an answer on it carries `done` (the session is over).
   */
  uploadSessions?: { url: RegExp; methods: readonly string[]; done: readonly [header: string, value: RegExp] };
  /** Paths whose answers carry the provider's own absolute URLs as JSON strings for the client to call next
   *  (Anthropic's batch `results_url`): each becomes the same URL through arouter. */
  bodyUrlPaths?: RegExp;
  /** Its stored-object APIs, when it has any. */
  storedObjects?: StoredObjectRoutes;
  /** GET paths (as sent) reading one object whose id may hold a "/" that SDKs send as %2F (Groq's and NVIDIA's model
   *  ids, `openai/gpt-oss-20b`); an encoded slash is refused everywhere else (src/proxy/target.ts). */
  slashedIdReads?: RegExp;
}
