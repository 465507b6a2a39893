// Starts the proxy: loads settings, serves the app, and drains cleanly on SIGTERM/SIGINT.
import { ConfigError, loadSettings } from './config.ts';
import { createLogger } from './log.ts';
import { createRuntime } from './runtime.ts';

let settings;
try {
  settings = loadSettings();
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(2);
}
const log = createLogger(settings.env.AROUTER_LOG_LEVEL);
const rt = await createRuntime(settings, log);

// Body limit is enforced by arouter itself (413 with a JSON error); Bun's own cap must sit above it.
const server = Bun.serve({
  port: settings.env.PORT,
  hostname: settings.env.HOST,
  maxRequestBodySize: settings.env.AROUTER_MAX_BODY_BYTES + 1024 * 1024,
  // Bun's socket idle timeout (seconds) guards idle keep-alive and slow clients; proxied requests lift it
  // because a model may think for minutes between bytes (arouter's own idle timeout covers the upstream).
  idleTimeout: 30,
  fetch: (req) => rt.app.handle(req),
});
rt.setServer(server);
log('info', 'arouter listening', { host: settings.env.HOST, port: server.port, providers: [...settings.providerKeys.keys()].join(',') });

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
