// The admin bearer-token check shared by every /admin route (constant-time comparison).
import { createHash, timingSafeEqual } from 'node:crypto';
import { ArouterError, errorResponse, unauthorized } from '../errors.ts';

/** Anchored with one quantifier, so its cost is linear in the header whatever an unauthenticated caller sends. */
const BEARER_SCHEME = /^Bearer[ \t]+/i;

/** The token of an `Authorization: Bearer <token>` header, surrounding whitespace dropped; '' when there is none. */
function bearerToken(header: string | null): string {
  const v = (header ?? '').trim();
  const scheme = BEARER_SCHEME.exec(v);
  return scheme ? v.slice(scheme[0].length).trim() : '';
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A check returning an error Response to send, or null when the caller is the admin. */
export function adminGuard(adminToken: string | undefined): (req: Request, requestId: string) => Response | null {
  const want = adminToken ? digest(adminToken) : null;
  return (req, requestId) => {
    if (!want) return errorResponse(new ArouterError(404, 'admin_disabled', 'The admin API is off: set AROUTER_ADMIN_TOKEN to enable it.'), requestId);
    // The scheme is case-insensitive (RFC 9110 11.1). Digests of equal length are compared in constant time, so the
    // answer's timing tells nothing about the token, its length included.
    const got = bearerToken(req.headers.get('authorization'));
    if (got === '' || !timingSafeEqual(digest(got), want)) {
      return errorResponse(unauthorized('Admin endpoints need "Authorization: Bearer <AROUTER_ADMIN_TOKEN>".'), requestId);
    }
    return null;
  };
}
