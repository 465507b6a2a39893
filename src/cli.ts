// Command-line management against the same Redis the proxy uses: keys, whose stored objects are, failed usage jobs.
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { ConfigError, loadSettings } from './config.ts';
import { ACCOUNT_ID_MAX, ACCOUNT_ID_PATTERN, KeyStore, type StoredObjectAccess } from './keys/store.ts';
import { PROVIDERS, providerBySlug } from './providers/index.ts';
import { redisOwnership } from './proxy/owned-objects.ts';
import { listFailed, retryFailed } from './usage/failed-jobs.ts';
import { redactUrl } from '../workers/settings.ts';

const USAGE = `usage:
  bun run src/cli.ts keys create --account <account> [--name <name>] [--rpm <n>] [--no-stored-objects | --own-stored-objects]
  bun run src/cli.ts keys list --account <account>
  bun run src/cli.ts keys revoke <key id>
  bun run src/cli.ts objects owner --provider <provider> <object id>...
  bun run src/cli.ts objects assign --provider <provider> --account <account> <object id>...
  bun run src/cli.ts usage failed [--limit <n>] [--queue <name>]
  bun run src/cli.ts usage retry [--queue <name>] (--all | <job id>...)
Settings come from the environment (REDIS_URL, AROUTER_KEY_PREFIX, AROUTER_USAGE_QUEUE).`;

const ACCOUNT = new RegExp(ACCOUNT_ID_PATTERN);

/** --account, by the admin API's rule for account ids. */
function accountOf(args: string[]): string {
  const account = flag(args, 'account') ?? '';
  if (!ACCOUNT.test(account) || account.length > ACCOUNT_ID_MAX) throw new Error(`--account is required: letters, digits and . _ : @ - (at most ${ACCOUNT_ID_MAX})`);
  return account;
}

/**
 * Each command's options that take a value, and its switches; anything else is an error, so a misspelt switch cannot
 * make a key with more access than asked for.
 */
