// Connect timeout for fetch, which has none of its own: a bare TCP connect to the origin runs beside the request;
// if that cannot connect in time, the request is cut as a connect timeout.

export interface ConnectProbe {
  readonly timeoutMs: number;
  /** Starts watching a request to `base`; returns a stop function. */
  watch(base: string, onTimeout: () => void): () => void;
  markReachable(base: string): void;
}

/** A pooled keep-alive connection is likely while an origin answered within this window. */
const WARM_MS = 30_000;

export function createConnectProbe(timeoutMs: number): ConnectProbe {
  const lastOk = new Map<string, number>();
  return {
    timeoutMs,
    markReachable(base) {
      lastOk.set(base, Date.now());
    },
    watch(base, onTimeout) {
      const seen = lastOk.get(base);
      if (seen === undefined || Date.now() - seen >= WARM_MS) return probe(base, timeoutMs, onTimeout);
      // A warm origin most likely serves this request on a pooled connection, so it gets no probe up front. Only a
      // request still without an answer after one timeout probes, which catches an origin that has since gone dark
      // (new connections hang) within two timeouts, at the cost of one spare connect per slow answer.
      let stopProbe = () => {};
      const later = setTimeout(() => (stopProbe = probe(base, timeoutMs, onTimeout)), timeoutMs);
      return () => {
        clearTimeout(later);
        stopProbe();
      };
    },
  };
}

function probe(base: string, timeoutMs: number, onTimeout: () => void): () => void {
  const { hostname, port } = hostPort(base);
  let settled = false;
  const timer = setTimeout(() => {
    if (!settled) {
      settled = true;
      onTimeout();
    }
  }, timeoutMs);
  const settle = () => {
    settled = true;
    clearTimeout(timer);
  };
  Bun.connect({
    hostname,
    port,
    socket: {
      open(s) {
        settle();
        s.end();
      },
      data() {},
      // Refused or unreachable: fetch itself reports that at once, so the probe stays quiet.
      connectError: settle,
    },
  }).catch(settle);
  return settle;
}

function hostPort(base: string): { hostname: string; port: number } {
  const u = new URL(base);
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return { hostname: u.hostname.replace(/^\[|\]$/g, ''), port };
}
