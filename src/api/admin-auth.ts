// The admin bearer-token check shared by every /admin route (constant-time comparison).
import { timingSafeEqual } from 'node:crypto';
import { ArouterError, errorResponse, unauthorized } from '../errors.ts';

/** A check returning an error Response to send, or null when the caller is the admin. */
export function adminGuard(adminToken: string | undefined): (req: Request, requestId: string) => Response | null {
  const want = adminToken ? Buffer.from(`Bearer ${adminToken}`) : null;
  return (req, requestId) => {
    if (!want) return errorResponse(new ArouterError(404, 'admin_disabled', 'The admin API is off: set AROUTER_ADMIN_TOKEN to enable it.'), requestId);
    const got = Buffer.from(req.headers.get('authorization') ?? '');
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      return errorResponse(unauthorized('Admin endpoints need "Authorization: Bearer <AROUTER_ADMIN_TOKEN>".'), requestId);
    }
    return null;
  };
}
