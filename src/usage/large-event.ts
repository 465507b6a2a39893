// Shrinks an SSE event too large to keep whole to the members its usage format reads, so its usage is not lost.
import { asObject, parseObject, type JsonObject } from './formats/common.ts';

/** Members to keep: `true` keeps the whole value; a nested tree keeps those members of an object (or of each
 *  object in an array). */
export type MemberTree = { readonly [key: string]: true | MemberTree };

export function topLevelMembers(keys: readonly string[]): MemberTree {
  return Object.fromEntries(keys.map((k) => [k, true] as const));
}

/**
 * The event's data cut down to the tree's members and encoded again; null when it is not a JSON object. Only events
 * over the capture's size cap come here (a Responses API `response.completed` repeats the whole output, a Gemini
 * chunk can carry an image), so the full parse is paid rarely and only for the event whose usage is kept.
 */
export function pickMembers(data: string, tree: MemberTree): string | null {
  const value = parseObject(data);
  return value ? JSON.stringify(pick(value, tree)) : null;
}

function pick(obj: JsonObject, tree: MemberTree): JsonObject {
  const out: JsonObject = {};
  for (const [key, want] of Object.entries(tree)) {
    if (!Object.hasOwn(obj, key)) continue;
    const v = obj[key];
    if (want === true) out[key] = v;
    else if (Array.isArray(v)) out[key] = v.map((e) => pickIn(e, want));
    else if (asObject(v)) out[key] = pickIn(v, want);
  }
  return out;
}

/** The tree's members of an object; anything else as it is. */
function pickIn(v: unknown, tree: MemberTree): unknown {
  const o = asObject(v);
  return o ? pick(o, tree) : v;
}
