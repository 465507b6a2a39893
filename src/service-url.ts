// Checks a service URL before a client library sees it: the libraries put the whole URL, password included, into the errors they throw.

/** Why `value` is not a usable URL for `name`, naming the variable and never echoing the value; null when it is. */
function serviceUrlProblem(name: string, value: string, protocols: readonly string[], socketPath = false): string | null {
  if (socketPath && value.startsWith('/')) return null; // a Unix socket path, which ioredis takes as it is
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${name} is not a valid URL`;
  }
  return protocols.includes(url.protocol) ? null : `${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')}`;
}

/** The first problem with the two service URLs every process reads (Redis, ClickHouse), or null. */
export function serviceUrlsProblem(redisUrl: string, clickhouseUrl: string): string | null {
  return serviceUrlProblem('REDIS_URL', redisUrl, ['redis:', 'rediss:'], true) ?? serviceUrlProblem('CLICKHOUSE_URL', clickhouseUrl, ['http:', 'https:']);
}
