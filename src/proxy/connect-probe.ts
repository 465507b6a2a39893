// Connect timeout for fetch, which has none of its own: when an upstream has not answered lately, a bare TCP
// connect runs beside the request; if that cannot connect in time, the request is cut as a connect timeout.

export interface ConnectProbe {
  readonly timeoutMs: number;
  /** Starts watching a request to `base`; returns a stop function. */
  watch(base: string, onTimeout: () => void): () => void;
  markReachable(base: string): void;
}

/** A pooled keep-alive connection is likely while an origin answered within this window, so no probe is needed. */
const WARM_MS = 30_000;

export function createConnectProbe(timeoutMs: number): ConnectProbe {
  const lastOk = new Map<string, number>();
  const noop = () => {};
  return {
    timeoutMs,
    markReachable(base) {
      lastOk.set(base, Date.now());
    },
    watch(base, onTimeout) {
      const seen = lastOk.get(base);
      if (seen !== undefined && Date.now() - seen < WARM_MS) return noop;
      const { hostname, port } = hostPort(base);
      let settled = false;
      const timer = setTimeout(() => {
        if (!settled) {
          settled = true;
          onTimeout();
        }
      }, timeoutMs);
      Bun.connect({
        hostname,
        port,
        socket: {
          open(s) {
            settled = true;
            clearTimeout(timer);
            s.end();
          },
          data() {},
          connectError() {
            // Refused or unreachable: fetch itself reports that at once, so the probe stays quiet.
            settled = true;
            clearTimeout(timer);
          },
        },
      }).catch(() => {
        settled = true;
        clearTimeout(timer);
      });
      return () => {
        settled = true;
        clearTimeout(timer);
      };
    },
  };
}

function hostPort(base: string): { hostname: string; port: number } {
  const u = new URL(base);
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return { hostname: u.hostname.replace(/^\[|\]$/g, ''), port };
}
