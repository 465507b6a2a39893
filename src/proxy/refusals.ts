// The log line and metric of a request refused before any provider call, shared by the provider and unified routes.
import { ArouterError, KeyRefusedError } from '../errors.ts';
import type { Principal } from '../keys/auth.ts';
import type { Logger } from '../log.ts';
import type { ProviderSpec } from '../providers/types.ts';

/** What a refused request had proved when it was refused: only these are named. */
export interface RefusalFacts {
  provider?: ProviderSpec;
  /** The path once it passed its checks. */
  path?: string;
  principal?: Principal;
}

export type RefusalRecorder = (req: Request, requestId: string, err: ArouterError, facts: RefusalFacts) => void;

/**
 * A refused request gets the access line a forwarded one gets from its snippet, so bad keys, limits and stored-object
 * refusals show in the log and metrics. Only what passed the checks is named (the provider when known, the key once
 * genuine, and then the path), never the query, and never a slug or path the checks refused.
 */
export function refusalRecorder(log: Logger, onRefused?: (provider: string, err: ArouterError) => void): RefusalRecorder {
  return (req, requestId, err, facts) => {
    const key = err instanceof KeyRefusedError ? err : undefined;
    // Client text (the path) is logged only for a genuine key's request: an anonymous client cannot write to the log.
    const genuine = facts.principal !== undefined || key !== undefined;
    log('info', 'request refused', {
      request_id: requestId,
      account_id: facts.principal?.accountId ?? key?.accountId,
      key_id: facts.principal?.keyId ?? key?.keyId,
      provider: facts.provider?.slug,
      method: req.method.slice(0, 16),
      path: genuine ? facts.path : undefined,
      status: err.status,
      error: err.code,
    });
    onRefused?.(facts.provider?.slug ?? '', err);
  };
}
