// Loads the real provider fixtures and turns them into the bytes a provider sends on the wire (see fixtures/SOURCES.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES_DIR } from './env.ts';

export function fixtureBytes(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES_DIR, rel)));
}

export function fixtureText(rel: string): string {
  return readFileSync(join(FIXTURES_DIR, rel), 'utf8');
}

/** 'openai': data lines then [DONE]; 'typed': `event: <type>` lines too (Anthropic, Cohere v2, Responses); 'plain': data lines only (Gemini). */
export type SseFlavor = 'openai' | 'typed' | 'plain';

/** `*.chunks.jsonl` → SSE bytes: `data: <line>\n\n` per line; typed flavors add `event: <type>\n`; OpenAI-style ends with [DONE]. */
export function sseFromChunks(rel: string, flavor: SseFlavor): string {
  const lines = fixtureText(rel).split('\n').filter((l) => l.trim() !== '');
  let out = '';
  for (const line of lines) {
    if (flavor === 'typed') {
      const type = (JSON.parse(line) as { type?: string }).type;
      if (type) out += `event: ${type}\n`;
    }
    out += `data: ${line}\n\n`;
  }
  if (flavor === 'openai') out += 'data: [DONE]\n\n';
  return out;
}

/** The Anthropic raw recordings lack the blank line closing their last event; the wire has it. */
export function anthropicRawSse(rel: string): string {
  const t = fixtureText(rel);
  return t.endsWith('\n\n') ? t : t.endsWith('\n') ? `${t}\n` : `${t}\n\n`;
}

/** Split SSE text into its events (each with its terminating blank line), for paced replay. */
export function sseEvents(text: string): string[] {
  return text.split(/(?<=\n\n)/).filter((e) => e.length > 0);
}
