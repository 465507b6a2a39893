// GET /v1/usage (the caller's own account, by arouter key) and GET /admin/usage (every account, admin token).
import type { ClickHouseClient } from '@clickhouse/client';
import type { Elysia } from 'elysia';
import { ArouterError, errorResponse } from '../errors.ts';
import type { Authenticator } from '../keys/auth.ts';
import { extractClientKey } from '../keys/extract.ts';
import type { Logger } from '../log.ts';
import { adminGuard } from './admin-auth.ts';
import { parseUsageQuery, queryUsage, UsageQueryError, type UsageQueryParams } from './usage-query.ts';

export interface UsageRouteDeps {
  ch: ClickHouseClient;
  db: string;
  auth: Authenticator;
  adminToken: string | undefined;
  log: Logger;
  newRequestId(): string;
}

export function usageRoutes(d: UsageRouteDeps) {
  const requireAdmin = adminGuard(d.adminToken);
  const answer = async (requestId: string, params: UsageQueryParams): Promise<Response> => {
    const report = await queryUsage(d.ch, d.db, params);
    return new Response(JSON.stringify(report), { headers: { 'content-type': 'application/json', 'x-arouter-request-id': requestId } });
  };
  const guarded = async (requestId: string, run: () => Promise<Response>): Promise<Response> => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof ArouterError) return errorResponse(err, requestId);
      if (err instanceof UsageQueryError) return errorResponse(new ArouterError(400, err.code, err.message), requestId);
      d.log('error', 'usage query failed', { request_id: requestId, error: err instanceof Error ? err.message.slice(0, 200) : 'unknown' });
      return errorResponse(new ArouterError(503, 'usage_store_unavailable', 'The usage store did not answer; retry shortly.'), requestId);
    }
  };
  const query = (req: Request) => {
    const q = new URL(req.url).searchParams;
    return { q, params: parseUsageQuery({ from: q.get('from'), to: q.get('to'), group_by: q.get('group_by') }) };
  };

  return (app: Elysia) =>
    app
      .get('/v1/usage', ({ request }) => {
        const id = d.newRequestId();
        return guarded(id, async () => {
          const { q, params } = query(request);
          // The key may ride in ?key=, as on the provider routes.
          const principal = await d.auth.authenticate(extractClientKey(request.headers, q));
          return answer(id, { ...params, accountId: principal.accountId });
        });
      })
      .get('/admin/usage', ({ request }) => {
        const id = d.newRequestId();
        const denied = requireAdmin(request, id);
        if (denied) return denied;
        return guarded(id, async () => {
          const { q, params } = query(request);
          // Present but empty (a script's unset variable) is refused by checkParams, not read as every account.
          const account = q.get('account');
          return answer(id, account === null ? params : { ...params, accountId: account });
        });
      });
}
