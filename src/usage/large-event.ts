// Shrinks an SSE event too large to keep whole to the members its usage format reads, so its usage is not lost.

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
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  return isObject(value) ? JSON.stringify(pick(value, tree)) : null;
}

function pick(obj: Record<string, unknown>, tree: MemberTree): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, want] of Object.entries(tree)) {
    if (!Object.hasOwn(obj, key)) continue;
    const v = obj[key];
    if (want === true) out[key] = v;
    else if (Array.isArray(v)) out[key] = v.map((e) => (isObject(e) ? pick(e, want) : e));
    else if (isObject(v)) out[key] = pick(v, want);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
