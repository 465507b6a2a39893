// The admin bearer-token check shared by every /admin route (constant-time comparison).
import { timingSafeEqual } from 'node:crypto';
import { ArouterError, errorResponse, unauthorized } from '../errors.ts';

const BEARER = /^\s*Bearer\s+(.+?)\s*$/i;

/** A check returning an error Response to send, or null when the caller is the admin. */
export function adminGuard(adminToken: string | undefined): (req: Request, requestId: string) => Response | null {
  const want = adminToken ? Buffer.from(adminToken) : null;
  return (req, requestId) => {
    if (!want) return errorResponse(new ArouterError(404, 'admin_disabled', 'The admin API is off: set AROUTER_ADMIN_TOKEN to enable it.'), requestId);
    // The scheme is case-insensitive (RFC 9110 11.1); the token is compared in constant time.
    const got = Buffer.from(BEARER.exec(req.headers.get('authorization') ?? '')?.[1] ?? '');
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      return errorResponse(unauthorized('Admin endpoints need "Authorization: Bearer <AROUTER_ADMIN_TOKEN>".'), requestId);
    }
    return null;
  };
}
