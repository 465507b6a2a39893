// TypeBox schema of one usage snippet in a job (see src/usage/job-payload.ts), checked one by one so a bad entry fails alone.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { MAX_LINE_GROUPS, MAX_MODEL_CHARS } from '../src/usage/lines.ts';
import type { UsageSnippet } from '../src/usage/snippet.ts';

const Truncated = Type.Optional(Type.Boolean());
const Count = Type.Number({ minimum: 0 });
/** Counted things (batched requests, lines), not tokens a provider may report oddly: whole numbers. */
const Whole = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

const CaptureSchema = Type.Union([
  Type.Object({ kind: Type.Literal('json'), fields: Type.Record(Type.String(), Type.String()), truncated: Truncated }),
  Type.Object({
    kind: Type.Literal('sse'),
    events: Type.Array(Type.Object({ event: Type.Optional(Type.String()), data: Type.String() })),
    truncated: Truncated,
  }),
  Type.Object({
    kind: Type.Literal('lines'),
    groups: Type.Array(
      Type.Object({
        model: Type.String({ maxLength: MAX_MODEL_CHARS }),
        requests: Whole,
        input: Count,
        cached: Count,
        cacheWrite: Count,
        cacheWrite1h: Count,
        output: Count,
        reasoning: Count,
      }),
      { maxItems: MAX_LINE_GROUPS },
    ),
    lines: Whole,
    truncated: Truncated,
  }),
  Type.Object({ kind: Type.Literal('none') }),
  Type.Object({ kind: Type.Literal('error'), message: Type.String() }),
]);

const OutcomeSchema = Type.Union(
  (['complete', 'client_abort', 'upstream_reset', 'connect_error', 'timeout_connect', 'timeout_first_byte', 'timeout_idle', 'shutdown', 'rejected'] as const).map(
    (o) => Type.Literal(o),
  ),
);


export const UsageSnippetSchema = Type.Object({
  v: Type.Literal(1),
  requestId: Type.String({ minLength: 1, maxLength: 256 }),
  ts: Type.Number({ minimum: 0, maximum: 4_294_967_295_000 }),
  accountId: Type.String({ minLength: 1, maxLength: 256 }),
  keyId: Type.String({ maxLength: 256 }),
  provider: Type.String({ minLength: 1, maxLength: 64 }),
  format: Type.String({ minLength: 1, maxLength: 64 }),
  formatOptions: Type.Optional(Type.Record(Type.String(), Type.Union([Type.Boolean(), Type.Number(), Type.String()]))),
  requestModel: Type.String(),
  method: Type.String(),
  path: Type.String(),
  status: Type.Integer({ minimum: 0, maximum: 999 }),
  stream: Type.Boolean(),
  outcome: OutcomeSchema,
  error: Type.Optional(Type.String()),
  // Durations are clamped into the row, never a reason to drop an event: older proxies could send a negative one
  // when the wall clock stepped back mid-request.
  latencyMs: Type.Number(),
  ttfbMs: Type.Optional(Type.Number()),
  bytesIn: Count,
  bytesOut: Count,
  capture: CaptureSchema,
});

// The schema and snippet.ts must describe the same shape; a change to either breaks the type check here.
type SchemaSnippet = Static<typeof UsageSnippetSchema>;
const sameShape: [(s: SchemaSnippet) => UsageSnippet, (s: UsageSnippet) => SchemaSnippet] = [(s) => s, (s) => s];
void sameShape;

const snippetCheck = TypeCompiler.Compile(UsageSnippetSchema);


export type SnippetCheck = { ok: true; snippet: UsageSnippet } | { ok: false; error: string };

/** Names the first offending field, never its value (values are customer data). */
export function checkSnippet(v: unknown): SnippetCheck {
  if (snippetCheck.Check(v)) return { ok: true, snippet: v };
  const first = snippetCheck.Errors(v).First();
  const id = typeof v === 'object' && v !== null && typeof (v as { requestId?: unknown }).requestId === 'string'
    ? ` (request ${(v as { requestId: string }).requestId.slice(0, 256)})`
    : '';
  return { ok: false, error: `malformed usage snippet${id}: ${first ? `${first.path || '/'} ${first.message}` : 'not an object'}` };
}
