// Price table (USD per million tokens, per provider and model) and the integer micro-dollar cost of one usage row.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { CanonicalUsage } from './snippet.ts';

const Rate = Type.Number({ minimum: 0, maximum: 1_000_000 });
const ModelPriceSchema = Type.Object(
  { input: Rate, cached_input: Type.Optional(Rate), cache_write: Type.Optional(Rate), cache_write_1h: Type.Optional(Rate), output: Rate },
  { additionalProperties: false },
);
const PriceFileSchema = Type.Object({
  providers: Type.Record(Type.String({ minLength: 1 }), Type.Record(Type.String({ minLength: 1 }), ModelPriceSchema)),
});

/** Rates in USD per million tokens, every one filled in. */
export interface ModelPrice {
  input: number;
  cached_input: number;
  cache_write: number;
  /** Rate for cache writes with a one-hour lifetime (Anthropic); defaults to cache_write. */
  cache_write_1h: number;
  output: number;
}

export interface PriceMatch {
  /** The table entry that matched (the model itself, or the id its snapshot suffix was cut from). */
  key: string;
  price: ModelPrice;
}

export interface PricedUsage {
  cost_micro_usd: number;
  price_known: 0 | 1;
}

export class PriceTableError extends Error {
  readonly code = 'invalid_price_table';
  readonly status = 500;
}

export const DEFAULT_PRICES_FILE = fileURLToPath(new URL('./prices.json', import.meta.url));

export class PriceTable {
  private readonly byProvider: Map<string, Map<string, ModelPrice>>;

  constructor(file: Static<typeof PriceFileSchema>) {
    this.byProvider = new Map(
      Object.entries(file.providers).map(([provider, models]) => [
        provider,
        new Map(
          Object.entries(models).map(([model, p]) => [
            model,
            {
              input: p.input,
              cached_input: p.cached_input ?? p.input,
              cache_write: p.cache_write ?? p.input,
              cache_write_1h: p.cache_write_1h ?? p.cache_write ?? p.input,
              output: p.output,
            },
          ]),
        ),
      ]),
    );
  }

  /**
   * Exact id first, then a listed id followed by a snapshot or alias suffix only (a date, a version number, -latest):
   * the same model at another point in time. Any other suffix names another model at its own price (grok-3-mini-fast
   * costs several times grok-3-mini), so it is unpriced rather than billed at its stem's rates.
   */
  lookup(provider: string, model: string): PriceMatch | undefined {
    const models = this.byProvider.get(provider);
    if (!models || model === '') return undefined;
    const exact = models.get(model);
    if (exact) return { key: model, price: exact };
    const cut = SNAPSHOT_SUFFIX.exec(model);
    if (!cut) return undefined;
    const stem = model.slice(0, cut.index);
    const price = models.get(stem);
    return price ? { key: stem, price } : undefined;
  }

  /** Every priced model, for listings such as GET /v1/models. */
  list(): Array<{ provider: string; model: string }> {
    const out: Array<{ provider: string; model: string }> = [];
    for (const [provider, models] of this.byProvider) for (const model of models.keys()) out.push({ provider, model });
    return out;
  }

  price(provider: string, usage: CanonicalUsage): PricedUsage {
    const match = this.lookup(provider, usage.model);
    return match ? { cost_micro_usd: costMicroUsd(usage, match.price), price_known: 1 } : { cost_micro_usd: 0, price_known: 0 };
  }
}

/**
 * What providers append to a model id for a snapshot or alias of it: -latest or -beta (xAI's grok-3-mini-beta), or a
 * date or version number (-2025-04-14, -20250929, Gemini's month-day -05-20, -0919, -08-2024, -001).
 */
const SNAPSHOT_SUFFIX = /-(?:latest|beta|\d{4}-\d{2}-\d{2}|\d{8}|\d{2}-\d{4}|\d{2}-\d{2}|\d{3,4})$/;

export function parsePriceTable(json: unknown): PriceTable {
  if (!Value.Check(PriceFileSchema, json)) {
    const first = [...Value.Errors(PriceFileSchema, json)][0];
    throw new PriceTableError(`price table is invalid at ${first?.path || '/'}: ${first?.message ?? 'unknown error'}`);
  }
  return new PriceTable(json);
}

/** Read once at start-up; a broken operator edit must stop the worker rather than bill everything at 0. */
export function loadPriceTable(path: string = process.env.AROUTER_PRICES_FILE || DEFAULT_PRICES_FILE): PriceTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PriceTableError(`cannot read price table ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PriceTableError(`price table ${path} is not JSON: ${(e as Error).message}`);
  }
  return parsePriceTable(json);
}

const PICO_PER_MICRO = 1_000_000n;

const bigMin = (a: bigint, b: bigint): bigint => (a < b ? a : b);

function tokens(n: number): bigint {
  return Number.isFinite(n) && n > 0 ? BigInt(Math.trunc(n)) : 0n;
}

/** USD per million tokens is pico-dollars per token times 1e-6; rates with up to six decimals stay exact. */
function picoPerToken(usdPerMillion: number): bigint {
  return BigInt(Math.round(usdPerMillion * 1_000_000));
}

/**
 * Cost in micro-dollars, rounded half up once at the end. input_tokens already include the cached and cache-write
 * parts (providers.md), so only the rest is billed at the plain input rate. BigInt keeps large counts exact.
 */
export function costMicroUsd(usage: CanonicalUsage, price: ModelPrice): number {
  const input = tokens(usage.input_tokens);
  const cached = tokens(usage.cached_input_tokens);
  const written = tokens(usage.cache_write_tokens);
  const writtenHour = bigMin(tokens(usage.cache_write_1h_tokens ?? 0), written);
  const plain = input - cached - written;
  const pico =
    (plain > 0n ? plain : 0n) * picoPerToken(price.input) +
    cached * picoPerToken(price.cached_input) +
    (written - writtenHour) * picoPerToken(price.cache_write) +
    writtenHour * picoPerToken(price.cache_write_1h) +
    tokens(usage.output_tokens) * picoPerToken(price.output);
  return Number((pico + PICO_PER_MICRO / 2n) / PICO_PER_MICRO);
}