function checkOptions(args: string[], valued: readonly string[], switches: readonly string[] = []): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (switches.includes(a)) continue;
    if (!valued.includes(a)) throw new Error(`unknown option ${a.slice(0, 64)}`);
    const v = args[++i];
    if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value`);
  }
}

function storedObjectsOf(args: string[]): StoredObjectAccess {
  const none = args.includes('--no-stored-objects');
  const own = args.includes('--own-stored-objects');
  if (none && own) throw new Error('--no-stored-objects and --own-stored-objects exclude each other');
  return none ? false : own ? 'own' : true;
}

/** --rpm as the admin API takes it: a whole number, 0 or more (0 = the pod default). */
function rpmOf(args: string[]): number {
  const v = flag(args, 'rpm') ?? '0';
  if (!/^\d{1,9}$/.test(v)) throw new Error('--rpm must be a whole number, 0 or more');
  return Number(v);
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Options (each `--name` with the value after it, a switch alone) apart from the ids among them. */
function splitArgs(args: string[], switches: readonly string[] = []): { options: string[]; ids: string[] } {
  const ids: string[] = [];
  const options: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (switches.includes(a)) options.push(a);
    else if (a.startsWith('--')) options.push(a, args[++i] ?? '');
    else ids.push(a);
  }
  return { options, ids };
}

/** `objects` arguments: the provider (one with collections kept per account), then object ids after the options. */
function objectArgs(args: string[], valued: readonly string[]): { provider: string; ids: string[] } {
  const { options, ids } = splitArgs(args);
  checkOptions(options, valued);
  const provider = flag(options, 'provider') ?? '';
  const spec = providerBySlug(provider);
  if (!spec?.storedObjects?.owned) {
    throw new Error(`--provider must be one whose objects are kept per account: ${PROVIDERS.filter((p) => p.storedObjects?.owned).map((p) => p.slug).join(', ')}`);
  }
  if (ids.length === 0) throw new Error('name at least one object id');
  const bad = ids.find((id) => !/^[\x21-\x7e]{1,256}$/.test(id));
  if (bad !== undefined) throw new Error(`not an object id: ${JSON.stringify(bad.slice(0, 64))}`);
  return { provider, ids };
}

async function objectsCommand(redis: Redis, prefix: string, cmd: string, rest: string[], out: (s: string) => void): Promise<number> {
  if (cmd === 'owner') {
    const { provider, ids } = objectArgs(rest, ['--provider']);
    const owners = await redisOwnership(redis, prefix).owners(provider, ids);
    out(JSON.stringify({ provider, objects: ids.map((id, i) => ({ id, account: owners[i] ?? null })) }));
    return 0;
  }
  if (cmd === 'assign') {
    const { provider, ids } = objectArgs(rest, ['--provider', '--account']);
    const account = accountOf(rest);
    const before = await redisOwnership(redis, prefix).assign(provider, ids, account);
    out(JSON.stringify({ provider, account, objects: ids.map((id, i) => ({ id, previous: before[i] ?? null })) }));
    return 0;
  }
  out(USAGE);
  return 2;
}

/** `usage` commands: the usage queue's failed set, listed or put back to be processed again. */
async function usageCommand(redis: Redis, defaultQueue: string, cmd: string, rest: string[], out: (s: string) => void): Promise<number> {
  if (cmd !== 'failed' && cmd !== 'retry') {
    out(USAGE);
    return 2;
  }
  const switches = cmd === 'retry' ? ['--all'] : [];
  const { options, ids } = splitArgs(rest, switches);
  checkOptions(options, cmd === 'failed' ? ['--queue', '--limit'] : ['--queue'], switches);
  const name = flag(options, 'queue') ?? defaultQueue;
  if (!/^[^:]{1,200}$/.test(name)) throw new Error('--queue must be a queue name (no ":")');
  // A BullMQ queue waits for Redis without end: asked first, an unreachable Redis is an error at once.
  await redis.ping();
  const queue = new Queue(name, { connection: redis });
  queue.on('error', () => {});
  try {
    if (cmd === 'failed') {
      if (ids.length > 0) throw new Error('failed takes no job ids');
      const limit = flag(options, 'limit') ?? '20';
      if (!/^\d{1,4}$/.test(limit) || Number(limit) > 1000) throw new Error('--limit must be a whole number up to 1000');
      out(JSON.stringify({ queue: name, ...(await listFailed(queue, Number(limit))) }));
      return 0;
    }
    const all = options.includes('--all');
    if (all === ids.length > 0) throw new Error('retry takes --all or job ids, not both and not neither');
    const result = await retryFailed(queue, all ? 'all' : ids);
    out(JSON.stringify({ queue: name, ...result }));
    return result.notFailed.length === 0 ? 0 : 1;
  } finally {
    await queue.close();
  }
}

export async function runCli(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  const [group, cmd, ...rest] = argv;
  if ((group !== 'keys' && group !== 'objects' && group !== 'usage') || !cmd) {
    out(USAGE);
    return 2;
  }
  let settings;
  try {
    settings = loadSettings(env);
  } catch (err) {
    out(err instanceof ConfigError ? err.message : String(err));
    return 2;
  }
  const redis = new Redis(settings.env.REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 3_000 });
  let redisError: (Error & { code?: string }) | undefined;
  redis.on('error', (e: Error) => void (redisError = e));
  const store = new KeyStore(redis, settings.env.AROUTER_KEY_PREFIX);
  const redisUrl = settings.env.REDIS_URL;
  try {
    if (group === 'objects') return await objectsCommand(redis, settings.env.AROUTER_KEY_PREFIX, cmd, rest, out);
    if (group === 'usage') return await usageCommand(redis, settings.env.AROUTER_USAGE_QUEUE, cmd, rest, out);
    if (cmd === 'create') {
      checkOptions(rest, ['--account', '--name', '--rpm'], ['--no-stored-objects', '--own-stored-objects']);
      const account = accountOf(rest);
      const created = await store.create(account, { name: flag(rest, 'name') ?? '', rpm: rpmOf(rest), storedObjects: storedObjectsOf(rest) });
      out(JSON.stringify(created));
      return 0;
    }
    if (cmd === 'list') {
      checkOptions(rest, ['--account']);
      const account = accountOf(rest);
      const keys = (await store.list(account)).map(({ hash: _h, ...k }) => k);
      out(JSON.stringify({ account, keys }));
      return 0;
    }
    if (cmd === 'revoke') {
      const id = rest[0];
      if (!id || id.startsWith('--') || rest.length > 1) throw new Error('revoke takes one key id and nothing else');
      const ok = await store.revoke(id);
      out(JSON.stringify({ id, revoked: ok }));
      return ok ? 0 : 1;
    }
    out(USAGE);
    return 2;
  } catch (err) {
    out(`error: ${err instanceof Error ? redisProblem(err, redisUrl, redisError) ?? err.message : String(err)}`);
    return 1;
  } finally {
    redis.disconnect();
  }
}

/**
 * What a failed Redis call means, naming REDIS_URL without its password, or null for other errors. ioredis says only
 * that it gave up retrying; the connection's last error says why. Redis's own refusals (NOAUTH, WRONGPASS) name no secret.
 */
function redisProblem(err: Error, url: string, connectionError: (Error & { code?: string }) | undefined): string | null {
  const where = `REDIS_URL (${url.startsWith('/') ? url.split('?')[0] : redactUrl(url)})`;
  if (err.name === 'MaxRetriesPerRequestError') return `Redis did not answer at ${where}${connectionError ? `: ${connectionError.code ?? connectionError.message}` : ''}`;
  if (err.name === 'ReplyError') return `Redis at ${where} refused: ${err.message}`;
  return null;
}

if (import.meta.main) process.exit(await runCli(process.argv.slice(2)));
