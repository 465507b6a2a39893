// The arouter key format (lr_live_<random>), its hash, and constant-time comparison.

export const KEY_PREFIX = 'lr_live_';
const KEY_SHAPE = /^lr_live_[A-Za-z0-9_-]{20,128}$/;

export function generateKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return KEY_PREFIX + Buffer.from(bytes).toString('base64url');
}

export function generateKeyId(): string {
  return `key_${Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString('base64url')}`;
}

export function looksLikeKey(s: string): boolean {
  return KEY_SHAPE.test(s);
}

/** SHA-256 is enough here: keys carry 256 bits of entropy, so no slow KDF is needed to resist guessing. */
export function hashKey(key: string): string {
  return Bun.SHA256.hash(key, 'hex');
}

/** Constant-time comparison of two hex digests, without allocating (it runs on every request). */
export function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
