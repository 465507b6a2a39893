// The key-revocation subscription and its heartbeat: the key cache trusts old entries only while this feed is live.
import type Redis from 'ioredis';
import type { LogFields } from '../log.ts';

export interface RevocationTarget {
  invalidate(hash: string): void;
  setRevocationFeed(up: boolean): void;
}

export interface RevocationFeedOptions {
  channel: string;
  /** How often the subscription is asked whether it still answers. */
  beatMs: number;
  /** An unanswered ask this old means the link is silent: the feed is down and the connection is made again. */
  silentMs: number;
  log: (level: 'warn', msg: string, fields: LogFields) => void;
}

/**
 * Subscribes `subscriber` to revocations for `target`: up from a subscribe the server confirmed (again after every
 * reconnect) until the connection drops or stops answering. A link can go silent without ever closing (a network
 * partition, a NAT or load balancer dropping an idle connection, a frozen Redis), and a subscriber only listens, so
 * it would never notice: a PING every `beatMs` proves the link, and a revocation published since the last answer has
 * either arrived or the feed is marked down within `beatMs + silentMs`.
 */
export function watchRevocations(subscriber: Redis, target: RevocationTarget, o: RevocationFeedOptions): { stop(): void } {
  subscriber.on('message', (_channel: string, hash: string) => target.invalidate(hash));
  const subscribe = () =>
    subscriber.subscribe(o.channel).then(
      () => target.setRevocationFeed(true),
      () => o.log('warn', 'revocation subscription failed; relying on cache expiry', {}),
    );
  subscriber.on('close', () => target.setRevocationFeed(false));
  subscriber.on('ready', () => void subscribe());

  let asking = false;
  const silence = () => {
    if (subscriber.status !== 'ready') return; // already closing: 'close' took the feed down
    target.setRevocationFeed(false);
    o.log('warn', 'revocation subscription stopped answering; connecting again', { silent_ms: o.silentMs });
    // A reconnect subscribes again, and the feed is up once the server confirms it.
    subscriber.disconnect(true);
  };
  const beat = setInterval(() => {
    if (asking || subscriber.status !== 'ready') return;
    asking = true;
    const silent = setTimeout(silence, o.silentMs);
    subscriber
      .ping()
      // A PING that fails on an open connection (a command timeout the connection may carry) is silence too.
      .catch(silence)
      .finally(() => {
        clearTimeout(silent);
        asking = false;
      });
  }, o.beatMs);
  beat.unref();
  return { stop: () => clearInterval(beat) };
}
