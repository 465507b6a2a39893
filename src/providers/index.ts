// The one registry of providers, keyed by URL slug.
import { anthropic } from './anthropic.ts';
import { cohere } from './cohere.ts';
import { dashscope } from './dashscope.ts';
import { deepseek } from './deepseek.ts';
import { google } from './google.ts';
import { groq } from './groq.ts';
import { kimi } from './kimi.ts';
import { minimax } from './minimax.ts';
import { mistral } from './mistral.ts';
import { nvidia } from './nvidia.ts';
import { openai } from './openai.ts';
import type { ProviderSpec } from './types.ts';
import { xai } from './xai.ts';

export const PROVIDERS: readonly ProviderSpec[] = [
  openai, anthropic, google, deepseek, xai, kimi, minimax, mistral, groq, cohere, nvidia, dashscope,
];

const bySlug = new Map(PROVIDERS.map((p) => [p.slug, p]));

export function providerBySlug(slug: string): ProviderSpec | undefined {
  return bySlug.get(slug);
}

/** Environment prefix for a slug: OPENAI, ANTHROPIC, GOOGLE, ... */
export function envName(slug: string): string {
  return slug.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export type { ProviderSpec } from './types.ts';
