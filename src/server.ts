// Starts the proxy: loads settings, serves the app, and drains cleanly on SIGTERM/SIGINT.
import { ConfigError, loadSettings } from './config.ts';
import { createLogger } from './log.ts';
import { redactText } from './proxy/redact.ts';
import { CLIENT_IDLE_TIMEOUT_S, createRuntime, type Runtime } from './runtime.ts';

let settings;
try {
  settings = loadSettings();
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(2);
}
const log = createLogger(settings.env.AROUTER_LOG_LEVEL);
let rt: Runtime;
try {
  rt = await createRuntime(settings, log);
} catch (err) {
  // Client libraries quote their URL (password included) in errors: anything configured as secret is masked.
  const { env, providerKeys } = settings;
  const secrets = [env.REDIS_URL, env.CLICKHOUSE_URL, env.CLICKHOUSE_PASSWORD, env.AROUTER_ADMIN_TOKEN ?? '', ...providerKeys.values()];
  log('error', 'arouter could not start', { error: redactText(err instanceof Error ? `${err.name}: ${err.message}` : 'unknown error', secrets).slice(0, 500) });
  process.exit(2);
}

// Body limit is enforced by arouter itself (413 with a JSON error, a request id, a log line and a metric), for a
// declared length before any byte is read and for a chunked body as it is counted. Bun's own cap is lifted out of the
// way: a cap of its own answers a larger declared length with a bare 413 and a closed connection before arouter sees
// the request, which SDKs report as a connection error.
//
// What a client sends after an answer Bun reads and drops, so the connection stays usable and a client still sending
// reads the answer rather than a reset. A declared length far over the limit can never be accepted, and draining it
// would be work without bound for anyone (a 401 too): such an answer closes the connection instead.
const drainMaxBytes = settings.env.AROUTER_MAX_BODY_BYTES + 32 * 1024 * 1024;
const closing = (res: Response): Response => {
  const headers = new Headers(res.headers);
  headers.set('connection', 'close');
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
};
const fetchAndClose = (req: Request): Response | Promise<Response> => {
  const res = rt.fetch(req);
  if (!(Number(req.headers.get('content-length')) > drainMaxBytes)) return res;
  return res instanceof Promise ? res.then(closing) : closing(res);
};
const server = Bun.serve({
  port: settings.env.PORT,
  hostname: settings.env.HOST,
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  // Guards idle keep-alive, slow headers and slow bodies; a proxied request lifts it while the provider works
  // (see ClientTimeout in src/proxy/forward.ts).
  idleTimeout: CLIENT_IDLE_TIMEOUT_S,
  // Bun's development mode (its default unless NODE_ENV=production) prints every cut response stream to stderr with
  // source excerpts, breaking the JSON-lines log, and answers a thrown error with an HTML page showing source.
  development: false,
  fetch: fetchAndClose,
});
rt.setServer(server);
// The port Bun actually bound (PORT=0 picks a free one): tests and scripts read it from this line.
log('info', 'arouter listening', { host: settings.env.HOST, port: server.port, providers: [...settings.providerKeys.keys()].join(',') });
// Bun's fetch runs at most BUN_CONFIG_MAX_HTTP_REQUESTS requests at once (256 when unset) and queues the rest, so
// request 257 would wait for a stream to end. Bun reads it once at process start: the launcher has to set it.
if (!process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) {
  log('warn', 'upstream concurrency is capped at 256: set BUN_CONFIG_MAX_HTTP_REQUESTS (e.g. 65535) in the environment', {});
}

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  log('info', 'draining', { signal, deadline_ms: settings.env.AROUTER_DRAIN_TIMEOUT_MS });
  server.stop(false);
  const { cut } = await rt.drain(settings.env.AROUTER_DRAIN_TIMEOUT_MS);
  log('info', 'stopped', { cut_requests: cut });
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
// A closed terminal sends SIGHUP to the whole process group: drain as for the others rather than die mid-request.
process.on('SIGHUP', () => void stop('SIGHUP'));
