// One JSON and one SSE request per target before measuring: is the answer still the provider's?
import { chatJson, chatRequest, MODEL_JSON, modelSse } from "../mock/fixtures.ts";
import type { RunningTarget } from "../lib/types.ts";

export interface Fidelity {
  jsonStatus: number;
  /** Byte-for-byte the recorded body. */
  jsonIdentical: boolean;
  /** Same JSON value, maybe re-serialized. */
  jsonEquivalent: boolean;
  sseStatus: number;
  sseEvents: number;
  sseHasUsage: boolean;
  requestIdHeader: boolean;
  error?: string;
}

/** Key order is not meaning: a gateway that re-serializes the body still counts as equivalent. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  }
  return v;
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export async function preflight(t: RunningTarget, sseEvents: number): Promise<Fidelity> {
  const out: Fidelity = { jsonStatus: 0, jsonIdentical: false, jsonEquivalent: false, sseStatus: 0, sseEvents: 0, sseHasUsage: false, requestIdHeader: false };
  const init = (body: string): RequestInit => ({ method: "POST", headers: t.endpoint.headers, body, signal: AbortSignal.timeout(15_000) });
  try {
    const expected = chatJson();
    const r = await fetch(t.endpoint.url, init(chatRequest(MODEL_JSON, false)));
    const got = new Uint8Array(await r.arrayBuffer());
    out.jsonStatus = r.status;
    out.requestIdHeader = r.headers.has("x-arouter-request-id");
    out.jsonIdentical = equalBytes(got, expected);
    try {
      const dec = new TextDecoder();
      out.jsonEquivalent = JSON.stringify(canonical(JSON.parse(dec.decode(got)))) === JSON.stringify(canonical(JSON.parse(dec.decode(expected))));
    } catch {
      out.jsonEquivalent = false;
    }
    const s = await fetch(t.endpoint.url, init(chatRequest(modelSse(sseEvents, 0), true)));
    const text = await s.text();
    out.sseStatus = s.status;
    out.sseEvents = text.split(/\r?\n\r?\n/).filter((e) => e.trim().length > 0).length;
    out.sseHasUsage = /"usage":\{"prompt_tokens"/.test(text);
  } catch (e) {
    out.error = String(e);
  }
  return out;
}
