// Test helpers for usage capture: fixture bytes as the wire carries them, chunking strategies, and snippet building.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCapture } from '../../src/usage/capture.ts';
import { formatById } from '../../src/usage/formats/index.ts';
import type { Capture, Outcome, UsageSnippet } from '../../src/usage/snippet.ts';
import { FIXTURES_DIR } from '../helpers/env.ts';

/**
 * How a fixture file becomes wire bytes (fixtures/SOURCES.md): `body` as is; `openai` / `typed` / `plain` from
 * `*.chunks.jsonl`; `anthropic-raw` adds the missing final blank line; `json-array` is Gemini without alt=sse.
 */
export type Wire = 'body' | 'openai' | 'typed' | 'plain' | 'anthropic-raw' | 'json-array';

export function fixtureText(rel: string): string {
  return readFileSync(join(FIXTURES_DIR, rel), 'utf8');
}

export function fixtureBytes(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES_DIR, rel)));
}

export function chunkLines(rel: string): string[] {
  return fixtureText(rel).split('\n').filter((l) => l.trim() !== '');
}

/** One SSE event per payload line, framed as SOURCES.md says. */
export function sseEventsOf(rel: string, wire: 'openai' | 'typed' | 'plain'): string[] {
  const events = chunkLines(rel).map((line) => {
    const type = wire === 'typed' ? (JSON.parse(line) as { type: string }).type : undefined;
    return `${type ? `event: ${type}\n` : ''}data: ${line}\n\n`;
  });
  if (wire === 'openai') events.push('data: [DONE]\n\n');
  return events;
}

const encoder = new TextEncoder();

export function wireBytes(rel: string, wire: Wire): Uint8Array {
  switch (wire) {
    case 'body':
      return fixtureBytes(rel);
    case 'anthropic-raw': {
      const t = fixtureText(rel);
      return encoder.encode(t.endsWith('\n\n') ? t : t.endsWith('\n') ? `${t}\n` : `${t}\n\n`);
    }
    case 'json-array':
      // Gemini streams the array element by element, separated as its servers do: ",\r\n".
      return encoder.encode(`[${chunkLines(rel).join(',\r\n')}]`);
    default:
      return encoder.encode(sseEventsOf(rel, wire).join(''));
  }
}

/** The content type from a recorded response-header file. */
export function contentTypeFromHeaders(rel: string): string {
  const line = fixtureText(rel).split(/\r?\n/).find((l) => /^content-type:/i.test(l));
  if (!line) throw new Error(`no content-type in ${rel}`);
  return line.slice(line.indexOf(':') + 1).trim();
}

export function captureOf(format: string, contentType: string | null, pieces: Iterable<Uint8Array>): Capture {
  const f = formatById(format);
  if (!f) throw new Error(`no format ${format}`);
  const cap = createCapture(f, contentType);
  for (const p of pieces) cap.feed(p);
  return cap.finish();
}

export function* bytewise(bytes: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i++) yield bytes.subarray(i, i + 1);
}

export function* chunked(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

export function concat(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface SnippetFacts {
  format: string;
  capture: Capture;
  formatOptions?: Record<string, boolean | number | string>;
  requestModel?: string;
  status?: number;
  outcome?: Outcome;
}

export function snippet(f: SnippetFacts): UsageSnippet {
  return {
    v: 1,
    requestId: 'req_test',
    ts: 0,
    accountId: 'acct',
    keyId: 'key',
    provider: 'test',
    format: f.format,
    ...(f.formatOptions ? { formatOptions: f.formatOptions } : {}),
    requestModel: f.requestModel ?? 'request-model',
    method: 'POST',
    path: '/',
    status: f.status ?? 200,
    stream: false,
    outcome: f.outcome ?? 'complete',
    latencyMs: 1,
    bytesIn: 0,
    bytesOut: 0,
    capture: f.capture,
  };
}

/** A tiny deterministic PRNG, so "random" garbage is the same on every run. */
export function seededBytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
