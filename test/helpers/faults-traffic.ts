// A concurrent request loop through the proxy that records which requests were served (200 with an x-arouter-request-id).
import { waitFor } from './env.ts';

export interface ProxyCall {
  /** e.g. /openai/v1/chat/completions */
  path: string;
  body: string;
}

export const OPENAI_CHAT_CALL: ProxyCall = {
  path: '/openai/v1/chat/completions',
  body: JSON.stringify({ model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'Invent a holiday.' }] }),
};

export interface TrafficOptions {
  /** Read on every request, so a restarted proxy (new port) is picked up. */
  target: () => { url: string; key: string };
  concurrency: number;
  next?: () => ProxyCall;
}

export interface Traffic {
  /** Request ids of responses the client got in full with status 200. */
  readonly served: Set<string>;
  /** Ids of responses with another status, or read errors after the headers (each still has a row). */
  readonly answeredNot200: Map<string, number>;
  /** Requests that got no response at all, or no request id. */
  readonly failures: string[];
  readonly sent: number;
  /** Slowest response so far (headers to end of body), and how many took 5 s or more. */
  readonly maxLatencyMs: number;
  readonly slow: number;
  waitServed(n: number, timeoutMs?: number): Promise<void>;
  /** Stop issuing requests and wait for those in flight. */
  stop(): Promise<void>;
}

export function startTraffic(o: TrafficOptions): Traffic {
  const served = new Set<string>();
  const answeredNot200 = new Map<string, number>();
  const failures: string[] = [];
  let sent = 0;
  let maxLatencyMs = 0;
  let slow = 0;
  let running = true;
  const next = o.next ?? (() => OPENAI_CHAT_CALL);

  const one = async (): Promise<void> => {
    const { url, key } = o.target();
    const call = next();
    sent++;
    const t0 = performance.now();
    let res: Response;
    try {
      res = await fetch(`${url}${call.path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: call.body });
    } catch (e) {
      failures.push(`no response: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const id = res.headers.get('x-arouter-request-id');
    let bodyOk = true;
    let text = '';
    try {
      text = await res.text();
    } catch {
      bodyOk = false;
    }
    const ms = performance.now() - t0;
    maxLatencyMs = Math.max(maxLatencyMs, ms);
    if (ms >= 5_000) slow++;
    if (!id) failures.push(`status ${res.status} without a request id`);
    else if (res.status === 200 && bodyOk) served.add(id);
    else {
      answeredNot200.set(id, res.status);
      failures.push(`status ${res.status}${bodyOk ? '' : ' (body cut)'}: ${text.slice(0, 160)}`);
    }
  };
  const loops = Array.from({ length: o.concurrency }, async () => {
    while (running) await one();
  });

  return {
    served,
    answeredNot200,
    failures,
    get sent() {
      return sent;
    },
    get maxLatencyMs() {
      return Math.round(maxLatencyMs);
    },
    get slow() {
      return slow;
    },
    waitServed: async (n, timeoutMs = 20_000) => {
      await waitFor(() => served.size >= n || failures.length > 0, timeoutMs, `${n} served requests`);
      if (failures.length > 0) throw new Error(`requests failed: ${failures.slice(0, 5).join(' | ')}`);
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
